/**
 * For tests of the WebSocket codecs: a message written by each codec
 * (`fanout.json`, `fanout.proto`) and read back by the same codec. Fails the
 * test unless both read the same; returns what they read.
 */
import assert from 'node:assert/strict';
import { wsJsonCodec } from '../ws-json-codec.js';
import type {
  ClientMessage,
  ControlMessage,
  ReceivedClientMessage,
  ServerMessage,
} from '../ws-messages.js';
import { wsProtoCodec } from '../ws-proto-codec.js';

/** A client frame as the edge reads it, the same from both codecs. */
export function clientRoundTrip(message: ClientMessage): ReceivedClientMessage {
  const json = wsJsonCodec.decodeClientFrame(wsJsonCodec.encodeClientFrame(message));
  const proto = wsProtoCodec.decodeClientFrame(wsProtoCodec.encodeClientFrame(message));
  assert.deepEqual(proto, json, 'both codecs read the client frame alike');
  return json;
}

/** A server frame as a client reads it, the same from both codecs. */
export function serverRoundTrip(message: ControlMessage): ServerMessage {
  const json = wsJsonCodec.decodeServerFrame(wsJsonCodec.encodeServerFrame(message));
  const proto = wsProtoCodec.decodeServerFrame(wsProtoCodec.encodeServerFrame(message));
  assert.deepEqual(proto, json, 'both codecs read the server frame alike');
  return json;
}
