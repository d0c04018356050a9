/**
 * Decoding of the IngestService request messages, which the gRPC server
 * receives as bytes: a message that is not valid protobuf is the caller's
 * error (`invalid_argument`, gRPC INVALID_ARGUMENT), never an internal one,
 * and a Publish message with more events than a batch may hold is refused
 * (`batch_too_large`) from a scan of its fields, before any event is decoded.
 */
import { FanoutError, fanout, stateOperationOf, type StateOperation } from '@fanout/shared';
import type { IncomingStateChange } from '../publishing/state-change.js';

const pb = fanout.v1;

function undecodable(what: string, error: unknown): FanoutError {
  return new FanoutError(
    'invalid_argument',
    `the ${what} message is not valid protobuf (${error instanceof Error ? error.message : String(error)})`,
    { details: { field: 'request' } },
  );
}

/** Reads a varint at `offset`; answers [value, next offset]. Throws when truncated or too long. */
function readVarint(bytes: Uint8Array, offset: number): [number, number] {
  let value = 0;
  let scale = 1;
  for (let at = offset; at < bytes.length && at < offset + 10; at++) {
    const byte = bytes[at] ?? 0;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return [value, at + 1];
    scale *= 128;
  }
  throw new Error(`invalid varint at offset ${offset}`);
}

/**
 * The number of times field `field` (length-delimited) occurs at the top
 * level of a protobuf message; throws when the message is malformed.
 */
export function countField(bytes: Uint8Array, field: number): number {
  let count = 0;
  let at = 0;
  while (at < bytes.length) {
    const [tag, afterTag] = readVarint(bytes, at);
    at = afterTag;
    const wireType = tag % 8;
    const number = Math.floor(tag / 8);
    if (number === 0) throw new Error(`invalid field number 0 at offset ${afterTag}`);
    switch (wireType) {
      case 0:
        at = readVarint(bytes, at)[1];
        break;
      case 1:
        at += 8;
        break;
      case 2: {
        const [length, afterLength] = readVarint(bytes, at);
        at = afterLength + length;
        if (number === field) count++;
        break;
      }
      case 5:
        at += 4;
        break;
      default:
        throw new Error(`invalid wire type ${wireType} at offset ${afterTag}`);
    }
    if (at > bytes.length) throw new Error('index out of range: the message is truncated');
  }
  return count;
}

/** The number of events of a Publish message, without decoding them. */
export function countPublishEvents(bytes: Uint8Array): number {
  try {
    return countField(bytes, 1);
  } catch (error) {
    throw undecodable('PublishRequest', error);
  }
}

/** Decodes a Publish message of at most `maxEvents` events. */
export function decodePublishRequest(
  bytes: Uint8Array,
  maxEvents: number,
): fanout.v1.PublishRequest {
  const events = countPublishEvents(bytes);
  if (events > maxEvents) {
    throw new FanoutError(
      'batch_too_large',
      `events: ${events} events, more than the limit of ${maxEvents}`,
      { details: { field: 'events', count: events, limit: maxEvents } },
    );
  }
  try {
    return pb.PublishRequest.decode(bytes);
  } catch (error) {
    throw undecodable('PublishRequest', error);
  }
}

/** Decodes a PublishStream message. */
export function decodePublishStreamRequest(bytes: Uint8Array): fanout.v1.PublishStreamRequest {
  try {
    return pb.PublishStreamRequest.decode(bytes);
  } catch (error) {
    throw undecodable('PublishStreamRequest', error);
  }
}

/** Decodes a ChangeState message into the change it asks for; the operation must be set. */
export function decodeChangeStateRequest(bytes: Uint8Array): IncomingStateChange {
  let request: fanout.v1.ChangeStateRequest;
  try {
    request = pb.ChangeStateRequest.decode(bytes);
  } catch (error) {
    throw undecodable('ChangeStateRequest', error);
  }
  const operation: StateOperation | undefined | null = stateOperationOf(request.operation);
  if (operation === undefined || operation === null) {
    throw new FanoutError(
      'invalid_argument',
      `operation: ${String(request.operation)} is not STATE_OPERATION_PUT, _MERGE or _DELETE`,
      { details: { field: 'operation' } },
    );
  }
  return {
    channel: request.channel,
    operation,
    data: request.data,
    id: request.id,
    type: request.type,
    headers: request.headers,
    arrayKey: request.arrayKey,
  };
}
