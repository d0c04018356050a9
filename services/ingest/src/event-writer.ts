/**
 * Writes prepared events to Kafka and reports each one's position.
 *
 * - One idempotent kafkajs producer with acks=all; an event is reported as
 *   written only after Kafka acknowledged it.
 * - Natural batching: publishes that arrive while a produce request is in
 *   flight are merged into the next request (up to maxBatchEvents), so
 *   latency stays low at low rates and batches grow with the rate.
 * - The record key is the channel and the partition is computed with Kafka's
 *   default partitioner, so the writer knows each event's offset
 *   (base offset of its partition batch + its index in it).
 * - While Kafka is unreachable, writes fail fast with `kafka_unavailable`; a
 *   background probe brings the writer back with a fresh producer (a new
 *   producer id, so no stale sequence numbers survive a failure).
 * - Deadlines: an event whose deadline passes before it is sent is failed
 *   with `deadline_exceeded` and never sent. One whose deadline passes while
 *   its request is in flight is failed too, but may still be written: that
 *   is what idempotency keys are for.
 */
import {
  FanoutError,
  encodeEvent,
  partitionForChannel,
  type Logger,
  type PositionValue,
} from '@fanout/shared';
import { CompressionTypes, type Kafka, type Message, type Producer } from 'kafkajs';
import { IdempotencyWindow } from './idempotency-window.js';
import type { IngestMetrics } from './ingest-metrics.js';
import type { PreparedEvent } from './event-validator.js';

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
  readonly kafka: Kafka;
  readonly topic: string;
  readonly epoch: string;
  readonly partitions: number;
  readonly logger: Logger;
  readonly metrics: IngestMetrics;
  readonly compression: 'none' | 'gzip';
  /** Most events in one produce request. */
  readonly maxBatchEvents: number;
  /** Most events accepted and not yet acknowledged; more fail with rate_limited. */
  readonly maxInFlightEvents: number;
  readonly idempotencyWindowMs: number;
  readonly idempotencyMaxEntries: number;
  /** Broker-side ack timeout of a produce request. */
  readonly ackTimeoutMs: number;
}

interface Pending {
  readonly event: PreparedEvent;
  readonly context: WriteContext;
  readonly message: Message;
  readonly partition: number;
  readonly acceptedAt: number;
  settled: boolean;
  resolve(position: PositionValue): void;
  reject(error: FanoutError): void;
}

const recoveryIntervalMs = 500;

export class EventWriter {
  private producer: Producer | undefined;
  private available = false;
  private stopping = false;
  private queue: Pending[] = [];
  private sending = false;
  private flushScheduled = false;
  private inFlight = 0;
  private recovery: NodeJS.Timeout | undefined;
  private readonly idempotency: IdempotencyWindow;
  /** Writes of producer-chosen ids that are on their way, joined by retries. */
  private readonly pendingIds = new Map<string, Promise<PositionValue>>();

  constructor(private readonly options: EventWriterOptions) {
    this.idempotency = new IdempotencyWindow(
      options.idempotencyWindowMs,
      options.idempotencyMaxEntries,
    );
  }

  get isAvailable(): boolean {
    return this.available && !this.stopping;
  }

  get epoch(): string {
    return this.options.epoch;
  }

  async start(): Promise<void> {
    this.producer = await this.connectProducer();
    this.setAvailable(true);
  }

