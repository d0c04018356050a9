/**
 * Writes prepared events to Kafka and reports each one's position.
 *
 * - One idempotent producer with acks=all (record-producer.ts); an event is
 *   reported as written only after Kafka acknowledged it.
 * - Natural batching: publishes that arrive while `maxInFlightRequests`
 *   produce requests are in flight are merged into the next request (up to
 *   maxBatchEvents), so latency stays low at low rates and batches grow with
 *   the rate. The producer numbers each partition's records when a request
 *   is sent, so requests in flight keep the order in which they were sent.
 * - The record key is the channel and the partition is computed with Kafka's
 *   default partitioner, so the writer knows each event's offset
 *   (base offset of its partition batch + its index in it). Events are sent
 *   in the order they were accepted, so a channel's events keep their order.
 * - While Kafka is unreachable, writes fail fast with `kafka_unavailable`; a
 *   background probe brings the writer back with a fresh producer (a new
 *   producer id, so no stale sequence numbers survive a failure).
 * - An idle writer notices an outage too: when no produce request was
 *   answered for `probeIntervalMs` and none is in flight, it asks the
 *   cluster for the topic's metadata on the producer's connections; no answer
 *   within `probeTimeoutMs` counts as a failed produce (unavailable, until
 *   a fresh producer connects), so readiness follows the broker.
 * - Deadlines: an event whose deadline passes before it is sent is failed
 *   with `deadline_exceeded` and never sent. One whose deadline passes while
 *   its request is in flight is failed too, but may still be written: that
 *   is what idempotency keys are for.
 *
 * Costs are paid per publish where they can be: one promise, one timestamp,
 * one header map, one encoding of the envelope fields the events share and
 * one update of the in-flight gauge per `write` call, not per event.
 */
import { FanoutError, partitionForChannel, type Logger, type PositionValue } from '@fanout/shared';
import { encodeEnvelope, encodeEnvelopeTail, type EnvelopeTail } from './envelope-encoder.js';
import { IdempotencyWindow } from '../publishing/idempotency-window.js';
import type { IngestMetrics } from '../ingest-metrics.js';
import type { PreparedEvent } from '../publishing/event-validator.js';
import { encodeRecordHeaders, type EncodedHeaders } from './produce-request.js';
import type { PartitionOutcomes } from './produce-pipeline.js';
import type { OutgoingRecord, RecordProducer } from './record-producer.js';

export interface WriteContext {
  /** Authenticated producer identity, stored in the envelope and a record header. */
  readonly producer: string;
  /** Absolute deadline, epoch milliseconds. */
  readonly deadline: number;
  readonly traceparent?: string;
  readonly tracestate?: string;
}

export interface WrittenEvent {
  readonly id: string;
  readonly position: PositionValue;
  /** True when answered from the idempotency window (not written again). */
  readonly duplicate: boolean;
}

export interface EventWriterOptions {
  /** Connects a new idempotent producer (a new producer id on every call). */
  readonly connectProducer: () => Promise<RecordProducer>;
  readonly epoch: string;
  readonly partitions: number;
  readonly logger: Logger;
  readonly metrics: IngestMetrics;
  /** Most events in one produce request. */
  readonly maxBatchEvents: number;
  /** Most produce requests in flight at once (1–5; Kafka's idempotence keeps 5 per partition). */
  readonly maxInFlightRequests: number;
  /** Most events accepted and not yet acknowledged; more fail with rate_limited. */
  readonly maxInFlightEvents: number;
  readonly idempotencyWindowMs: number;
  readonly idempotencyMaxEntries: number;
  /** Delay between reconnection attempts while Kafka is unreachable (default 500 ms). */
  readonly recoveryIntervalMs?: number;
  /** Probe the cluster after this long without an answered produce request (default 2000 ms). */
  readonly probeIntervalMs?: number;
  /** How long a probe may take before the cluster counts as unreachable (default 2000 ms). */
  readonly probeTimeoutMs?: number;
}

/** What `writeEach` answers for one event: where it was written, or why not. */
export type WriteOutcome = WrittenEvent | FanoutError;

/**
 * One `write` or `writeEach` call: its answer, settled when every event of
 * it is. `write` fails with the error of its first failed event; `writeEach`
 * answers every event's own outcome.
 */
