/**
 * The `PublishResponse` of a `Publish` call, written straight into one
 * buffer: the bytes of the generated encoder (fields in number order,
 * proto3 defaults left out, `position` always present) without building a
 * `PublishResult` and a `Position` object per event. All events of a
 * response share the epoch, whose field is encoded once. The tests compare
 * both encoders byte for byte.
 */
import type { PositionValue } from '@fanout/shared';
import { fieldSize, varintSize, writeString, writeVarint } from '../proto-wire.js';

/** What a result holds: the event's id and position, and whether it was a retry. */
export interface PublishResultValue {
  readonly id: string;
  readonly position: PositionValue;
  readonly duplicate: boolean;
}

/** Bytes of an int64 field's varint: ten for a negative value (two's complement). */
function int64Size(value: number): number {
  return value < 0 ? 10 : varintSize(value);
}

function writeInt64(buffer: Buffer, offset: number, value: number): number {
  if (value >= 0) return writeVarint(buffer, offset, value);
  let rest = BigInt.asUintN(64, BigInt(value));
  for (let i = 0; i < 9; i++) {
    buffer[offset++] = Number(rest & 0x7fn) | 0x80;
    rest >>= 7n;
  }
  buffer[offset++] = Number(rest);
  return offset;
}

/** The epoch field (Position field 1) of the last epoch seen; one per topic in practice. */
let epochField: { readonly epoch: string; readonly bytes: Buffer } = {
  epoch: '',
  bytes: Buffer.alloc(0),
};

function encodedEpoch(epoch: string): Buffer {
  if (epochField.epoch !== epoch) {
    const length = Buffer.byteLength(epoch, 'utf8');
    const bytes = Buffer.alloc(length > 0 ? fieldSize(length) : 0);
    if (length > 0) writeString(bytes, 0, (1 << 3) | 2, epoch, length);
    epochField = { epoch, bytes };
  }
  return epochField.bytes;
}

function positionSize(position: PositionValue, epoch: Buffer): number {
  return (
    epoch.byteLength +
    (position.partition !== 0 ? 1 + varintSize(position.partition) : 0) +
    (position.offset !== 0 ? 1 + int64Size(position.offset) : 0)
  );
}

/** Encodes `PublishResponse { results }`, one result per event in order. */
export function encodePublishResponse(results: readonly PublishResultValue[]): Buffer {
  const count = results.length;
  // Per result: the id's UTF-8 length, the Position body and the result body sizes.
  const sizes = new Array<number>(count * 3);
  let total = 0;
  let i = 0;
  for (const result of results) {
    const idLength = result.id === '' ? 0 : Buffer.byteLength(result.id, 'utf8');
    const position = positionSize(result.position, encodedEpoch(result.position.epoch));
    const body =
      (idLength > 0 ? fieldSize(idLength) : 0) + fieldSize(position) + (result.duplicate ? 2 : 0);
    sizes[3 * i] = idLength;
    sizes[3 * i + 1] = position;
    sizes[3 * i + 2] = body;
    total += fieldSize(body);
    i++;
  }
  const buffer = Buffer.allocUnsafe(total);
  let offset = 0;
  i = 0;
  for (const result of results) {
    const { partition, offset: kafkaOffset } = result.position;
    const idLength = sizes[3 * i] ?? 0;
    buffer[offset++] = (1 << 3) | 2;
    offset = writeVarint(buffer, offset, sizes[3 * i + 2] ?? 0);
    if (idLength > 0) offset = writeString(buffer, offset, (1 << 3) | 2, result.id, idLength);
    buffer[offset++] = (2 << 3) | 2;
    offset = writeVarint(buffer, offset, sizes[3 * i + 1] ?? 0);
    const epoch = encodedEpoch(result.position.epoch);
    for (const byte of epoch) buffer[offset++] = byte;
    if (partition !== 0) {
      buffer[offset++] = 2 << 3;
      offset = writeVarint(buffer, offset, partition);
    }
    if (kafkaOffset !== 0) {
      buffer[offset++] = 3 << 3;
      offset = writeInt64(buffer, offset, kafkaOffset);
    }
    if (result.duplicate) {
      buffer[offset++] = 3 << 3;
      buffer[offset++] = 1;
    }
    i++;
  }
  return buffer;
}
