/**
 * The bytes of a Kafka Produce request (versions 9 to 11, which share one
 * request layout): record batches of format v2 written straight into one
 * buffer per partition, their sizes computed first, so a request of hundreds
 * of records costs one allocation per partition and one for the request.
 *
 * The layout is Kafka's (KIP-98 record batches, KIP-482 flexible versions):
 *
 *   batch   = baseOffset:int64 batchLength:int32 partitionLeaderEpoch:int32
 *             magic:int8 crc:uint32 attributes:int16 lastOffsetDelta:int32
 *             baseTimestamp:int64 maxTimestamp:int64 producerId:int64
 *             producerEpoch:int16 baseSequence:int32 recordCount:int32 record*
 *   record  = length:varint attributes:int8 timestampDelta:varlong
 *             offsetDelta:varint keyLength:varint key valueLength:varint value
 *             headerCount:varint (keyLength:varint key valueLength:varint value)*
 *
 * The CRC-32C covers everything from `attributes` to the end of the batch.
 * `test`s compare the output byte for byte with `@platformatic/kafka`'s own
 * encoder. Why we write these bytes ourselves: decision 005.
 */
import { gzipSync } from 'node:zlib';
import { crc32c } from '@platformatic/kafka';
import { varintSize, writeVarint } from '../proto-wire.js';

/** Compression of the records of a batch (the `kafka.compression` setting). */
export type BatchCompression = 'none' | 'gzip';

/**
 * The headers of a record as Kafka writes them: the count, then each name
 * and value with its length. The records of one publish share one block.
 */
export type EncodedHeaders = Buffer;

/** One record of a batch. */
export interface BatchRecord {
  readonly key: Buffer;
  readonly value: Buffer;
  /** Epoch milliseconds. */
  readonly timestamp: number;
  readonly headers: EncodedHeaders;
}

/** Who writes a batch and where its records start in the producer's numbering. */
export interface BatchProducer {
  readonly producerId: bigint;
  readonly producerEpoch: number;
  readonly baseSequence: number;
  readonly compression: BatchCompression;
}

/** One partition's part of a Produce request. */
export interface PartitionBatch {
  readonly partition: number;
  /** A record batch from `encodeRecordBatch`. */
  readonly batch: Buffer;
}

const batchHeaderBytes = 61;
/** Where the CRC-covered part of a batch begins (the attributes). */
const crcStart = 21;
const gzipAttribute = 1;
/** Kafka's "no partition leader epoch": the broker fills in its own. */
const noPartitionLeaderEpoch = -1;
const magicV2 = 2;

/** ZigZag, for the signed varints of records; exact for any safe integer. */
function zigZag(value: number): number {
  return value >= 0 ? value * 2 : -value * 2 - 1;
}

/** Writes `bytes` with its zigzag varint length in front. */
function writeBytes(buffer: Buffer, offset: number, bytes: Buffer): number {
  offset = writeVarint(buffer, offset, bytes.length * 2);
  return offset + bytes.copy(buffer, offset);
}

/** The header block of records that carry `headers` (names and values as UTF-8). */
export function encodeRecordHeaders(
  headers: readonly (readonly [name: string, value: string])[],
): EncodedHeaders {
  const parts = headers.map(([name, value]) => [Buffer.from(name), Buffer.from(value)] as const);
  let size = varintSize(zigZag(parts.length));
  for (const [name, value] of parts) {
    size += varintSize(name.length * 2) + name.length;
    size += varintSize(value.length * 2) + value.length;
  }
  const block = Buffer.allocUnsafe(size);
  let offset = writeVarint(block, 0, zigZag(parts.length));
  for (const [name, value] of parts) {
    offset = writeBytes(block, offset, name);
    offset = writeBytes(block, offset, value);
  }
  return block;
}

/** Size of one record's body (everything after its length). */
function recordBodySize(record: BatchRecord, offsetDelta: number, baseTimestamp: number): number {
  return (
    1 +
    varintSize(zigZag(record.timestamp - baseTimestamp)) +
    varintSize(offsetDelta * 2) +
    varintSize(record.key.length * 2) +
    record.key.length +
    varintSize(record.value.length * 2) +
    record.value.length +
    record.headers.length
  );
}

