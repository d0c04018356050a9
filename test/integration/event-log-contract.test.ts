/**
 * One contract every `EventLog` passes: `KafkaEventLog` against the test
 * runner's broker and `MemoryEventLog` in-process. It pins what the edge
 * relies on: the layout and its epoch, log start and high watermark, fetches
 * at, after and beyond the head, a long-poll that answers when records
 * arrive, byte limits that still return a record, `offset_out_of_range`
 * below the log start, added partitions, recreation (a new epoch, and
 * `stale_metadata` for a fetch made with the old layout), and
 * `kafka_unavailable` when the log cannot be reached.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Producer } from 'kafkajs';
import { decodeEvent, encodeEvent, FanoutError, loadConfig, topicIdToEpoch } from '@fanout/shared';
import {
  KafkaEventLog,
  MemoryEventLog,
  type EventLog,
  type FetchOptions,
  type PartitionRead,
} from '@fanout/edge';
import { testKafka, type TestKafka } from '../support/index.js';

const partitions = 3;

/** How one implementation is set up and changed behind the log's back. */
interface LogFixture {
  readonly log: EventLog;
  /** Appends events of `channel` to `partition` as one batch; their offsets. */
  append(partition: number, channel: string, count: number): Promise<number[]>;
  /** Moves the log start of a partition (retention / DeleteRecords). */
  truncate(partition: number, logStartOffset: number): Promise<void>;
  /** Raises the partition count by `count`. */
  addPartitions(count: number): Promise<void>;
  /** Deletes the topic and creates it again. */
  recreate(): Promise<void>;
  /** A log of the same kind that cannot reach anything. */
  unreachable(): EventLog;
  close(): Promise<void>;
}

interface FixtureKind {
  readonly name: string;
  create(): Promise<LogFixture>;
}

let sequence = 0;

function memoryKind(): FixtureKind {
  return {
    name: 'MemoryEventLog',
    create() {
      const log = new MemoryEventLog({ topic: 'contract', partitions });
      return Promise.resolve({
        log,
        append: (partition, channel, count) =>
          Promise.resolve(
            log.append(
              partition,
              Array.from({ length: count }, () => ({ channel, id: `c${sequence++}` })),
            ),
          ),
        truncate: (partition, offset) => {
          log.truncate(partition, offset);
          return Promise.resolve();
        },
        addPartitions: (count) => {
          log.addPartitions(count);
          return Promise.resolve();
        },
        recreate: () => {
          log.recreate();
          return Promise.resolve();
        },
        unreachable: () => {
          const down = new MemoryEventLog({ partitions });
          down.unavailable(true);
          return down;
        },
        close: () => log.close(),
      });
    },
  };
}

function kafkaKind(kafka: () => TestKafka, producer: () => Producer): FixtureKind {
  const config = (brokers: readonly string[], topic: string) =>
    loadConfig({
      env: {
        FANOUT_KAFKA_BROKERS: brokers.join(','),
        FANOUT_KAFKA_TOPIC: topic,
        FANOUT_LOG_LEVEL: 'silent',
      },
    }).kafka;
  return {
    name: 'KafkaEventLog',
    async create() {
      const test = kafka();
      const topic = await test.createTopic({ name: 'event-log', partitions });
      const log = new KafkaEventLog(config(test.brokers, topic), 'contract');
      const opened: EventLog[] = [log];
      let count = partitions;
      return {
        log,
        async append(partition, channel, size) {
          const [sent] = await producer().send({
            topic,
            acks: -1,
            messages: Array.from({ length: size }, () => {
              const value = encodeEvent({ id: `c${sequence++}`, channel });
              return {
                partition,
                key: channel,
                value: Buffer.from(value.buffer, value.byteOffset, value.byteLength),
                headers: { 'fanout-producer': '' },
              };
            }),
          });
          const base = Number(sent?.baseOffset ?? -1);
          return Array.from({ length: size }, (_, index) => base + index);
        },
        async truncate(partition, offset) {
          // kafkajs finds the partition leader in the metadata it has cached.
          await test.admin.fetchTopicMetadata({ topics: [topic] });
          await test.admin.deleteTopicRecords({
            topic,
            partitions: [{ partition, offset: String(offset) }],
          });
        },
        async addPartitions(added) {
          count += added;
          await test.admin.createPartitions({ topicPartitions: [{ topic, count }] });
        },
        async recreate() {
          await test.admin.deleteTopics({ topics: [topic] });
          // Deletion completes in the background: create until the broker accepts.
          for (let attempt = 0; ; attempt++) {
            try {
              await test.admin.createTopics({
                topics: [{ topic, numPartitions: count, replicationFactor: 1 }],
                waitForLeaders: true,
              });
              const layouts = await test.admin.fetchTopicMetadata({ topics: [topic] });
              if (layouts.topics[0]?.partitions.length === count) return;
            } catch (error) {
              if (attempt > 100) throw error;
            }
            await sleep(200);
          }
        },
        unreachable() {
          const down = new KafkaEventLog(config(['127.0.0.1:1'], topic), 'contract-down');
          opened.push(down);
          return down;
        },
        async close() {
          await Promise.allSettled(opened.map((each) => each.close()));
        },
      };
    },
  };
}

