import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, it } from 'node:test';
import {
  createLogger,
  decodeEvent,
  isFanoutError,
  partitionForChannel,
  type FanoutError,
  type PositionValue,
} from '@fanout/shared';
import { Registry } from 'prom-client';
import { prepareEvent, type PreparedEvent } from '../publishing/event-validator.js';
import { EventWriter, type WriteContext } from './event-writer.js';
import { createIngestMetrics } from '../ingest-metrics.js';
import type { PartitionOutcomes } from './produce-pipeline.js';
import { encodeRecordHeaders } from './produce-request.js';
import type { OutgoingRecord, RecordProducer } from './record-producer.js';

const partitions = 4;
const limits = { maxEventBytes: 1 << 20, maxBatchEvents: 1000, allowedContentTypes: ['*'] };

function event(channel: string, id = '', data = 'x'): PreparedEvent {
  return prepareEvent(
    { channel, id, data: new TextEncoder().encode(data), contentType: 'text/plain' },
    limits,
    'event',
  );
}

interface SentRequest {
  readonly records: readonly OutgoingRecord[];
  /** Acknowledges the request: every partition's records get the next offsets of its log. */
  ack(): void;
  fail(error?: Error): void;
  /** Acknowledges the partitions but `failed`, which get an error. */
  ackExcept(failed: number): void;
}

/** A producer whose requests the test answers; it keeps a log per partition. */
class FakeProducer implements RecordProducer {
  readonly requests: SentRequest[] = [];
  closed = false;
  inFlight = 0;
  maxInFlight = 0;

  constructor(
    readonly id: number,
    private readonly logs: number[],
  ) {}

  send(records: readonly OutgoingRecord[]): Promise<PartitionOutcomes> {
    if (this.closed) return Promise.reject(new Error('closed'));
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    return new Promise((resolve, reject) => {
      const answer = (failed: number): void => {
        this.inFlight--;
        const outcomes = new Map<number, number | Error>();
        for (const record of records) {
          if (record.partition === failed) {
            outcomes.set(failed, new Error('not enough replicas'));
            continue;
          }
          const offset = this.logs[record.partition] ?? 0;
          if (!outcomes.has(record.partition)) outcomes.set(record.partition, offset);
          this.logs[record.partition] = offset + 1;
        }
        resolve(outcomes);
      };
      this.requests.push({
        records: [...records],
        ack: () => {
          answer(-1);
        },
        ackExcept: answer,
        fail: (error = new Error('broker gone')) => {
          this.inFlight--;
          reject(error);
        },
      });
    });
  }

  /** How the next probes are answered: `hang` never answers. */
  probeAnswer: 'ok' | 'fail' | 'hang' = 'ok';
  probes = 0;

