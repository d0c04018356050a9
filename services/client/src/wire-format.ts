/**
 * The WebSocket frame model of the client, independent of the subprotocol:
 * `fanout.json.v1` (built in) or `fanout.proto.v1` (`@fanout/client/proto`,
 * kept out of the main bundle because it carries protobufjs). The frame
 * model and the codecs are `@fanout/shared`'s, shared with the edge.
 */
import type {
  ClientMessage,
  ServerMessage,
  SubscriptionRequest,
  SubscriptionState,
} from '@fanout/shared/portable-core';
import type { StateFrame, StateSnapshotMessage, StateSubscriptionRequest } from './state-frames.js';

export type { ClientMessage, ServerMessage, SubscriptionRequest, SubscriptionState };

/** One WebSocket subprotocol: how client frames are written and server frames read. */
export interface WireFormat {
  /** The `Sec-WebSocket-Protocol` offered: one event per frame. */
  readonly subprotocol: string;
  /**
   * The same format with batch frames (`fanout.json.v2`, `fanout.proto.v2`),
   * offered before `subprotocol` unless the client option `batchFrames` is
   * false; `decode` reads `batch` frames either way.
   */
  readonly batchSubprotocol?: string;
  /** True for binary frames. */
  readonly binary: boolean;
  encode(message: ClientMessage): string | Uint8Array;
  /** Throws FanoutError('frame_invalid') on a frame that does not decode. */
  decode(data: string | Uint8Array): ServerMessage;
  /** The frames of state subscriptions; a format without them cannot carry `client.state()`. */
  readonly state?: StateWireFormat;
}

/** How a subprotocol writes state subscriptions and reads the edge's state frames. */
export interface StateWireFormat {
  /** A `subscribe` frame of state subscriptions (`snapshot: true`, with `delta`). */
  encodeSubscribe(
    requestId: number,
    subscriptions: readonly StateSubscriptionRequest[],
  ): string | Uint8Array;
  /**
   * The state part of a frame from the edge: a state frame; the snapshots of a
   * `subscribed` frame (the frame is then read by `decode` too); or
   * `undefined` for every other frame, told apart without decoding it.
   * Throws FanoutError('frame_invalid') on a state frame that does not decode.
   */
  decode(
    data: string | Uint8Array,
  ):
    | StateFrame
    | { readonly kind: 'snapshots'; readonly snapshots: StateSnapshotMessage[] }
    | undefined;
}