function options(log: EventLog, overrides: Partial<FetchOptions> = {}): FetchOptions {
  return {
    lane: log.openLane('contract'),
    maxWaitMs: 100,
    maxBytes: 1024 * 1024,
    partitionMaxBytes: 1024 * 1024,
    ...overrides,
  };
}

async function fetchOne(
  log: EventLog,
  partition: number,
  offset: number,
  overrides: Partial<FetchOptions> = {},
): Promise<PartitionRead> {
  const layout = log.layout ?? (await log.refreshLayout());
  const reads = await log.fetch(
    layout.leaders[partition] ?? -1,
    [{ partition, offset }],
    options(log, overrides),
  );
  const read = reads.find((each) => each.partition === partition);
  assert.ok(read, `an answer for partition ${partition}`);
  return read;
}

/** Reads a partition from `offset` up to its high watermark. */
async function readAll(log: EventLog, partition: number, offset: number): Promise<number[]> {
  const offsets: number[] = [];
  let next = offset;
  for (let round = 0; round < 100; round++) {
    const read = await fetchOne(log, partition, next);
    assert.equal(read.status, 'ok');
    for (const record of read.records) offsets.push(record.offset);
    const last = read.records.at(-1);
    if (last) next = last.offset + 1;
    if (next >= read.highWatermark) return offsets;
  }
  return offsets;
}

function isUnavailable(error: unknown): boolean {
  return error instanceof FanoutError && error.code === 'kafka_unavailable';
}