class WriteCall {
  readonly results: (WriteOutcome | undefined)[];
  private remaining: number;
  private failure: FanoutError | undefined;
  private failureIndex = Number.MAX_SAFE_INTEGER;
  private resolve!: (outcomes: WriteOutcome[]) => void;
  private reject!: (error: FanoutError) => void;
  readonly promise: Promise<WriteOutcome[]>;

  constructor(
    size: number,
    private readonly eachOutcome: boolean,
  ) {
    this.results = new Array<WriteOutcome | undefined>(size);
    this.remaining = size;
    this.promise = new Promise<WriteOutcome[]>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  succeed(index: number, written: WrittenEvent): void {
    this.results[index] = written;
    this.done();
  }

  fail(index: number, error: FanoutError): void {
    if (this.eachOutcome) this.results[index] = error;
    else if (index < this.failureIndex) {
      this.failure = error;
      this.failureIndex = index;
    }
    this.done();
  }

  private done(): void {
    if (--this.remaining > 0) return;
    if (this.failure !== undefined) this.reject(this.failure);
    else this.resolve(this.results as WriteOutcome[]);
  }
}

/** An event accepted and not yet answered. */
interface Pending {
  readonly call: WriteCall;
  readonly index: number;
  readonly id: string;
  readonly channel: string;
  readonly record: OutgoingRecord;
  readonly deadline: number;
  readonly acceptedAt: number;
  /** `channel\0id` when the producer chose the id (an idempotency key). */
  readonly idempotencyKey: string | undefined;
  /** Other publishes of the same idempotency key, answered with this one's outcome. */
  joined: ((outcome: PositionValue | FanoutError) => void)[] | undefined;
  settled: boolean;
}

/** Where a channel's records go: its partition and its key bytes. */
interface ChannelRoute {
  readonly partition: number;
  readonly key: Buffer;
}

const defaultRecoveryIntervalMs = 500;
const defaultProbeIntervalMs = 2000;
const defaultProbeTimeoutMs = 2000;
/** Most channels whose route is cached; the cache starts over when full. */
const routeCacheSize = 50_000;

export class EventWriter {
  private producer: RecordProducer | undefined;
  private queue: Pending[] = [];
  /** Index of the first queued event not yet taken into a request. */
  private queueHead = 0;
  /** Produce requests sent and not yet answered. */
  private requestsInFlight = 0;
  private flushScheduled = false;
  private available = false;
  private stopping = false;
  private inFlight = 0;
  private recovery: NodeJS.Timeout | undefined;
  private recovering = false;
  private probeTimer: NodeJS.Timeout | undefined;
  private probing = false;
  /** When Kafka last answered a produce request or a probe (epoch milliseconds). */
  private answeredAt = 0;
  private readonly idempotency: IdempotencyWindow;
  /** Writes of producer-chosen ids that are on their way, joined by retries. */
  private readonly pendingIds = new Map<string, Pending>();
  private readonly routes = new Map<string, ChannelRoute>();
  /** Next index of each partition within the request being settled. */
  private readonly partitionIndex: number[];

  constructor(private readonly options: EventWriterOptions) {
    this.idempotency = new IdempotencyWindow(
      options.idempotencyWindowMs,
      options.idempotencyMaxEntries,
    );
    this.partitionIndex = new Array<number>(options.partitions).fill(0);
  }

  get isAvailable(): boolean {
    return this.available && !this.stopping;
  }

  get epoch(): string {
    return this.options.epoch;
  }

  async start(): Promise<void> {
    this.producer = await this.options.connectProducer();
    this.answeredAt = Date.now();
    this.setAvailable(true);
    const interval = this.options.probeIntervalMs ?? defaultProbeIntervalMs;
    this.probeTimer = setInterval(() => {
      void this.probe(interval);
    }, interval);
    this.probeTimer.unref();
  }

