/**
 * The `fanout.v1.Event` envelope of a record, written straight into one
 * buffer: the same bytes as the generated encoder (`encodeEvent` of
 * @fanout/shared: fields in number order, proto3 defaults left out), without
 * its per-field bookkeeping and garbage. What is the same for every event of
 * a publish (time, trace context, producer) is encoded once per publish
 * (`EnvelopeTail`); the channel's bytes come from the writer's route cache.
 * The tests compare both encoders byte for byte.
 */
import { stateOperationNumbers, type StateOperation } from '@fanout/shared';
import { fieldSize, varintSize, writeBytes, writeString, writeVarint } from '../proto-wire.js';

/** Fields 6 (time), 8 (trace) and 9 (producer), shared by the events of one publish. */
export interface EnvelopeTail {
  /** Field 6, always present. */
  readonly time: Buffer;
  /** Fields 8 and 9 (either may be empty). */
  readonly traceAndProducer: Buffer;
}

/** The event's own fields (a prepared event has them). */
export interface EnvelopeFields {
  readonly id: string;
  readonly type: string;
  readonly data: Uint8Array;
  readonly contentType: string;
  readonly headers: Readonly<Record<string, string>>;
  /** Field 11, for a state change; absent for an ordinary event. */
  readonly state?: StateOperation | undefined;
  /** Field 12, a state change's arrayKey (at most 256 characters); absent or empty for none. */
  readonly arrayKey?: string | undefined;
}

/** Encodes the per-publish fields; `time` in epoch milliseconds. */
export function encodeEnvelopeTail(
  timeMs: number,
  producer: string,
  traceparent: string | undefined,
  tracestate: string | undefined,
): EnvelopeTail {
  const seconds = Math.floor(timeMs / 1000);
  const nanos = (timeMs % 1000) * 1_000_000;
  const timeBody =
    (seconds !== 0 ? 1 + varintSize(seconds) : 0) + (nanos !== 0 ? 1 + varintSize(nanos) : 0);
  const time = Buffer.alloc(fieldSize(timeBody));
  let offset = writeVarint(time, 0, (6 << 3) | 2);
  offset = writeVarint(time, offset, timeBody);
  if (seconds !== 0) {
    time[offset++] = 1 << 3;
    offset = writeVarint(time, offset, seconds);
  }
  if (nanos !== 0) {
    time[offset++] = 2 << 3;
    writeVarint(time, offset, nanos);
  }

  const parentLength = traceparent ? Buffer.byteLength(traceparent, 'utf8') : 0;
  const stateLength = traceparent && tracestate ? Buffer.byteLength(tracestate, 'utf8') : 0;
  const traceBody =
    (parentLength > 0 ? fieldSize(parentLength) : 0) +
    (stateLength > 0 ? fieldSize(stateLength) : 0);
  const producerLength = Buffer.byteLength(producer, 'utf8');
  const traceAndProducer = Buffer.alloc(
    (traceparent ? fieldSize(traceBody) : 0) + (producerLength > 0 ? fieldSize(producerLength) : 0),
  );
  offset = 0;
  if (traceparent) {
    traceAndProducer[offset++] = (8 << 3) | 2;
    offset = writeVarint(traceAndProducer, offset, traceBody);
    if (parentLength > 0)
      offset = writeString(traceAndProducer, offset, 10, traceparent, parentLength);
    if (stateLength > 0 && tracestate) {
      offset = writeString(traceAndProducer, offset, 18, tracestate, stateLength);
    }
  }
  if (producerLength > 0)
    writeString(traceAndProducer, offset, (9 << 3) | 2, producer, producerLength);
  return { time, traceAndProducer };
}

/**
 * The envelope of one event: fields 1, 3-5, 7, 11 and 12 from the event, 2 from
 * the channel's UTF-8 bytes, 6, 8 and 9 from the tail.
 */