function contract(kind: FixtureKind): void {
  describe(`${kind.name} keeps the EventLog contract`, () => {
    let fixture: LogFixture;
    before(async () => {
      fixture = await kind.create();
    });
    after(async () => {
      await fixture.close();
    });

    it('reads the layout: the epoch of the topic id, the partitions and their leaders', async () => {
      const layout = await fixture.log.refreshLayout();
      assert.equal(layout.epoch, topicIdToEpoch(layout.topicId));
      assert.match(layout.epoch, /^[A-Za-z0-9_-]{22}$/);
      assert.equal(layout.partitions, partitions);
      assert.equal(layout.leaders.length, partitions);
      for (const leader of layout.leaders) assert.ok(leader >= 0);
      assert.deepEqual(fixture.log.layout, layout);
      assert.equal((await fixture.log.refreshLayout()).epoch, layout.epoch, 'stable');
    });

    it('reports log start and high watermark per partition', async () => {
      const initial = await fixture.log.offsets([0, 1]);
      assert.deepEqual(initial.get(0), { logStartOffset: 0, highWatermark: 0 });
      assert.deepEqual(initial.get(1), { logStartOffset: 0, highWatermark: 0 });
      assert.deepEqual(await fixture.append(0, 'contract.a', 5), [0, 1, 2, 3, 4]);
      const offsets = await fixture.log.offsets([0, 1]);
      assert.deepEqual(offsets.get(0), { logStartOffset: 0, highWatermark: 5 });
      assert.deepEqual(offsets.get(1), { logStartOffset: 0, highWatermark: 0 });
    });

    it('fetches the records from an offset on, in order, as the ingest wrote them', async () => {
      const read = await fetchOne(fixture.log, 0, 0);
      assert.equal(read.status, 'ok');
      assert.deepEqual(
        read.records.map((record) => record.offset),
        [0, 1, 2, 3, 4],
      );
      assert.equal(read.highWatermark, 5);
      assert.equal(read.logStartOffset, 0);
      for (const record of read.records) {
        assert.equal(decodeEvent(record.value).channel, 'contract.a');
        assert.ok(record.timestamp > 0);
      }
      const middle = await fetchOne(fixture.log, 0, 3);
      assert.deepEqual(
        middle.records.map((record) => record.offset),
        [3, 4],
        'nothing before the requested offset, even inside a batch',
      );
    });

    it('answers a fetch at the head with no records, and beyond it with offset_out_of_range', async () => {
      const head = await fetchOne(fixture.log, 0, 5, { maxWaitMs: 50 });
      assert.equal(head.status, 'ok');
      assert.deepEqual(head.records, []);
      assert.equal(head.highWatermark, 5);
      const beyond = await fetchOne(fixture.log, 0, 7);
      assert.equal(beyond.status, 'offset_out_of_range');
      assert.deepEqual(beyond.records, []);
    });

    it('answers a long-poll at the head with records appended while it waits', async () => {
      const polling = fetchOne(fixture.log, 1, 0, { maxWaitMs: 60_000 });
      await sleep(300);
      await fixture.append(1, 'contract.b', 2);
      const read = await polling;
      assert.equal(read.status, 'ok');
      assert.deepEqual(
        read.records.map((record) => record.offset),
        [0, 1],
      );
    });

    it('reads several partitions in one fetch, each with its own answer', async () => {
      const layout = await fixture.log.refreshLayout();
      const node = layout.leaders[0] ?? -1;
      const together = [0, 1].filter((partition) => layout.leaders[partition] === node);
      const reads = await fixture.log.fetch(
        node,
        together.map((partition) => ({ partition, offset: 0 })),
        options(fixture.log),
      );
      assert.deepEqual(reads.map((read) => read.partition).sort(), together);
      for (const read of reads) assert.equal(read.status, 'ok');
    });

    it('returns at least one record under any byte limit, and everything under a large one', async () => {
      await fixture.append(2, 'contract.c', 3);
      await fixture.append(2, 'contract.c', 3);
      const tight = await fetchOne(fixture.log, 2, 0, { maxBytes: 1, partitionMaxBytes: 1 });
      assert.equal(tight.status, 'ok');
      assert.ok(tight.records.length >= 1, 'at least one record');
      assert.equal(tight.records[0]?.offset, 0);
      assert.deepEqual(await readAll(fixture.log, 2, 0), [0, 1, 2, 3, 4, 5]);
    });

    it('answers offset_out_of_range below the log start once retention moved it', async () => {
      await fixture.truncate(0, 3);
      assert.deepEqual((await fixture.log.offsets([0])).get(0), {
        logStartOffset: 3,
        highWatermark: 5,
      });
      assert.equal((await fetchOne(fixture.log, 0, 1)).status, 'offset_out_of_range');
      const from = await fetchOne(fixture.log, 0, 3);
      assert.equal(from.status, 'ok');
      assert.deepEqual(
        from.records.map((record) => record.offset),
        [3, 4],
      );
      assert.equal(from.logStartOffset, 3);
    });

    it('shows added partitions after a refresh, under the same epoch', async () => {
      const initial = await fixture.log.refreshLayout();
      await fixture.addPartitions(1);
      let layout = await fixture.log.refreshLayout();
      for (let attempt = 0; layout.partitions === initial.partitions && attempt < 50; attempt++) {
        await sleep(100);
        layout = await fixture.log.refreshLayout();
      }
      assert.equal(layout.partitions, partitions + 1);
      assert.equal(layout.epoch, initial.epoch);
      assert.deepEqual((await fixture.log.offsets([partitions])).get(partitions), {
        logStartOffset: 0,
        highWatermark: 0,
      });
    });

    it('gets a new epoch when the topic is recreated, and stale_metadata for the old layout', async () => {
      const old = await fixture.log.refreshLayout();
      await fixture.recreate();
      const stale = await fetchOne(fixture.log, 0, 0);
      assert.equal(stale.status, 'stale_metadata');
      let layout = await fixture.log.refreshLayout();
      for (let attempt = 0; layout.epoch === old.epoch && attempt < 50; attempt++) {
        await sleep(100);
        layout = await fixture.log.refreshLayout();
      }
      assert.notEqual(layout.epoch, old.epoch);
      assert.deepEqual((await fixture.log.offsets([0])).get(0), {
        logStartOffset: 0,
        highWatermark: 0,
      });
    });

    it('throws kafka_unavailable when the log cannot be reached', async () => {
      const down = fixture.unreachable();
      await assert.rejects(down.refreshLayout(), isUnavailable);
      await assert.rejects(down.offsets([0]), isUnavailable);
    });
  });
}

let kafka: TestKafka | undefined;
let producer: Producer | undefined;

before(async () => {
  kafka = await testKafka();
  producer = kafka.kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
});

after(async () => {
  await producer?.disconnect();
  await kafka?.close();
});

contract(memoryKind());
contract(
  kafkaKind(
    () => {
      assert.ok(kafka);
      return kafka;
    },
    () => {
      assert.ok(producer);
      return producer;
    },
  ),
);