  /** Probes the cluster when the producer has been idle for `idleMs`; see the module comment. */
  private async probe(idleMs: number): Promise<void> {
    const producer = this.producer;
    if (
      this.probing ||
      this.stopping ||
      !this.available ||
      producer === undefined ||
      this.requestsInFlight > 0 ||
      Date.now() - this.answeredAt < idleMs
    ) {
      return;
    }
    this.probing = true;
    const timeoutMs = this.options.probeTimeoutMs ?? defaultProbeTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        producer.probe(),
        new Promise<never>((_resolve, reject) => {
          timer = setTimeout(() => {
            reject(new Error(`no answer from Kafka within ${timeoutMs} ms`));
          }, timeoutMs);
        }),
      ]);
      this.answeredAt = Date.now();
      this.options.metrics.kafkaProbes.inc({ outcome: 'ok' });
    } catch (error) {
      this.options.metrics.kafkaProbes.inc({ outcome: 'failed' });
      this.options.logger.warn({ err: error }, 'Kafka did not answer the readiness probe');
      this.onProduceFailure(producer);
    } finally {
      clearTimeout(timer);
      this.probing = false;
    }
  }

  private setAvailable(available: boolean): void {
    if (this.available === available) return;
    this.available = available;
    this.options.metrics.kafkaConnected.set(available ? 1 : 0);
    if (available) this.options.logger.info('Kafka reachable; accepting publishes');
    else this.options.logger.warn('Kafka unreachable; publishes fail fast until it is back');
  }

  /**
   * Writes a validated batch; resolves when every event is acknowledged and
   * fails with the first failed event's error when one is not.
   */
  write(events: readonly PreparedEvent[], context: WriteContext): Promise<WrittenEvent[]> {
    // Without each-outcome answers the call resolves only when no event failed.
    return this.enqueue(events, context, false) as Promise<WrittenEvent[]>;
  }

  /**
   * Writes events that are independent of each other (a PublishStream's):
   * resolves, once every event is settled, with each event's position or
   * error. Fails as a whole only when nothing was accepted (draining, Kafka
   * unavailable, too many events in flight).
   */
  writeEach(events: readonly PreparedEvent[], context: WriteContext): Promise<WriteOutcome[]> {
    return this.enqueue(events, context, true);
  }

  private enqueue(
    events: readonly PreparedEvent[],
    context: WriteContext,
    eachOutcome: boolean,
  ): Promise<WriteOutcome[]> {
    if (this.stopping) return Promise.reject(new FanoutError('draining'));
    if (!this.available) return Promise.reject(new FanoutError('kafka_unavailable'));
    if (this.inFlight + events.length > this.options.maxInFlightEvents) {
      return Promise.reject(
        new FanoutError(
          'rate_limited',
          `ingest has ${this.inFlight} events in flight (limit ${this.options.maxInFlightEvents}); retry shortly`,
          { details: { retryAfterMs: 100 } },
        ),
      );
    }
    if (events.length === 0) return Promise.resolve([]);
    const call = new WriteCall(events.length, eachOutcome);
    const acceptedAt = Date.now();
    let headers: EncodedHeaders | undefined;
    let tail: EnvelopeTail | undefined;
    let queued = 0;
    let index = -1;
    for (const event of events) {
      index++;
      let idempotencyKey: string | undefined;
      if (event.idFromPublisher) {
        if (this.answerDuplicate(call, index, event)) continue;
        idempotencyKey = `${event.channel}\u0000${event.id}`;
      }
      headers ??= recordHeaders(context);
      tail ??= encodeEnvelopeTail(
        acceptedAt,
        context.producer,
        context.traceparent,
        context.tracestate,
      );
      const route = this.route(event.channel);
      const pending: Pending = {
        call,
        index,
        id: event.id,
        channel: event.channel,
        record: {
          key: route.key,
          value: encodeEnvelope(event, route.key, tail),
          partition: route.partition,
          timestamp: acceptedAt,
          headers,
        },
        deadline: context.deadline,
        acceptedAt,
        idempotencyKey,
        joined: undefined,
        settled: false,
      };
      if (idempotencyKey !== undefined) this.pendingIds.set(idempotencyKey, pending);
      this.queue.push(pending);
      queued++;
    }
    if (queued > 0) {
      this.inFlight += queued;
      this.options.metrics.inFlight.inc(queued);
      this.scheduleFlush();
    }
    return call.promise;
  }

  /** Answers an event whose id is remembered or on its way; false when it must be written. */
  private answerDuplicate(call: WriteCall, index: number, event: PreparedEvent): boolean {
    const known = this.idempotency.lookup(event.channel, event.id);
    if (known !== undefined) {
      this.options.metrics.duplicates.inc();
      call.succeed(index, { id: event.id, position: known, duplicate: true });
      return true;
    }
    const onTheWay = this.pendingIds.get(`${event.channel}\u0000${event.id}`);
    if (onTheWay === undefined) return false;
    this.options.metrics.duplicates.inc();
    (onTheWay.joined ??= []).push((outcome) => {
      if (outcome instanceof FanoutError) call.fail(index, outcome);
      else call.succeed(index, { id: event.id, position: outcome, duplicate: true });
    });
    return true;
  }

  /** The channel's partition (Kafka's default partitioner) and key bytes, cached. */
  private route(channel: string): ChannelRoute {
    let route = this.routes.get(channel);
    if (route === undefined) {
      if (this.routes.size >= routeCacheSize) this.routes.clear();
      route = {
        partition: partitionForChannel(channel, this.options.partitions),
        key: Buffer.from(channel, 'utf8'),
      };
      this.routes.set(channel, route);
    }
    return route;
  }

  private settle(item: Pending, outcome: PositionValue | FanoutError, now: number): void {
    if (item.settled) return;
    item.settled = true;
    this.inFlight--;
    if (item.idempotencyKey !== undefined) {
      if (!(outcome instanceof FanoutError)) {
        this.idempotency.remember(item.channel, item.id, outcome);
      }
      this.pendingIds.delete(item.idempotencyKey);
    }
    if (outcome instanceof FanoutError) item.call.fail(item.index, outcome);
    else {
      this.options.metrics.ackLatency.observe((now - item.acceptedAt) / 1000);
      item.call.succeed(item.index, { id: item.id, position: outcome, duplicate: false });
    }
    if (item.joined !== undefined) for (const join of item.joined) join(outcome);
  }

  /** Settles several events with one update of the in-flight gauge. */
  private settleAll(
    items: readonly Pending[],
    outcome: (item: Pending) => PositionValue | FanoutError,
  ): void {
    const before = this.inFlight;
    const now = Date.now();
    for (const item of items) this.settle(item, outcome(item), now);
    this.options.metrics.inFlight.dec(before - this.inFlight);
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.requestsInFlight >= this.options.maxInFlightRequests) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private get queued(): number {
    return this.queue.length - this.queueHead;
  }

  /** Removes and returns every queued event. */
  private takeAll(): Pending[] {
    const rest = this.queue.slice(this.queueHead);
    this.queue = [];
    this.queueHead = 0;
    return rest;
  }

  /** Takes the next request's events off the queue; fails those past their deadline. */
  private takeBatch(): Pending[] {
    const now = Date.now();
    const batch: Pending[] = [];
    const expired: Pending[] = [];
    const queue = this.queue;
    let head = this.queueHead;
    while (batch.length < this.options.maxBatchEvents && head < queue.length) {
      const item = queue[head++];
      if (item === undefined || item.settled) continue;
      if (item.deadline <= now) expired.push(item);
      else batch.push(item);
    }
    if (head >= queue.length) {
      this.queue = [];
      this.queueHead = 0;
    } else if (head > 4096 && head * 2 > queue.length) {
      this.queue = queue.slice(head);
      this.queueHead = 0;
    } else {
      this.queueHead = head;
    }
    if (expired.length > 0) {
      const error = new FanoutError(
        'deadline_exceeded',
        'deadline passed before the event was sent; it was not written',
      );
      this.settleAll(expired, () => error);
    }
    return batch;
  }

  /** Sends queued events in as many requests as may be in flight. */
  private flush(): void {
    while (this.queued > 0 && this.requestsInFlight < this.options.maxInFlightRequests) {
      const batch = this.takeBatch();
      if (batch.length === 0) continue;
      this.requestsInFlight++;
      void this.send(batch).finally(() => {
        this.requestsInFlight--;
        if (this.queued > 0) this.scheduleFlush();
      });
    }
  }

  private async send(batch: Pending[]): Promise<void> {
    const producer = this.producer;
    if (producer === undefined || !this.available) {
      const error = new FanoutError('kafka_unavailable');
      this.settleAll(batch, () => error);
      return;
    }
    this.options.metrics.kafkaBatchEvents.observe(batch.length);
    let earliest = Number.MAX_SAFE_INTEGER;
    const records: OutgoingRecord[] = [];
    for (const item of batch) {
      records.push(item.record);
      if (item.deadline < earliest) earliest = item.deadline;
    }
    let deadlineTimer: NodeJS.Timeout | undefined;
    const expire = (): void => {
      const now = Date.now();
      const late = batch.filter((item) => !item.settled && item.deadline <= now);
      if (late.length > 0) {
        const error = new FanoutError(
          'deadline_exceeded',
          'deadline passed while Kafka had not acknowledged the event; it may or may not be written (retry with the same id)',
        );
        this.settleAll(late, () => error);
      }
      // Timers may fire a little before Date.now() reaches the deadline, and
      // later events have later deadlines: wait for the next one.
      let next = Number.MAX_SAFE_INTEGER;
      for (const item of batch) {
        if (!item.settled && item.deadline < next) next = item.deadline;
      }
      deadlineTimer =
        next === Number.MAX_SAFE_INTEGER
          ? undefined
          : setTimeout(expire, Math.max(1, next - Date.now()));
    };
    deadlineTimer = setTimeout(expire, Math.max(0, earliest - Date.now()));
    let outcomes: PartitionOutcomes;
    try {
      outcomes = await producer.send(records);
      this.answeredAt = Date.now();
    } catch (error) {
      outcomes = new Map(
        records.map((record) => [
          record.partition,
          error instanceof Error ? error : new Error(String(error)),
        ]),
      );
    } finally {
      clearTimeout(deadlineTimer);
    }
    if (this.acknowledge(batch, outcomes)) this.onProduceFailure(producer);
  }

  /**
   * Gives every event of the request its position, or the error of its
   * partition; true when a partition failed.
   */
  private acknowledge(batch: readonly Pending[], outcomes: PartitionOutcomes): boolean {
    const nextIndex = this.partitionIndex;
    nextIndex.fill(0);
    const epoch = this.options.epoch;
    const failures = new Map<number, FanoutError>();
    for (const [partition, outcome] of outcomes) {
      if (typeof outcome === 'number') continue;
      this.options.logger.warn({ err: outcome, partition }, 'produce failed');
      failures.set(
        partition,
        new FanoutError(
          'kafka_unavailable',
          'Kafka did not acknowledge the event; it may or may not be written (retry with the same id)',
          { cause: outcome },
        ),
      );
    }
    this.settleAll(batch, (item) => {
      const partition = item.record.partition;
      const outcome = outcomes.get(partition);
      const index = nextIndex[partition] ?? 0;
      nextIndex[partition] = index + 1;
      if (typeof outcome === 'number') return { epoch, partition, offset: outcome + index };
      return (
        failures.get(partition) ??
        new FanoutError('internal', `no acknowledgement for partition ${partition}`)
      );
    });
    return failures.size > 0 || outcomes.size === 0;
  }

  /**
   * A produce request failed: refuse publishes, drop the producer (its
   * sequence numbers may no longer match Kafka's), fail what waits, and
   * probe for Kafka with fresh producers.
   */
  private onProduceFailure(failed: RecordProducer): void {
    // Requests in flight of a producer already replaced fail on their own.
    if (this.stopping || this.producer !== failed) return;
    this.setAvailable(false);
    this.producer = undefined;
    void failed.close().catch(() => {});
    const error = new FanoutError('kafka_unavailable');
    this.settleAll(this.takeAll(), () => error);
    this.recovery ??= setInterval(() => {
      void this.tryRecover();
    }, this.options.recoveryIntervalMs ?? defaultRecoveryIntervalMs);
  }

  private async tryRecover(): Promise<void> {
    if (this.recovering || this.stopping) return;
    this.recovering = true;
    try {
      const producer = await this.options.connectProducer();
      // stop() may have run while we were connecting.
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition
      if (this.stopping) {
        await producer.close().catch(() => {});
        return;
      }
      this.producer = producer;
      this.answeredAt = Date.now();
      clearInterval(this.recovery);
      this.recovery = undefined;
      this.setAvailable(true);
    } catch (error) {
      this.options.logger.debug({ err: error }, 'Kafka still unreachable');
    } finally {
      this.recovering = false;
    }
  }

  /** Stops accepting, waits for in-flight events (up to timeoutMs), fails the rest, disconnects. */
  async stop(timeoutMs: number): Promise<void> {
    this.stopping = true;
    clearInterval(this.recovery);
    clearInterval(this.probeTimer);
    this.recovery = undefined;
    const deadline = Date.now() + timeoutMs;
    while ((this.queued > 0 || this.requestsInFlight > 0) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const error = new FanoutError('draining');
    this.settleAll(this.takeAll(), () => error);
    const producer = this.producer;
    this.producer = undefined;
    await producer?.close().catch(() => {});
  }
}

/** The headers every record of one publish carries, encoded once. */
function recordHeaders(context: WriteContext): EncodedHeaders {
  const headers: [string, string][] = [['fanout-producer', context.producer]];
  if (context.traceparent) headers.push(['traceparent', context.traceparent]);
  if (context.tracestate) headers.push(['tracestate', context.tracestate]);
  return encodeRecordHeaders(headers);
}