export function encodeEnvelope(
  fields: EnvelopeFields,
  channel: Buffer,
  tail: EnvelopeTail,
): Buffer {
  const idLength = Buffer.byteLength(fields.id, 'utf8');
  const typeLength = fields.type === '' ? 0 : Buffer.byteLength(fields.type, 'utf8');
  const contentTypeLength =
    fields.contentType === '' ? 0 : Buffer.byteLength(fields.contentType, 'utf8');
  const channelLength = channel.byteLength;
  const dataLength = fields.data.byteLength;
  const headerNames = Object.keys(fields.headers);
  // Field 11 is a varint of one byte (the enum's values are below 128).
  const state = fields.state === undefined ? 0 : stateOperationNumbers[fields.state];
  const arrayKey = fields.arrayKey ?? '';
  const arrayKeyLength = arrayKey === '' ? 0 : Buffer.byteLength(arrayKey, 'utf8');
  let headersSize = 0;
  let headerLengths: number[] | undefined;
  if (headerNames.length > 0) {
    headerLengths = new Array<number>(headerNames.length * 2);
    for (let i = 0; i < headerNames.length; i++) {
      const name = headerNames[i] ?? '';
      const nameLength = Buffer.byteLength(name, 'utf8');
      const valueLength = Buffer.byteLength(fields.headers[name] ?? '', 'utf8');
      headerLengths[2 * i] = nameLength;
      headerLengths[2 * i + 1] = valueLength;
      headersSize += fieldSize(fieldSize(nameLength) + fieldSize(valueLength));
    }
  }
  const size =
    (idLength > 0 ? fieldSize(idLength) : 0) +
    (channelLength > 0 ? fieldSize(channelLength) : 0) +
    (typeLength > 0 ? fieldSize(typeLength) : 0) +
    (dataLength > 0 ? fieldSize(dataLength) : 0) +
    (contentTypeLength > 0 ? fieldSize(contentTypeLength) : 0) +
    tail.time.byteLength +
    headersSize +
    tail.traceAndProducer.byteLength +
    (state !== 0 ? 2 : 0) +
    (arrayKeyLength > 0 ? fieldSize(arrayKeyLength) : 0);
  const buffer = Buffer.allocUnsafe(size);
  let offset = 0;
  if (idLength > 0) offset = writeString(buffer, offset, (1 << 3) | 2, fields.id, idLength);
  if (channelLength > 0) offset = writeBytes(buffer, offset, (2 << 3) | 2, channel);
  if (typeLength > 0) offset = writeString(buffer, offset, (3 << 3) | 2, fields.type, typeLength);
  if (dataLength > 0) offset = writeBytes(buffer, offset, (4 << 3) | 2, fields.data);
  if (contentTypeLength > 0) {
    offset = writeString(buffer, offset, (5 << 3) | 2, fields.contentType, contentTypeLength);
  }
  buffer.set(tail.time, offset);
  offset += tail.time.byteLength;
  if (headerLengths !== undefined) {
    for (let i = 0; i < headerNames.length; i++) {
      const name = headerNames[i] ?? '';
      const nameLength = headerLengths[2 * i] ?? 0;
      const valueLength = headerLengths[2 * i + 1] ?? 0;
      buffer[offset++] = (7 << 3) | 2;
      offset = writeVarint(buffer, offset, fieldSize(nameLength) + fieldSize(valueLength));
      offset = writeString(buffer, offset, 10, name, nameLength);
      offset = writeString(buffer, offset, 18, fields.headers[name] ?? '', valueLength);
    }
  }
  buffer.set(tail.traceAndProducer, offset);
  offset += tail.traceAndProducer.byteLength;
  if (state !== 0) {
    buffer[offset++] = 11 << 3;
    buffer[offset++] = state;
  }
  if (arrayKeyLength > 0) writeString(buffer, offset, (12 << 3) | 2, arrayKey, arrayKeyLength);
  return buffer;
}
