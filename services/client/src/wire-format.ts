/**
 * The WebSocket frame model of the client, independent of the subprotocol:
 * `fanout.json.v1` (built in) or `fanout.proto.v1` (`@fanout/client/proto`,
 * kept out of the main bundle because it carries protobufjs). The frame
 * model and the codecs are `@fanout/shared`'s, shared with the edge, state
 * frames included (`snapshot` subscriptions, `snapshot`, `patch`,
 * `stateChangeRefused`).
 */
import type {
  ClientMessage,
  ServerMessage,
  SubscriptionRequest,
  SubscriptionState,
} from '@fanout/shared/portable-core';
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
}
