/**
 * `fanout.proto.v1` (with batch frames `fanout.proto.v2`): binary ClientFrame / ServerFrame of
 * proto/fanout/v1/websocket.proto, with the codec the edge uses too
 * (`@fanout/shared/portable`). Imported from `@fanout/client/proto`, so that
 * protobufjs is only in the bundles of applications that choose it.
 */
import { FanoutError, wsProtoCodec } from '@fanout/shared/portable';
import type { ClientMessage, ServerMessage, WireFormat } from './wire-format.js';

/** Reads a frame from the edge; throws FanoutError('frame_invalid') when it does not decode. */
export function decodeProtoFrame(bytes: Uint8Array): ServerMessage {
  return wsProtoCodec.decodeServerFrame(bytes);
}

export function encodeProtoFrame(message: ClientMessage): Uint8Array {
  return wsProtoCodec.encodeClientFrame(message);
}

/** `fanout.proto.v1`; pass as `wireFormat` to `createClient`. */
export const protoWireFormat: WireFormat = Object.freeze({
  subprotocol: wsProtoCodec.subprotocol,
  batchSubprotocol: wsProtoCodec.batchSubprotocol,
  binary: true,
  encode: encodeProtoFrame,
  decode(data: string | Uint8Array): ServerMessage {
    if (typeof data === 'string') {
      throw new FanoutError('frame_invalid', 'fanout.proto.v1 sends binary frames');
    }
    return decodeProtoFrame(data);
  },
});