  probe(): Promise<void> {
    this.probes++;
    if (this.probeAnswer === 'ok') return Promise.resolve();
    if (this.probeAnswer === 'fail') return Promise.reject(new Error('connection refused'));
    return new Promise(() => {});
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

class Harness {
  readonly producers: FakeProducer[] = [];
  readonly logs = new Array<number>(partitions).fill(0);
  readonly registry = new Registry();
  /** When false, connecting a producer fails (Kafka is down). */
  reachable = true;
  readonly writer: EventWriter;

  constructor(
    options: {
      maxBatchEvents?: number;
      maxInFlightEvents?: number;
      maxInFlightRequests?: number;
      probeIntervalMs?: number;
      probeTimeoutMs?: number;
    } = {},
  ) {
    this.writer = new EventWriter({
      connectProducer: () => {
        if (!this.reachable) return Promise.reject(new Error('connection refused'));
        const producer = new FakeProducer(this.producers.length, this.logs);
        this.producers.push(producer);
        return Promise.resolve(producer);
      },
      epoch: 'EPOCH',
      partitions,
      logger: createLogger({ service: 'test', level: 'silent' }),
      metrics: createIngestMetrics(this.registry),
      maxBatchEvents: options.maxBatchEvents ?? 1000,
      maxInFlightRequests: options.maxInFlightRequests ?? 1,
      maxInFlightEvents: options.maxInFlightEvents ?? 10_000,
      idempotencyWindowMs: 60_000,
      idempotencyMaxEntries: 1000,
      recoveryIntervalMs: 5,
      probeIntervalMs: options.probeIntervalMs ?? 60_000,
      probeTimeoutMs: options.probeTimeoutMs ?? 60_000,
    });
  }

  get producer(): FakeProducer {
    const producer = this.producers[this.producers.length - 1];
    assert.ok(producer, 'a producer was connected');
    return producer;
  }

  private readonly taken = new Map<FakeProducer, number>();

  /** The current producer's next request not yet taken (waits for the writer's flush). */
  async nextRequest(): Promise<SentRequest> {
    const producer = this.producer;
    const index = this.taken.get(producer) ?? 0;
    for (let turn = 0; turn < 100 && producer.requests.length <= index; turn++) await nextTurn();
    const request = producer.requests[index];
    assert.ok(request, 'a produce request was sent');
    this.taken.set(producer, index + 1);
    return request;
  }
}

const context = (overrides: Partial<WriteContext> = {}): WriteContext => ({
  producer: 'billing',
  deadline: Date.now() + 10_000,
  ...overrides,
});

async function rejection(promise: Promise<unknown>): Promise<FanoutError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(isFanoutError(error), `a FanoutError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected a rejection');
}

describe('event writer', () => {
  it('reports base offset plus index per partition, in publish order', async () => {
    const h = new Harness();
    await h.writer.start();
    h.logs[partitionForChannel('a', partitions)] = 40;
    const events = ['a', 'b', 'a', 'c', 'b', 'a'].map((channel) => event(channel));
    const written = h.writer.write(events, context());
    const request = await h.nextRequest();
    assert.deepEqual(
      request.records.map((record) => record.key.toString()),
      ['a', 'b', 'a', 'c', 'b', 'a'],
    );
    request.ack();
    const results = await written;
    const next = new Map<number, number>([[partitionForChannel('a', partitions), 40]]);
    results.forEach((result, index) => {
      const partition = partitionForChannel(events[index]?.channel ?? '', partitions);
      const offset = next.get(partition) ?? 0;
      next.set(partition, offset + 1);
      assert.equal(result.id, events[index]?.id);
      assert.equal(result.duplicate, false);
      assert.deepEqual(result.position, { epoch: 'EPOCH', partition, offset });
    });
  });

  it('writes the envelope, key, partition, timestamp and headers of each record', async () => {
    const h = new Harness();
    await h.writer.start();
    const before = Date.now();
    const written = h.writer.write(
      [event('orders.eu', 'order-1', 'hello')],
      context({
        traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
        tracestate: 'vendor=x',
      }),
    );
    const request = await h.nextRequest();
    const record = request.records[0];
    assert.ok(record);
    assert.equal(record.key.toString(), 'orders.eu');
    assert.equal(record.partition, partitionForChannel('orders.eu', partitions));
    assert.ok(record.timestamp >= before);
    assert.deepEqual(
      record.headers,
      encodeRecordHeaders([
        ['fanout-producer', 'billing'],
        ['traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'],
        ['tracestate', 'vendor=x'],
      ]),
    );
    const envelope = decodeEvent(record.value);
    assert.equal(envelope.id, 'order-1');
    assert.equal(envelope.channel, 'orders.eu');
    assert.equal(new TextDecoder().decode(envelope.data), 'hello');
    assert.equal(envelope.contentType, 'text/plain');
    assert.equal(envelope.producer, 'billing');
    assert.equal(envelope.trace?.tracestate, 'vendor=x');
    assert.equal(Number(envelope.time?.seconds), Math.floor(record.timestamp / 1000));
    request.ack();
    await written;
  });

  it('merges publishes that arrive while a request is in flight, one request at a time', async () => {
    const h = new Harness({ maxBatchEvents: 3 });
    await h.writer.start();
    const first = h.writer.write([event('a')], context());
    const inFlight = await h.nextRequest();
    assert.equal(inFlight.records.length, 1);
    const later = [
      h.writer.write([event('b'), event('c')], context()),
      h.writer.write([event('d'), event('e')], context()),
    ];
    await nextTurn();
    await nextTurn();
    assert.equal(h.producer.requests.length, 1, 'nothing is sent while a request is in flight');
    const next = h.nextRequest();
    inFlight.ack();
    const merged = await next;
    assert.deepEqual(
      merged.records.map((record) => record.key.toString()),
      ['b', 'c', 'd'],
      'the next request takes queued events in order, up to maxBatchEvents',
    );
    const last = h.nextRequest();
    merged.ack();
    (await last).ack();
    await Promise.all([first, ...later]);
    assert.equal(h.producer.maxInFlight, 1);
  });

  it('keeps up to maxInFlightRequests requests in flight, sent in order', async () => {
    const h = new Harness({ maxBatchEvents: 2, maxInFlightRequests: 2 });
    await h.writer.start();
    const writes = [
      h.writer.write([event('a'), event('b')], context()),
      h.writer.write([event('c'), event('d')], context()),
      h.writer.write([event('e')], context()),
    ];
    const first = await h.nextRequest();
    const second = await h.nextRequest();
    await nextTurn();
    await nextTurn();
    assert.equal(h.producer.requests.length, 2, 'a third request waits for a free slot');
    assert.deepEqual(
      [...first.records, ...second.records].map((record) => record.key.toString()),
      ['a', 'b', 'c', 'd'],
    );
    const third = h.nextRequest();
    first.ack();
    const last = await third;
    assert.deepEqual(
      last.records.map((record) => record.key.toString()),
      ['e'],
    );
    second.ack();
    last.ack();
    await Promise.all(writes);
    assert.equal(h.producer.maxInFlight, 2);
    await h.writer.stop(100);
  });

  it('answers the partitions Kafka wrote and fails only the one it did not', async () => {
    const h = new Harness({ maxInFlightRequests: 2 });
    await h.writer.start();
    const original = h.producer;
    const channels = ['a', 'b', 'c', 'd', 'e', 'f'];
    const failing = partitionForChannel('a', partitions);
    const writes = channels.map((channel) => h.writer.write([event(channel)], context()));
    const request = await h.nextRequest();
    assert.equal(request.records.length, channels.length);
    request.ackExcept(failing);
    const outcomes = await Promise.allSettled(writes);
    channels.forEach((channel, index) => {
      const outcome = outcomes[index];
      if (partitionForChannel(channel, partitions) === failing) {
        assert.equal(outcome?.status, 'rejected', `${channel} is on the failed partition`);
        assert.equal(isFanoutError(outcome.reason) && outcome.reason.code, 'kafka_unavailable');
      } else {
        assert.equal(outcome?.status, 'fulfilled', `${channel} was written`);
      }
    });
    assert.equal(original.closed, true, 'a producer with a failed partition is replaced');
    await h.writer.stop(100);
  });

  it('fails fast while Kafka is down and recovers with a fresh producer', async () => {
    const h = new Harness();
    await h.writer.start();
    const original = h.producer;
    const inFlight = h.writer.write([event('a')], context());
    const request = await h.nextRequest();
    const queued = h.writer.write([event('b')], context());
    h.reachable = false;
    request.fail();
    const failure = await rejection(inFlight);
    assert.equal(failure.code, 'kafka_unavailable');
    assert.match(failure.message, /may or may not be written/);
    assert.equal((await rejection(queued)).code, 'kafka_unavailable', 'queued events fail too');
    assert.equal(h.writer.isAvailable, false);
    assert.equal(original.closed, true, 'the failed producer is closed');
    assert.equal(
      (await rejection(h.writer.write([event('c')], context()))).code,
      'kafka_unavailable',
      'refused at once while Kafka is unreachable',
    );
    assert.match(await h.registry.getSingleMetricAsString('fanout_ingest_kafka_connected'), / 0$/m);

    h.reachable = true;
    for (let i = 0; i < 200 && !h.writer.isAvailable; i++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    assert.equal(h.writer.isAvailable, true, 'the probe reconnected');
    assert.notEqual(h.producer, original, 'with a new producer (a new producer id)');
    const again = h.writer.write([event('d')], context());
    (await h.nextRequest()).ack();
    assert.equal((await again)[0]?.duplicate, false);
    assert.match(await h.registry.getSingleMetricAsString('fanout_ingest_kafka_connected'), / 1$/m);
    await h.writer.stop(100);
  });

  it('turns unavailable when an idle producer gets no answer to its probe, and back', async () => {
    const h = new Harness({ probeIntervalMs: 10, probeTimeoutMs: 20 });
    await h.writer.start();
    const original = h.producer;
    const until = async (condition: () => boolean, what: string) => {
      for (let i = 0; i < 1000 && !condition(); i++) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      assert.ok(condition(), what);
    };
    await until(() => original.probes > 0, 'an idle producer is probed');
    assert.equal(h.writer.isAvailable, true, 'answered probes keep it available');

    h.reachable = false;
    original.probeAnswer = 'hang';
    await until(() => !h.writer.isAvailable, 'a probe without an answer makes it unavailable');
    assert.equal(original.closed, true, 'the unanswering producer is closed');
    assert.equal(
      (await rejection(h.writer.write([event('a')], context()))).code,
      'kafka_unavailable',
    );
    assert.match(await h.registry.getSingleMetricAsString('fanout_ingest_kafka_connected'), / 0$/m);
    assert.match(
      await h.registry.getSingleMetricAsString('fanout_ingest_kafka_probes_total'),
      /outcome="failed"} 1$/m,
    );

    h.reachable = true;
    await until(() => h.writer.isAvailable, 'available again once Kafka answers');
    assert.notEqual(h.producer, original);
    await h.writer.stop(100);
  });

  it('never sends an event whose deadline passed while it waited', async () => {
    const h = new Harness();
    await h.writer.start();
    const blocking = h.writer.write([event('a')], context());
    const request = await h.nextRequest();
    const late = h.writer.write([event('b')], context({ deadline: Date.now() + 20 }));
    await new Promise((resolve) => setTimeout(resolve, 40));
    const next = h.writer.write([event('c')], context());
    request.ack();
    await blocking;
    const failure = await rejection(late);
    assert.equal(failure.code, 'deadline_exceeded');
    assert.match(failure.message, /was not written/);
    const following = await h.nextRequest();
    assert.deepEqual(
      following.records.map((record) => record.key.toString()),
      ['c'],
      'the expired event was not sent',
    );
    following.ack();
    await next;
  });

  it('fails an event whose deadline passes while Kafka has it, saying it may be written', async () => {
    const h = new Harness();
    await h.writer.start();
    // Long enough for the request to be sent first on a busy machine.
    const written = h.writer.write([event('a')], context({ deadline: Date.now() + 300 }));
    const request = await h.nextRequest();
    const failure = await rejection(written);
    assert.equal(failure.code, 'deadline_exceeded');
    assert.match(failure.message, /may or may not be written/);
    request.ack();
    // The writer goes on: the next publish gets the following offset.
    const next = h.writer.write([event('a')], context());
    (await h.nextRequest()).ack();
    assert.equal((await next)[0]?.position.offset, 1);
  });

  it('fails each event of a request at its own deadline while Kafka has the request', async () => {
    const h = new Harness();
    await h.writer.start();
    const blocking = h.writer.write([event('x')], context());
    const first = await h.nextRequest();
    // Both wait behind the request in flight, then go out in one request.
    const soon = h.writer.write([event('a')], context({ deadline: Date.now() + 300 }));
    const later = h.writer.write([event('b')], context({ deadline: Date.now() + 600 }));
    first.ack();
    await blocking;
    const request = await h.nextRequest();
    assert.equal(request.records.length, 2);
    assert.equal((await rejection(soon)).code, 'deadline_exceeded');
    const failure = await rejection(later);
    assert.equal(failure.code, 'deadline_exceeded');
    assert.match(failure.message, /may or may not be written/);
    request.ack();
  });

  it('writes a producer-chosen id once: retries join the write or get its position', async () => {
    const h = new Harness();
    await h.writer.start();
    const first = h.writer.write([event('pay', 'p-1')], context());
    const retry = h.writer.write([event('pay', 'p-1'), event('pay', 'p-2')], context());
    const request = await h.nextRequest();
    assert.deepEqual(
      request.records.map((record) => decodeEvent(record.value).id),
      ['p-1', 'p-2'],
      'the retried id is not written twice',
    );
    request.ack();
    const [original] = await first;
    const [joined, other] = await retry;
    assert.equal(original?.duplicate, false);
    assert.equal(joined?.duplicate, true);
    assert.deepEqual(joined?.position, original?.position);
    assert.equal(other?.duplicate, false);
    const [remembered] = await h.writer.write([event('pay', 'p-1')], context());
    assert.equal(remembered?.duplicate, true);
    assert.deepEqual(remembered?.position, original?.position);
    assert.equal(h.producer.requests.length, 1);
    assert.match(
      await h.registry.getSingleMetricAsString('fanout_ingest_idempotent_hits_total'),
      / 2$/m,
    );
  });

  it('fails a joined retry with the error of the write it joined', async () => {
    const h = new Harness();
    await h.writer.start();
    const first = h.writer.write([event('pay', 'p-9')], context());
    const retry = h.writer.write([event('pay', 'p-9')], context());
    (await h.nextRequest()).fail();
    assert.equal((await rejection(first)).code, 'kafka_unavailable');
    assert.equal((await rejection(retry)).code, 'kafka_unavailable');
  });

  it('answers each event of writeEach on its own: positions where written, errors where not', async () => {
    const h = new Harness();
    await h.writer.start();
    const channels = ['a', 'b', 'c', 'd', 'e', 'f'];
    const failing = partitionForChannel('a', partitions);
    const answer = h.writer.writeEach(
      channels.map((channel) => event(channel)),
      context(),
    );
    (await h.nextRequest()).ackExcept(failing);
    const outcomes = await answer;
    assert.equal(outcomes.length, channels.length);
    channels.forEach((channel, index) => {
      const outcome = outcomes[index];
      if (partitionForChannel(channel, partitions) === failing) {
        assert.equal(isFanoutError(outcome) && outcome.code, 'kafka_unavailable', channel);
      } else {
        assert.ok(outcome !== undefined && !isFanoutError(outcome), `${channel} was written`);
        assert.equal(outcome.position.partition, partitionForChannel(channel, partitions));
      }
    });
    await h.writer.stop(100);
  });

  it('answers a call with the error of its first failed event once all are settled', async () => {
    const h = new Harness();
    await h.writer.start();
    const seed = h.writer.write([event('a', 'known')], context());
    (await h.nextRequest()).ack();
    const [known] = await seed;
    assert.ok(known);
    let settled = false;
    const mixed = h.writer.write(
      [event('a', 'known'), event('b'), event('c')],
      // Long enough for the request to be sent first on a busy machine.
      context({ deadline: Date.now() + 300 }),
    );
    void mixed.catch(() => {}).finally(() => (settled = true));
    const request = await h.nextRequest();
    await new Promise((resolve) => setTimeout(resolve, 400));
    assert.equal((await rejection(mixed)).code, 'deadline_exceeded');
    assert.equal(settled, true);
    request.ack();
  });

  it('refuses more than maxInFlightEvents with rate_limited, and nothing after stop', async () => {
    const h = new Harness({ maxInFlightEvents: 3 });
    await h.writer.start();
    const pending = h.writer.write([event('a'), event('b')], context());
    const refused = await rejection(h.writer.write([event('c'), event('d')], context()));
    assert.equal(refused.code, 'rate_limited');
    assert.deepEqual(refused.details, { retryAfterMs: 100 });
    const request = await h.nextRequest();
    const stopping = h.writer.stop(1000);
    assert.equal((await rejection(h.writer.write([event('e')], context()))).code, 'draining');
    request.ack();
    await stopping;
    assert.equal((await pending).length, 2, 'in-flight events are answered before stopping');
    assert.equal(h.producer.closed, true);
  });

  it('fails what is still queued with draining when the stop timeout passes', async () => {
    const h = new Harness();
    await h.writer.start();
    const inFlight = h.writer.write([event('a')], context());
    await h.nextRequest();
    const queued = h.writer.write([event('b')], context());
    await h.writer.stop(20);
    assert.equal((await rejection(queued)).code, 'draining');
    void inFlight.catch(() => {});
  });

  it('keeps the in-flight gauge and the batch histogram', async () => {
    const h = new Harness();
    await h.writer.start();
    const written = h.writer.write([event('a'), event('b'), event('c')], context());
    const request = await h.nextRequest();
    assert.match(
      await h.registry.getSingleMetricAsString('fanout_ingest_in_flight_events'),
      / 3$/m,
    );
    request.ack();
    const positions: PositionValue[] = (await written).map((result) => result.position);
    assert.equal(positions.length, 3);
    assert.match(
      await h.registry.getSingleMetricAsString('fanout_ingest_in_flight_events'),
      / 0$/m,
    );
    const batches = await h.registry.getSingleMetricAsString('fanout_ingest_kafka_batch_events');
    assert.match(batches, /fanout_ingest_kafka_batch_events_sum 3$/m);
    const acks = await h.registry.getSingleMetricAsString('fanout_ingest_kafka_ack_seconds');
    assert.match(acks, /fanout_ingest_kafka_ack_seconds_count 3$/m);
  });
});
