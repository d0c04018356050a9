/**
 * The generated protobuf codecs of the contract in `proto/fanout/v1`, under
 * short names, and the codec of the Kafka record value. Browser-safe: only
 * `protobufjs/minimal` underneath. 64-bit fields (offsets, sequences,
 * timestamps) are plain numbers: `../generated/fanout.js` configures
 * protobufjs so before defining the codecs (docs/decisions/001-protobuf-codegen.md).
 */
import { fanout } from '../generated/fanout.js';

export { fanout };
export const pb = fanout.v1;

export const Event = fanout.v1.Event;
export type Event = fanout.v1.Event;
export const Position = fanout.v1.Position;
export type Position = fanout.v1.Position;
export const PublishEvent = fanout.v1.PublishEvent;
export type PublishEvent = fanout.v1.PublishEvent;
export const PublishRequest = fanout.v1.PublishRequest;
export type PublishRequest = fanout.v1.PublishRequest;
export const PublishResponse = fanout.v1.PublishResponse;
export type PublishResponse = fanout.v1.PublishResponse;
export const PublishStreamRequest = fanout.v1.PublishStreamRequest;
export type PublishStreamRequest = fanout.v1.PublishStreamRequest;
export const PublishStreamResponse = fanout.v1.PublishStreamResponse;
export type PublishStreamResponse = fanout.v1.PublishStreamResponse;
export const ClientFrame = fanout.v1.ClientFrame;
export type ClientFrame = fanout.v1.ClientFrame;
export const ServerFrame = fanout.v1.ServerFrame;
export type ServerFrame = fanout.v1.ServerFrame;
export const DisconnectAction = fanout.v1.DisconnectAction;
export type DisconnectAction = fanout.v1.DisconnectAction;

/**
 * Encodes an event envelope as the value of a Kafka record. A `position` is
 * left out: it says where the log put the event, so it is never stored.
 */
export function encodeEvent(event: fanout.v1.Event.$Properties): Uint8Array {
  const stored = event.position == null ? event : { ...event, position: null };
  return fanout.v1.Event.encode(stored).finish();
}

/** Decodes the value of a Kafka record; throws on malformed bytes. */
export function decodeEvent(bytes: Uint8Array): fanout.v1.Event {
  return fanout.v1.Event.decode(bytes);
}
