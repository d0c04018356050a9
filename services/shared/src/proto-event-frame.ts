/**
 * The binary WebSocket frame of one event, built from the Kafka record value
 * without decoding or re-encoding the event: `ServerFrame.event` (field 4) is
 * an `Event`, and `Event.position` (field 10) comes after every stored field
 * but `state` (11), so the frame is the record value with the encoded
 * position appended, inside one length-delimited field (for a state change,
 * field 11 then comes before 10, which protobuf allows). An edge builds it once per event and sends the
 * same bytes to every subscriber. A batch frame (`ServerFrame.batch`, an
 * `EventBatch` whose `events` is field 4 as well) is those frames one after
 * another inside one more length-delimited field. Browser-safe.
 */
import { fanout } from '../generated/fanout.js';
import type { PositionValue } from './position.js';

/** Key of ServerFrame field 10 (`batch`), wire type 2 (length-delimited). */
const serverFrameBatchKey = (10 << 3) | 2;
/** Key of ServerFrame field 4 (`event`), wire type 2 (length-delimited). */
const serverFrameEventKey = (4 << 3) | 2;
/** Key of Event field 10 (`position`), wire type 2 (length-delimited). */
const eventPositionKey = (10 << 3) | 2;

function varintSize(value: number): number {
  let size = 1;
  for (let rest = value >>> 7; rest !== 0; rest >>>= 7) size++;
  return size;
}

function writeVarint(target: Uint8Array, at: number, value: number): number {
  let rest = value >>> 0;
  let next = at;
  while (rest > 0x7f) {
    target[next++] = (rest & 0x7f) | 0x80;
    rest >>>= 7;
  }
  target[next++] = rest;
  return next;
}

/**
 * Encodes `ServerFrame { event }` for a Kafka record value written by
 * `encodeEvent` (which never stores a position) and the record's position.
 * The bytes equal `ServerFrame.encode({ event: { ...decoded, position } })`
 * for an ordinary event; a state change decodes to the same message.
 */
export function encodeEventFrame(recordValue: Uint8Array, position: PositionValue): Uint8Array {
  const positionBytes = fanout.v1.Position.encode(position).finish();
  const eventSize =
    recordValue.length + 1 + varintSize(positionBytes.length) + positionBytes.length;
  const frame = new Uint8Array(1 + varintSize(eventSize) + eventSize);
  frame[0] = serverFrameEventKey;
  let at = writeVarint(frame, 1, eventSize);
  frame.set(recordValue, at);
  at += recordValue.length;
  frame[at++] = eventPositionKey;
  at = writeVarint(frame, at, positionBytes.length);
  frame.set(positionBytes, at);
  return frame;
}

/**
 * Encodes `ServerFrame { batch: EventBatch { events } }` from the frames
 * `encodeEventFrame` built for the events, in order: `EventBatch.events` is
 * field 4, as `ServerFrame.event`, so its bytes are the event frames one
 * after another. `bytes` is their total length when the caller knows it.
 */
export function encodeEventBatchFrame(
  eventFrames: readonly Uint8Array[],
  bytes = eventFrames.reduce((sum, frame) => sum + frame.length, 0),
): Uint8Array {
  const frame = new Uint8Array(1 + varintSize(bytes) + bytes);
  frame[0] = serverFrameBatchKey;
  let at = writeVarint(frame, 1, bytes);
  for (const eventFrame of eventFrames) {
    frame.set(eventFrame, at);
    at += eventFrame.length;
  }
  return frame;
}
