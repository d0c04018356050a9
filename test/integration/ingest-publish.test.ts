import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { decodeEvent, fanout, partitionForChannel } from '@fanout/shared';
import {
  readTopic,
  startIngest,
  stopOwnKafka,
  testKafka,
  type IngestHarness,
  type TestKafka,
} from '../support/index.js';

const text = (value: string) => new TextEncoder().encode(value);

function grpcCode(error: unknown): number | undefined {
  return (error as { code?: number }).code;
}

function errorCode(error: unknown): string | undefined {
  const metadata = (error as { metadata?: grpc.Metadata }).metadata;
  const value = metadata?.get('fanout-error-code')[0];
  return value === undefined ? undefined : String(value);
}

describe('ingest publishing into Kafka', () => {
  let kafka: TestKafka;
  let ingest: IngestHarness;
  let topic: string;

  before(async () => {
    kafka = await testKafka();
    topic = await kafka.createTopic({ name: 'ingest', partitions: 3 });
    ingest = await startIngest({ brokers: kafka.brokers, topic, partitions: 3 });
  });

  after(async () => {
    await ingest.stop();
    await kafka.close();
    await stopOwnKafka();
  });

  it('acknowledges a unary publish with the position Kafka stored the envelope at', async () => {
    const metadata = new grpc.Metadata();
    metadata.set('traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
    const response = await ingest.client.publish(
      {
        events: [
          {
            channel: 'orders.eu.1',
            type: 'order.created',
            data: text('{"n":1}'),
            contentType: 'application/json',
            headers: { tenant: 'acme' },
          },
        ],
      },
      { metadata },
    );
    const result = response.results[0];
    assert.ok(result?.position);
    assert.equal(result.position.epoch, ingest.app.topic.epoch);
    assert.equal(result.position.partition, partitionForChannel('orders.eu.1', 3));

    const records = await readTopic(kafka.kafka, topic);
    const record = records.find(
      (r) => r.partition === result.position?.partition && r.offset === result.position.offset,
    );
    assert.ok(record, 'the record is at the acknowledged position');
    assert.equal(record.key, 'orders.eu.1');
    const event = decodeEvent(record.value);
    assert.equal(event.id, result.id);
    assert.equal(event.type, 'order.created');
    assert.equal(new TextDecoder().decode(event.data), '{"n":1}');
    assert.equal(event.contentType, 'application/json');
    assert.equal(event.headers['tenant'], 'acme');
    assert.equal(event.producer, 'anonymous');
    assert.ok((event.time?.seconds ?? 0) > 1_700_000_000);
    assert.match(event.trace?.traceparent ?? '', /^00-0af7651916cd43dd8448eb211c80319c-/);
    assert.equal(record.headers['fanout-producer'], 'anonymous');
    assert.match(record.headers['traceparent'] ?? '', /^00-0af7651916cd43dd8448eb211c80319c-/);
  });

  it('keeps a channel in one partition, in publish order, across a batch', async () => {
    const events = Array.from({ length: 50 }, (_, i) => ({
      channel: i % 2 === 0 ? 'chat.room.a' : 'chat.room.b',
      data: text(String(i)),
    }));
    const response = await ingest.client.publish({ events });
    assert.equal(response.results.length, 50);
    for (const channel of ['chat.room.a', 'chat.room.b']) {
      const positions = response.results
        .filter((_, i) => events[i]?.channel === channel)
        .map((r) => r.position!);
      assert.ok(positions.every((p) => p.partition === partitionForChannel(channel, 3)));
      for (let i = 1; i < positions.length; i++) {
        assert.ok(positions[i]!.offset! > positions[i - 1]!.offset!, 'increasing offsets');
      }
    }
    // Within a partition the batch occupies consecutive offsets, in request order.
    const byPartition = new Map<number, number[]>();
    for (const result of response.results) {
      const list = byPartition.get(result.position!.partition!) ?? [];
      list.push(result.position!.offset!);
      byPartition.set(result.position!.partition!, list);
    }
    for (const offsets of byPartition.values()) {
      offsets.forEach((offset, i) => {
        assert.equal(offset, offsets[0]! + i, 'consecutive offsets within a partition');
      });
    }
    const stored = (await readTopic(kafka.kafka, topic))
      .filter((r) => r.key === 'chat.room.a')
      .map((r) => new TextDecoder().decode(decodeEvent(r.value).data));
    assert.deepEqual(
      stored,
      events
        .filter((e) => e.channel === 'chat.room.a')
        .map((e) => new TextDecoder().decode(e.data)),
    );
  });

  it('acknowledges every event of a PublishStream by sequence, in order per channel', async () => {
    const stream = ingest.client.publishStream();
    const acks: fanout.v1.PublishStreamResponse[] = [];
    const done = new Promise<void>((resolve, reject) => {
      stream.on('data', (ack: fanout.v1.PublishStreamResponse) => acks.push(ack));
      stream.on('end', resolve);
      stream.on('error', reject);
    });
    const count = 500;
    for (let sequence = 1; sequence <= count; sequence++) {
      stream.write(
        fanout.v1.PublishStreamRequest.create({
          sequence,
          event: { channel: `stream.${sequence % 5}`, data: text(String(sequence)) },
        }),
      );
    }
    stream.end();
    await done;
    assert.equal(acks.length, count);
    assert.deepEqual(
      acks.map((a) => a.sequence).sort((a, b) => a - b),
      Array.from({ length: count }, (_, i) => i + 1),
    );
    const byChannel = new Map<number, number[]>();
    for (const ack of acks) {
      assert.equal(ack.outcome, 'result');
      const list = byChannel.get(ack.sequence % 5) ?? [];
      list.push(ack.result!.position!.offset ?? -1);
      byChannel.set(ack.sequence % 5, list);
    }
    for (const offsets of byChannel.values()) {
      assert.deepEqual(
        offsets,
        [...offsets].sort((a, b) => a - b),
        'acks of a channel in order',
      );
    }
  });

  it('reports a bad event in a stream without ending the stream', async () => {
    const stream = ingest.client.publishStream();
    const acks: fanout.v1.PublishStreamResponse[] = [];
    const done = new Promise<void>((resolve, reject) => {
      stream.on('data', (ack: fanout.v1.PublishStreamResponse) => acks.push(ack));
      stream.on('end', resolve);
      stream.on('error', reject);
    });
    stream.write(
      fanout.v1.PublishStreamRequest.create({ sequence: 1, event: { channel: 'bad..name' } }),
    );
    stream.write(
      fanout.v1.PublishStreamRequest.create({ sequence: 2, event: { channel: 'good' } }),
    );
    stream.end();
    await done;
    const bad = acks.find((a) => a.sequence === 1);
    const good = acks.find((a) => a.sequence === 2);
    assert.equal(bad?.error?.code, 'channel_invalid');
    assert.equal(good?.outcome, 'result');
  });

  it('rejects a batch with one invalid event as a whole, naming the field', async () => {
    const before = await kafka.admin.fetchTopicOffsets(topic);
    await assert.rejects(
      ingest.client.publish({
        events: [
          { channel: 'fine', data: text('x') },
          { channel: 'not valid!', data: text('y') },
        ],
      }),
      (error: unknown) =>
        grpcCode(error) === grpc.status.INVALID_ARGUMENT &&
        errorCode(error) === 'channel_invalid' &&
        (error as Error).message.includes('events[1].channel'),
    );
    const afterOffsets = await kafka.admin.fetchTopicOffsets(topic);
    assert.deepEqual(afterOffsets, before, 'nothing was written');
  });

  it('enforces the event size, batch size and content-type limits', async () => {
    await assert.rejects(
      ingest.client.publish({
        events: [{ channel: 'big', data: new Uint8Array(1024 * 1024 + 1) }],
      }),
      (error: unknown) =>
        grpcCode(error) === grpc.status.INVALID_ARGUMENT && errorCode(error) === 'event_too_large',
    );
    await assert.rejects(
      ingest.client.publish({
        events: Array.from({ length: 1001 }, () => ({ channel: 'many' })),
      }),
      (error: unknown) => errorCode(error) === 'batch_too_large',
    );
    await assert.rejects(
      ingest.client.publish({ events: [{ channel: 'x', contentType: 'not a type' }] }),
      (error: unknown) =>
        errorCode(error) === 'invalid_argument' &&
        (error as Error).message.includes('events[0].content_type'),
    );
    await assert.rejects(
      ingest.client.publish({ events: [] }),
      (error: unknown) => grpcCode(error) === grpc.status.INVALID_ARGUMENT,
    );
  });

  it('answers a retried publish with the same id from the first write, writing once', async () => {
    const event = { channel: 'payments.1', id: 'pay-42', data: text('once') };
    const first = await ingest.client.publish({ events: [event] });
    const second = await ingest.client.publish({ events: [event] });
    assert.equal(first.results[0]?.duplicate, false);
    assert.equal(second.results[0]?.duplicate, true);
    assert.deepEqual(second.results[0]?.position, first.results[0]?.position);
    const copies = (await readTopic(kafka.kafka, topic)).filter(
      (r) => r.key === 'payments.1' && decodeEvent(r.value).id === 'pay-42',
    );
    assert.equal(copies.length, 1);
  });

  it('publishes over HTTP JSON with the same semantics', async () => {
    const ok = await fetch(`${ingest.httpBase}/v1/channels/web.news/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': 'news-1' },
      body: JSON.stringify({ type: 'headline', data: { title: 'hello' } }),
    });
    assert.equal(ok.status, 200);
    const body = (await ok.json()) as { results: { id: string; position: string }[] };
    assert.equal(body.results[0]?.id, 'news-1');
    assert.match(
      body.results[0]?.position ?? '',
      new RegExp(`^${ingest.app.topic.epoch}:\\d+:\\d+$`),
    );

    const bad = await fetch(`${ingest.httpBase}/v1/channels/web..news/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ data: 1 }),
    });
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { error: { code: string } }).error.code, 'channel_invalid');

    const notJson = await fetch(`${ingest.httpBase}/v1/channels/web.news/events`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'hi',
    });
    assert.equal(notJson.status, 415);
    assert.equal((await fetch(`${ingest.httpBase}/nope`)).status, 404);
  });

  it('serves the standard gRPC health check', async () => {
    assert.equal(await ingest.client.health(), 'SERVING');
    assert.equal(await ingest.client.health('fanout.v1.IngestService'), 'SERVING');
  });

  it('counts publishes in Prometheus metrics', async () => {
    const text = await ingest.registry.metrics();
    assert.match(text, /fanout_ingest_events_total\{transport="grpc",outcome="written"\} [1-9]/);
    assert.match(
      text,
      /fanout_ingest_errors_total\{transport="grpc",code="channel_invalid"\} [1-9]/,
    );
    assert.match(text, /fanout_ingest_kafka_ack_seconds_count [1-9]/);
  });
});
