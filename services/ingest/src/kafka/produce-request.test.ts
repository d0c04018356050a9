import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  NumericMap,
  Reader,
  crc32c,
  createRecordsBatch,
  produceV11,
  readRecordsBatch,
  type MessageRecord,
} from '@platformatic/kafka';
import {
  encodeProduceRequest,
  encodeRecordBatch,
  encodeRecordHeaders,
  type BatchRecord,
} from './produce-request.js';

const headerPairs = [
  ['fanout-producer', 'billing'],
  ['traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'],
] as const;

/** Records with every varint width that matters: short and long values, no and several headers. */
function records(partition: number): (BatchRecord & { partition: number })[] {
  const base = 1_763_900_000_000;
  return [
    { value: 1, headers: headerPairs, delta: 0 },
    { value: 300, headers: [], delta: 0 },
    { value: 20_000, headers: headerPairs, delta: 5 },
    { value: 256, headers: [['a', '']] as const, delta: 3 },
  ].map(({ value, headers, delta }, index) => ({
    partition,
    key: Buffer.from(`orders.eu-${index}`),
    value: Buffer.alloc(value, index + 1),
    timestamp: base + delta,
    headers: encodeRecordHeaders(headers),
  }));
}

/** The same records as `@platformatic/kafka`'s encoder takes them. */
function libraryMessages(
  list: readonly (BatchRecord & { partition: number })[],
  topic: string,
  headerSets: readonly (readonly (readonly [string, string])[])[],
): MessageRecord[] {
  return list.map((record, index) => ({
    topic,
    partition: record.partition,
    key: record.key,
    value: record.value,
    timestamp: BigInt(record.timestamp),
    headers: new Map(
      (headerSets[index] ?? []).map(([name, value]) => [Buffer.from(name), Buffer.from(value)]),
    ),
  }));
}

const headerSets = [headerPairs, [], headerPairs, [['a', '']]] as const;
const producer = { producerId: 4242n, producerEpoch: 3, compression: 'none' as const };

describe('produce request encoding', () => {
  it('writes record batches byte for byte as the Kafka client library does', () => {
    const list = records(5);
    const batch = encodeRecordBatch(list, { ...producer, baseSequence: 77 });
    const expected = createRecordsBatch(libraryMessages(list, 'events', headerSets), {
      producerId: 4242n,
      producerEpoch: 3,
      sequences: new NumericMap([['events:5', 77]]),
      partitionLeaderEpoch: -1,
      compression: 'none',
    }).buffer;
    assert.deepEqual(batch, expected);
  });

  it('carries a valid CRC-32C and reads back with the client library', () => {
    const list = records(2);
    const batch = encodeRecordBatch(list, { ...producer, baseSequence: 0 });
    assert.equal(batch.readUInt32BE(17), crc32c(batch.subarray(21)));
    const read = readRecordsBatch(Reader.from(batch));
    assert.equal(read.magic, 2);
    assert.equal(read.producerId, 4242n);
    assert.equal(read.producerEpoch, 3);
    assert.equal(read.lastOffsetDelta, list.length - 1);
    assert.equal(read.maxTimestamp, BigInt((list[2] as BatchRecord).timestamp));
    assert.deepEqual(
      read.records.map((record) => record.value),
      list.map((record) => record.value),
    );
    assert.deepEqual(
      (read.records[0]?.headers ?? []).map(([name, value]) => [
        name?.toString(),
        value?.toString(),
      ]),
      headerPairs.map(([name, value]) => [name, value]),
    );
  });

  it('compresses the records with gzip and says so in the attributes', () => {
    const list = records(1);
    const batch = encodeRecordBatch(list, { ...producer, compression: 'gzip', baseSequence: 9 });
    assert.equal(batch.readInt16BE(21) & 0b111, 1, 'gzip attribute');
    assert.ok(batch.length < encodeRecordBatch(list, { ...producer, baseSequence: 9 }).length);
    assert.equal(batch.readUInt32BE(17), crc32c(batch.subarray(21)));
    const read = readRecordsBatch(Reader.from(batch));
    assert.equal(read.firstSequence, 9);
    assert.deepEqual(
      read.records.map((record) => record.key),
      list.map((record) => record.key),
    );
  });

  it('writes the Produce request as the client library does', () => {
    const first = records(3);
    const second = records(0).slice(0, 2);
    const body = encodeProduceRequest(-1, 7000, 'events', [
      { partition: 0, batch: encodeRecordBatch(second, { ...producer, baseSequence: 0 }) },
      { partition: 3, batch: encodeRecordBatch(first, { ...producer, baseSequence: 10 }) },
    ]);
    const expected = produceV11.createRequest(
      -1,
      7000,
      [
        ...libraryMessages(first, 'events', headerSets),
        ...libraryMessages(second, 'events', headerSets),
      ],
      {
        producerId: 4242n,
        producerEpoch: 3,
        sequences: new NumericMap([['events:3', 10]]),
        partitionLeaderEpoch: -1,
        compression: 'none',
      },
    ).buffer;
    assert.deepEqual(body, expected);
  });

  it('refuses an empty batch', () => {
    assert.throws(() => encodeRecordBatch([], { ...producer, baseSequence: 0 }), RangeError);
  });
});
