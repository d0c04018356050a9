/**
 * The WebSocket frame model of the client, independent of the subprotocol:
 * `fanout.json.v1` (built in) or `fanout.proto.v1` (`@fanout/client/proto`,
 * kept out of the main bundle because it carries protobufjs).
 */
import type {
  ClientMessage,
  ControlMessage,
  SubscriptionRequest,
  SubscriptionState,
} from '@fanout/shared/portable-core';
import type { FanoutEvent } from './fanout-event.js';

export type { ClientMessage, SubscriptionRequest, SubscriptionState };

/** A server frame: an event, or one of the control frames. */
export type ServerMessage =
  ControlMessage | { readonly kind: 'event'; readonly event: FanoutEvent };

/** One WebSocket subprotocol: how client frames are written and server frames read. */
export interface WireFormat {
  /** The `Sec-WebSocket-Protocol` offered. */
  readonly subprotocol: string;
  /** True for binary frames. */
  readonly binary: boolean;
  encode(message: ClientMessage): string | Uint8Array;
  /** Throws FanoutError('frame_invalid') on a frame that does not decode. */
  decode(data: string | Uint8Array): ServerMessage;
}