  private async connectProducer(): Promise<Producer> {
    const producer = this.options.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 1000 },
    });
    await producer.connect();
    return producer;
  }

  private setAvailable(available: boolean): void {
    if (this.available === available) return;
    this.available = available;
    this.options.metrics.kafkaConnected.set(available ? 1 : 0);
    if (available) this.options.logger.info('Kafka reachable; accepting publishes');
    else this.options.logger.warn('Kafka unreachable; publishes fail fast until it is back');
  }

  /** Writes a validated batch; resolves when every event is acknowledged. */
  async write(events: readonly PreparedEvent[], context: WriteContext): Promise<WrittenEvent[]> {
    if (this.stopping) throw new FanoutError('draining');
    if (!this.available) throw new FanoutError('kafka_unavailable');
    if (this.inFlight + events.length > this.options.maxInFlightEvents) {
      throw new FanoutError(
        'rate_limited',
        `ingest has ${this.inFlight} events in flight (limit ${this.options.maxInFlightEvents}); retry shortly`,
        { details: { retryAfterMs: 100 } },
      );
    }
    const results = events.map((event) => this.writeOne(event, context));
    const settled = await Promise.allSettled(results);
    const failure = settled.find((result) => result.status === 'rejected');
    if (failure !== undefined) throw failure.reason;
    return settled.map((result) => (result as PromiseFulfilledResult<WrittenEvent>).value);
  }

  private async writeOne(event: PreparedEvent, context: WriteContext): Promise<WrittenEvent> {
    if (!event.producerId) {
      return { id: event.id, position: await this.enqueue(event, context), duplicate: false };
    }
    const known = this.idempotency.lookup(event.channel, event.id);
    if (known !== undefined) {
      this.options.metrics.duplicates.inc();
      return { id: event.id, position: known, duplicate: true };
    }
    const key = `${event.channel}\u0000${event.id}`;
    const onTheWay = this.pendingIds.get(key);
    if (onTheWay !== undefined) {
      this.options.metrics.duplicates.inc();
      return { id: event.id, position: await onTheWay, duplicate: true };
    }
    const written = this.enqueue(event, context);
    this.pendingIds.set(key, written);
    try {
      const position = await written;
      this.idempotency.remember(event.channel, event.id, position);
      return { id: event.id, position, duplicate: false };
    } finally {
      this.pendingIds.delete(key);
    }
  }

  private enqueue(event: PreparedEvent, context: WriteContext): Promise<PositionValue> {
    const acceptedAt = Date.now();
    const headers: Record<string, string> = { 'fanout-producer': context.producer };
    if (context.traceparent) headers['traceparent'] = context.traceparent;
    if (context.tracestate) headers['tracestate'] = context.tracestate;
    const value = encodeEvent({
      id: event.id,
      channel: event.channel,
      type: event.type,
      data: event.data,
      contentType: event.contentType,
      time: { seconds: Math.floor(acceptedAt / 1000), nanos: (acceptedAt % 1000) * 1_000_000 },
      headers: event.headers,
      ...(context.traceparent
        ? { trace: { traceparent: context.traceparent, tracestate: context.tracestate ?? '' } }
        : {}),
      producer: context.producer,
    });
    const partition = partitionForChannel(event.channel, this.options.partitions);
    this.inFlight++;
    this.options.metrics.inFlight.inc();
    return new Promise<PositionValue>((resolve, reject) => {
      this.queue.push({
        event,
        context,
        partition,
        acceptedAt,
        settled: false,
        message: {
          key: event.channel,
          value: Buffer.from(value.buffer, value.byteOffset, value.byteLength),
          partition,
          timestamp: String(acceptedAt),
          headers,
        },
        resolve,
        reject,
      });
      this.scheduleFlush();
    });
  }

  private settle(item: Pending, outcome: PositionValue | FanoutError): void {
    if (item.settled) return;
    item.settled = true;
    this.inFlight--;
    this.options.metrics.inFlight.dec();
    if (outcome instanceof FanoutError) item.reject(outcome);
    else {
      this.options.metrics.ackLatency.observe((Date.now() - item.acceptedAt) / 1000);
      item.resolve(outcome);
    }
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.sending) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    if (this.sending || this.queue.length === 0) return;
    this.sending = true;
    try {
      const now = Date.now();
      const batch: Pending[] = [];
      while (batch.length < this.options.maxBatchEvents && this.queue.length > 0) {
        const item = this.queue.shift();
        if (item === undefined) break;
        if (item.settled) continue;
        if (item.context.deadline <= now) {
          this.settle(
            item,
            new FanoutError(
              'deadline_exceeded',
              'deadline passed before the event was sent; it was not written',
            ),
          );
          continue;
        }
        batch.push(item);
      }
      if (batch.length > 0) await this.send(batch);
    } finally {
      this.sending = false;
      if (this.queue.length > 0) this.scheduleFlush();
    }
  }

  private async send(batch: Pending[]): Promise<void> {
    const producer = this.producer;
    if (producer === undefined || !this.available) {
      for (const item of batch) this.settle(item, new FanoutError('kafka_unavailable'));
      return;
    }
    this.options.metrics.kafkaBatchEvents.observe(batch.length);
    const latest = Math.max(...batch.map((item) => item.context.deadline));
    const deadlineTimer = setTimeout(
      () => {
        const now = Date.now();
        for (const item of batch) {
          if (item.context.deadline <= now) {
            this.settle(
              item,
              new FanoutError(
                'deadline_exceeded',
                'deadline passed while Kafka had not acknowledged the event; it may or may not be written (retry with the same id)',
              ),
            );
          }
        }
      },
      Math.max(0, Math.min(...batch.map((item) => item.context.deadline)) - Date.now()),
    );
    try {
      const metadata = await producer.send({
        topic: this.options.topic,
        acks: -1,
        timeout: Math.max(1000, Math.min(this.options.ackTimeoutMs, latest - Date.now())),
        compression:
          this.options.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None,
        messages: batch.map((item) => item.message),
      });
      const baseOffsets = new Map<number, number>();
      for (const record of metadata) {
        if (record.errorCode !== 0 || record.baseOffset === undefined) {
          throw new Error(`partition ${record.partition} failed with error ${record.errorCode}`);
        }
        baseOffsets.set(record.partition, Number(record.baseOffset));
      }
      const nextIndex = new Map<number, number>();
      for (const item of batch) {
        const base = baseOffsets.get(item.partition);
        const index = nextIndex.get(item.partition) ?? 0;
        nextIndex.set(item.partition, index + 1);
        if (base === undefined) {
          this.settle(
            item,
            new FanoutError('internal', `no acknowledgement for partition ${item.partition}`),
          );
          continue;
        }
        this.settle(item, {
          epoch: this.options.epoch,
          partition: item.partition,
          offset: base + index,
        });
      }
    } catch (error) {
      this.options.logger.warn({ err: error, events: batch.length }, 'produce failed');
      for (const item of batch) {
        this.settle(
          item,
          new FanoutError(
            'kafka_unavailable',
            'Kafka did not acknowledge the event; it may or may not be written (retry with the same id)',
            { cause: error },
          ),
        );
      }
      this.onProduceFailure();
    } finally {
      clearTimeout(deadlineTimer);
    }
  }

  private onProduceFailure(): void {
    if (this.stopping) return;
    this.setAvailable(false);
    const failed = this.producer;
    this.producer = undefined;
    void failed?.disconnect().catch(() => {});
    for (const item of this.queue.splice(0))
      this.settle(item, new FanoutError('kafka_unavailable'));
    this.recovery ??= setInterval(() => {
      void this.tryRecover();
    }, recoveryIntervalMs);
  }

  private recovering = false;

  private async tryRecover(): Promise<void> {
    if (this.recovering || this.stopping) return;
    this.recovering = true;
    try {
      const producer = await this.connectProducer();
      // stop() may have run while we were connecting.
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition
      if (this.stopping) {
        await producer.disconnect();
        return;
      }
      this.producer = producer;
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
    const deadline = Date.now() + timeoutMs;
    while ((this.queue.length > 0 || this.sending) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    for (const item of this.queue.splice(0)) this.settle(item, new FanoutError('draining'));
    await this.producer?.disconnect().catch(() => {});
    this.producer = undefined;
  }
}
