/**
 * `fanout.json.v1` (with batch frames `fanout.json.v2`): JSON text frames,
 * each an object with exactly one key,
 * the frame's name (protobuf JSON mapping, positions as text), with the codec
 * the edge uses too (`@fanout/shared/portable-core`, no protobufjs).
 */
import { FanoutError, wsJsonCodec } from '@fanout/shared/portable-core';
import type { ClientMessage, ServerMessage, WireFormat } from './wire-format.js';

export function encodeJsonFrame(message: ClientMessage): string {
  return wsJsonCodec.encodeClientFrame(message);
}

/** Reads a frame from the edge; throws FanoutError('frame_invalid') when it does not decode. */
export function decodeJsonFrame(text: string): ServerMessage {
  return wsJsonCodec.decodeServerFrame(text);
}

/** The default wire format. */
export const jsonWireFormat: WireFormat = Object.freeze({
  subprotocol: wsJsonCodec.subprotocol,
  batchSubprotocol: wsJsonCodec.batchSubprotocol,
  binary: false,
  encode: encodeJsonFrame,
  decode(data: string | Uint8Array): ServerMessage {
    if (typeof data !== 'string') {
      throw new FanoutError(
        'frame_invalid',
        'frame from the edge: fanout.json.v1 sends text frames',
      );
    }
    return decodeJsonFrame(data);
  },
});
