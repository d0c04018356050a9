/**
 * How fast the edge can read chosen partitions from chosen offsets:
 * `@platformatic/kafka` low-level Fetch (what the edge uses) against a
 * kafkajs consumer group (kafkajs has no manual assignment). Produces
 * N 256-byte records over 4 partitions of a fresh topic on the test broker,
 * then reads them all back each way: time to first record and records/s.
 *
 *   npm run bench:kafka-reads            (N defaults to 200000)
 *
 * Loopback only, bounded by N; stops by itself.
 */
import { Consumer } from '@platformatic/kafka';
import { stopOwnKafka, testKafka } from '../support/index.js';

const total = Number(process.env['BENCH_RECORDS'] ?? 200_000);
const partitionCount = 4;

const kafka = await testKafka();
const topic = await kafka.createTopic({ name: 'bench-reads', partitions: partitionCount });
const producer = kafka.kafka.producer({ idempotent: true });
await producer.connect();
const value = Buffer.alloc(256, 1);
for (let sent = 0; sent < total; sent += 5000) {
  await producer.send({
    topic,
    acks: -1,
    messages: Array.from({ length: Math.min(5000, total - sent) }, (_, i) => ({
      key: `channel-${(sent + i) % 50}`,
      value,
    })),
  });
}
await producer.disconnect();
const admin = kafka.kafka.admin();
await admin.connect();
const ends = await admin.fetchTopicOffsets(topic);
await admin.disconnect();
const highWatermarks = new Map(ends.map((end) => [end.partition, BigInt(end.high)]));

// ---- @platformatic/kafka: Fetch at explicit offsets, no group -------------
const consumer = new Consumer({
  clientId: 'bench',
  groupId: 'bench-never-joined',
  bootstrapBrokers: kafka.brokers.map((broker) => {
    const [host = '', port = ''] = broker.split(':');
    return { host, port: Number(port) };
  }),
  retries: 0,
});
let began = performance.now();
const metadata = await consumer.metadata({ topics: [topic] });
const layout = metadata.topics.get(topic);
if (!layout) throw new Error('no metadata');
const next = Array.from({ length: partitionCount }, () => 0n);
let read = 0;
let firstMs: number | undefined;
while (next.some((offset, partition) => offset < (highWatermarks.get(partition) ?? 0n))) {
  const response = await consumer.fetch({
    node: layout.partitions[0]?.leader ?? 1,
    maxWaitTime: 100,
    maxBytes: 8 << 20,
    topics: [
      {
        topicId: layout.id,
        partitions: next.map((fetchOffset, partition) => ({
          partition,
          fetchOffset,
          currentLeaderEpoch: -1,
          lastFetchedEpoch: -1,
          partitionMaxBytes: 2 << 20,
        })),
      },
    ],
  });
  for (const partition of response.responses[0]?.partitions ?? []) {
    for (const batch of partition.records ?? []) {
      for (const record of batch.records) {
        read++;
        firstMs ??= performance.now() - began;
        next[partition.partitionIndex] = batch.firstOffset + BigInt(record.offsetDelta) + 1n;
      }
    }
  }
}
let elapsed = performance.now() - began;
await consumer.close();
const fetchResult = { firstMs, read, recordsPerSecond: Math.round((read / elapsed) * 1000) };

// ---- kafkajs: a consumer group from the beginning -------------------------
const groupConsumer = kafka.kafka.consumer({ groupId: `bench-${Date.now()}` });
began = performance.now();
firstMs = undefined;
read = 0;
await groupConsumer.connect();
await groupConsumer.subscribe({ topic, fromBeginning: true });
await new Promise<void>((resolve) => {
  void groupConsumer.run({
    autoCommit: false,
    eachBatch: async ({ batch }) => {
      firstMs ??= performance.now() - began;
      read += batch.messages.length;
      if (read >= total) resolve();
      await Promise.resolve();
    },
  });
});
elapsed = performance.now() - began;
await groupConsumer.disconnect();
const groupResult = { firstMs, read, recordsPerSecond: Math.round((read / elapsed) * 1000) };

console.log(
  JSON.stringify(
    {
      records: total,
      recordBytes: 256,
      partitions: partitionCount,
      fetch: fetchResult,
      kafkajsGroup: groupResult,
    },
    null,
    2,
  ),
);
await kafka.close();
await stopOwnKafka();
