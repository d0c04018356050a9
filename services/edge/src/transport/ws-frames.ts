/**
 * The WebSocket subprotocols of the edge: `fanout.json.v1` (JSON text,
 * positions as text) and `fanout.proto.v1` (binary ClientFrame /
 * ServerFrame from proto/fanout/v1/websocket.proto), one event per frame;
 * `fanout.json.v2` and `fanout.proto.v2` are the same formats where the
 * events of one delivery may come in one `batch` frame. Client frames are
 * decoded into `ClientMessage`; server frames are built as `ServerMessage`
 * and encoded for the connection's format. The codecs, with their one set of
 * validation rules (a frame that does not decode is a `frame_invalid` error
 * naming what is wrong), are `@fanout/shared`'s, which the client uses too;
 * this module picks the codec of a connection's format.
 */
import {
  FanoutError,
  wsJsonCodec,
  wsProtoCodec,
  type ControlMessage,
  type ReceivedClientMessage,
  type ReceivedSubscriptionRequest,
  type SubscriptionState,
} from '@fanout/shared';
import type { WireFormat } from '../subscriptions/subscriber.js';

/** What a subprotocol chooses: the format, and whether events may come in batch frames. */
export interface Subprotocol {
  readonly format: WireFormat;
  readonly batch: boolean;
}

export const subprotocols: Readonly<Record<string, Subprotocol>> = {
  [wsJsonCodec.subprotocol]: { format: 'json', batch: false },
  [wsJsonCodec.batchSubprotocol]: { format: 'json', batch: true },
  [wsProtoCodec.subprotocol]: { format: 'proto', batch: false },
  [wsProtoCodec.batchSubprotocol]: { format: 'proto', batch: true },
};

/** A subscription as the edge decoded it: position validated, types always listed. */
export type SubscriptionRequest = ReceivedSubscriptionRequest;

/** A client frame as the edge decoded it. */
export type ClientMessage = ReceivedClientMessage;

/** A frame the edge builds: every server frame but events, which go out pre-encoded. */
export type ServerMessage = ControlMessage;

export type { SubscriptionState };

export function decodeClientFrame(
  format: WireFormat,
  message: ArrayBuffer,
  isBinary: boolean,
): ClientMessage {
  if (format === 'json') {
    if (isBinary) throw new FanoutError('frame_invalid', 'fanout.json takes text frames');
    return wsJsonCodec.decodeClientFrame(Buffer.from(message).toString('utf8'));
  }
  if (!isBinary) throw new FanoutError('frame_invalid', 'fanout.proto takes binary frames');
  return wsProtoCodec.decodeClientFrame(new Uint8Array(message));
}

export function encodeServerFrame(format: WireFormat, message: ServerMessage): string | Uint8Array {
  return format === 'json'
    ? wsJsonCodec.encodeServerFrame(message)
    : wsProtoCodec.encodeServerFrame(message);
}
