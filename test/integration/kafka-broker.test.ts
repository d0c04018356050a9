/**
 * The test broker is a real Apache Kafka and kafkajs 2.2.4 can do on it what
 * ingest and edge need: idempotent acks=all produce, group consumption with
 * committed offsets, reads from an explicit offset, offset listing, topics
 * created and deleted per test.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Consumer } from 'kafkajs';
import { stopOwnKafka, testKafka, type TestKafka } from '../support/index.js';

interface Received {
  readonly partition: number;
  readonly offset: string;
  readonly key: string;
  readonly value: string;
}

/** Runs `consumer` until it has received `count` records. */
async function receive(
  consumer: Consumer,
  count: number,
  options: { autoCommit: boolean; afterStart?: () => void },
): Promise<Received[]> {
  const received: Received[] = [];
  let done: () => void = () => {};
  const enough = new Promise<void>((resolve) => {
    done = resolve;
  });
  await consumer.run({
    autoCommit: options.autoCommit,
    eachMessage: ({ partition, message }) => {
      received.push({
        partition,
        offset: message.offset,
        key: message.key?.toString() ?? '',
        value: message.value?.toString() ?? '',
      });
      if (received.length >= count) done();
      return Promise.resolve();
    },
  });
  options.afterStart?.();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`received ${received.length} of ${count} records in 30 s`));
    }, 30_000);
  });
  try {
    await Promise.race([enough, timeout]);
  } finally {
    clearTimeout(timer);
  }
  return received;
}

describe('the test broker', () => {
  let kafka: TestKafka;

  before(async () => {
    kafka = await testKafka();
  });

  after(async () => {
    await kafka.close();
    await stopOwnKafka();
  });

  it('acknowledges an idempotent acks=all produce and keeps each key in one partition, in order', async () => {
    const topic = await kafka.createTopic({ name: 'produce', partitions: 3 });
    const producer = kafka.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const metadata = await producer.send({
      topic,
      acks: -1,
      messages: ['a', 'b', 'c'].flatMap((value) => [
        { key: 'channel-1', value: `1${value}` },
        { key: 'channel-2', value: `2${value}` },
      ]),
    });
    await producer.disconnect();
    assert.ok(metadata.length > 0);
    for (const record of metadata) assert.equal(record.errorCode, 0);

    const offsets = await kafka.admin.fetchTopicOffsets(topic);
    assert.equal(offsets.length, 3);
    const total = offsets.reduce((sum, o) => sum + Number(o.high) - Number(o.low), 0);
    assert.equal(total, 6);
    const byTime = await kafka.admin.fetchTopicOffsetsByTimestamp(topic, Date.now() - 60_000);
    assert.deepEqual(
      byTime.map((o) => o.offset),
      ['0', '0', '0'],
      'the earliest offset after a time before the first record is 0',
    );
  });

  it('delivers every record to a consumer group in per-partition order and commits its offsets', async () => {
    const topic = await kafka.createTopic({ name: 'group', partitions: 2 });
    const producer = kafka.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const keys = ['channel-a', 'channel-b', 'channel-c'];
    await producer.send({
      topic,
      acks: -1,
      messages: Array.from({ length: 12 }, (_, i) => ({
        key: keys[i % keys.length]!,
        value: String(i),
      })),
    });
    await producer.disconnect();

    const groupId = `${topic}-group`;
    const consumer = kafka.kafka.consumer({ groupId });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const received = await receive(consumer, 12, { autoCommit: true });
    await consumer.disconnect();

    assert.equal(received.length, 12);
    for (const key of keys) {
      const values = received.filter((r) => r.key === key).map((r) => Number(r.value));
      assert.deepEqual(
        values,
        [...values].sort((a, b) => a - b),
        `${key} arrives in produce order`,
      );
      assert.equal(new Set(received.filter((r) => r.key === key).map((r) => r.partition)).size, 1);
    }

    const committed = await kafka.admin.fetchOffsets({ groupId, topics: [topic] });
    const latest = await kafka.admin.fetchTopicOffsets(topic);
    for (const partition of committed[0]?.partitions ?? []) {
      const high = latest.find((o) => o.partition === partition.partition)?.high;
      // An empty partition has nothing to commit.
      const expected = high === '0' ? '-1' : high;
      assert.equal(
        partition.offset,
        expected,
        `partition ${partition.partition} committed to its end`,
      );
    }
  });

  it('reads from an explicit offset without committing', async () => {
    const topic = await kafka.createTopic({ name: 'offset' });
    const producer = kafka.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    await producer.send({
      topic,
      acks: -1,
      messages: ['zero', 'one', 'two', 'three', 'four'].map((value) => ({ value })),
    });
    await producer.disconnect();

    const groupId = `${topic}-reader`;
    // Without a committed offset and without fromBeginning the consumer waits
    // at the end of the log, so the seek decides where reading starts.
    const consumer = kafka.kafka.consumer({ groupId });
    await consumer.connect();
    await consumer.subscribe({ topic });
    const received = await receive(consumer, 2, {
      autoCommit: false,
      afterStart: () => {
        consumer.seek({ topic, partition: 0, offset: '3' });
      },
    });
    await consumer.disconnect();

    assert.deepEqual(
      received.map((r) => [r.offset, r.value]),
      [
        ['3', 'three'],
        ['4', 'four'],
      ],
    );
    const committed = await kafka.admin.fetchOffsets({ groupId, topics: [topic] });
    assert.deepEqual(
      committed[0]?.partitions.map((p) => p.offset),
      ['-1'],
      'nothing was committed',
    );
  });

  it('gives every test its own empty topic and deletes it', async () => {
    const a = await kafka.createTopic({ name: 'isolated' });
    const b = await kafka.createTopic({ name: 'isolated' });
    assert.notEqual(a, b);
    assert.match(a, /^t-[0-9a-f]{8}-isolated$/);

    const producer = kafka.kafka.producer({ idempotent: true });
    await producer.connect();
    await producer.send({ topic: a, acks: -1, messages: [{ value: 'only in a' }] });
    await producer.disconnect();

    const [offsetsA, offsetsB] = await Promise.all([
      kafka.admin.fetchTopicOffsets(a),
      kafka.admin.fetchTopicOffsets(b),
    ]);
    assert.deepEqual(
      offsetsA.map((o) => o.high),
      ['1'],
    );
    assert.deepEqual(
      offsetsB.map((o) => o.high),
      ['0'],
      'a new topic is empty',
    );

    await kafka.deleteTopic(a);
    const topics = await kafka.admin.listTopics();
    assert.ok(!topics.includes(a), 'deleted topic is gone');
    assert.ok(topics.includes(b));
  });
});
