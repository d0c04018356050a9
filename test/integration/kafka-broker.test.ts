import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { stopOwnKafka, testKafka, type TestKafka } from '../support/index.js';

describe('the test broker', () => {
  let kafka: TestKafka;

  before(async () => {
    kafka = await testKafka();
  });

  after(async () => {
    await kafka.close();
    await stopOwnKafka();
  });

  it('acknowledges an idempotent acks=all produce and serves it by offset and by group', async () => {
    const topic = await kafka.createTopic({ name: 'roundtrip', partitions: 3 });
    const producer = kafka.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const [record] = await producer.send({
      topic,
      acks: -1,
      messages: [
        { key: 'orders.1', value: 'first' },
        { key: 'orders.1', value: 'second' },
      ],
    });
    await producer.disconnect();
    assert.ok(record);
    assert.equal(record.errorCode, 0);
    const partition = record.partition;

    const offsets = await kafka.admin.fetchTopicOffsets(topic);
    const high = offsets.find((o) => o.partition === partition)?.high;
    assert.equal(high, '2', 'both records of one key land in one partition');

    // Read by explicit offset with a consumer that never commits.
    const consumer = kafka.kafka.consumer({ groupId: `${topic}-reader` });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const received: { offset: string; value: string }[] = [];
    await new Promise<void>((resolve, reject) => {
      consumer
        .run({
          autoCommit: false,
          eachMessage: ({ partition: p, message }) => {
            if (p === partition) {
              received.push({ offset: message.offset, value: message.value?.toString() ?? '' });
            }
            if (received.length === 1) resolve();
            return Promise.resolve();
          },
        })
        .catch(reject);
      consumer.seek({ topic, partition, offset: '1' });
    });
    await consumer.disconnect();
    assert.deepEqual(received[0], { offset: '1', value: 'second' });
  });

  it('gives each test its own topic', async () => {
    const a = await kafka.createTopic({ name: 'isolated' });
    const b = await kafka.createTopic({ name: 'isolated' });
    assert.notEqual(a, b);
    const topics = await kafka.admin.listTopics();
    assert.ok(topics.includes(a) && topics.includes(b));
    const offsets = await kafka.admin.fetchTopicOffsets(b);
    assert.deepEqual(
      offsets.map((o) => o.high),
      ['0'],
      'a new topic is empty',
    );
  });
});