/** Writes the records from `offset`; `sizes` holds each body size. */
function writeRecords(
  target: Buffer,
  offset: number,
  records: readonly BatchRecord[],
  sizes: Uint32Array,
  baseTimestamp: number,
): number {
  let i = 0;
  for (const record of records) {
    offset = writeVarint(target, offset, (sizes[i] ?? 0) * 2);
    target[offset++] = 0;
    offset = writeVarint(target, offset, zigZag(record.timestamp - baseTimestamp));
    offset = writeVarint(target, offset, i * 2);
    offset = writeBytes(target, offset, record.key);
    offset = writeBytes(target, offset, record.value);
    offset += record.headers.copy(target, offset);
    i++;
  }
  return offset;
}

/**
 * A record batch (format v2) of `records`, numbered from
 * `producer.baseSequence` by an idempotent producer.
 */
export function encodeRecordBatch(
  records: readonly BatchRecord[],
  producer: BatchProducer,
): Buffer {
  const count = records.length;
  const first = records[0];
  if (first === undefined) throw new RangeError('a record batch needs at least one record');
  const baseTimestamp = first.timestamp;
  let maxTimestamp = baseTimestamp;
  const sizes = new Uint32Array(count);
  let recordsSize = 0;
  let i = 0;
  for (const record of records) {
    if (record.timestamp > maxTimestamp) maxTimestamp = record.timestamp;
    const size = recordBodySize(record, i, baseTimestamp);
    sizes[i++] = size;
    recordsSize += varintSize(size * 2) + size;
  }

  let batch: Buffer;
  let attributes = 0;
  if (producer.compression === 'gzip') {
    const plain = Buffer.allocUnsafe(recordsSize);
    writeRecords(plain, 0, records, sizes, baseTimestamp);
    const compressed = gzipSync(plain);
    batch = Buffer.allocUnsafe(batchHeaderBytes + compressed.length);
    compressed.copy(batch, batchHeaderBytes);
    attributes = gzipAttribute;
  } else {
    batch = Buffer.allocUnsafe(batchHeaderBytes + recordsSize);
    writeRecords(batch, batchHeaderBytes, records, sizes, baseTimestamp);
  }

  batch.writeBigInt64BE(0n, 0);
  batch.writeInt32BE(batch.length - 12, 8);
  batch.writeInt32BE(noPartitionLeaderEpoch, 12);
  batch.writeInt8(magicV2, 16);
  batch.writeInt16BE(attributes, 21);
  batch.writeInt32BE(count - 1, 23);
  batch.writeBigInt64BE(BigInt(baseTimestamp), 27);
  batch.writeBigInt64BE(BigInt(maxTimestamp), 35);
  batch.writeBigInt64BE(producer.producerId, 43);
  batch.writeInt16BE(producer.producerEpoch, 51);
  batch.writeInt32BE(producer.baseSequence, 53);
  batch.writeInt32BE(count, 57);
  batch.writeUInt32BE(crc32c(batch.subarray(crcStart)), 17);
  return batch;
}

/** The body of a Produce request (v9–v11) for one topic, without the request header. */
export function encodeProduceRequest(
  acks: number,
  timeoutMs: number,
  topic: string,
  batches: readonly PartitionBatch[],
): Buffer {
  const topicName = Buffer.from(topic, 'utf8');
  let size =
    1 + // transactional_id: null
    2 + // acks
    4 + // timeout_ms
    varintSize(2) + // one topic
    varintSize(topicName.length + 1) +
    topicName.length +
    varintSize(batches.length + 1) +
    1 + // topic tagged fields
    1; // request tagged fields
  for (const { batch } of batches) {
    size += 4 + varintSize(batch.length + 1) + batch.length + 1;
  }
  const body = Buffer.allocUnsafe(size);
  let offset = 0;
  body[offset++] = 0;
  offset = body.writeInt16BE(acks, offset);
  offset = body.writeInt32BE(timeoutMs, offset);
  offset = writeVarint(body, offset, 2);
  offset = writeVarint(body, offset, topicName.length + 1);
  offset += topicName.copy(body, offset);
  offset = writeVarint(body, offset, batches.length + 1);
  for (const { partition, batch } of batches) {
    offset = body.writeInt32BE(partition, offset);
    offset = writeVarint(body, offset, batch.length + 1);
    offset += batch.copy(body, offset);
    body[offset++] = 0;
  }
  body[offset++] = 0;
  body[offset] = 0;
  return body;
}
