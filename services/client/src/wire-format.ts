/**
 * The WebSocket frame model of the client, independent of the subprotocol:
 * `fanout.json.v1` (built in) or `fanout.proto.v1` (`@fanout/client/proto`,
 * kept out of the main bundle because it carries protobufjs).
 */
import type { CloseAction } from '@fanout/shared/portable-core';
import type { FanoutEvent } from './fanout-event.js';

export interface SubscriptionRequest {
  readonly channel: string;
  /** A position (`<epoch>:<partition>:<offset>`) to resume after. */
  readonly since?: string;
  readonly types?: readonly string[];
}

export type ClientMessage =
  | { readonly kind: 'connect'; readonly requestId: number; readonly token: string }
  | {
      readonly kind: 'subscribe';
      readonly requestId: number;
      readonly subscriptions: readonly SubscriptionRequest[];
    }
  | {
      readonly kind: 'unsubscribe';
      readonly requestId: number;
      readonly channels: readonly string[];
    }
  | { readonly kind: 'ping'; readonly requestId: number }
  | { readonly kind: 'refreshToken'; readonly requestId: number; readonly token: string };

export interface SubscriptionState {
  readonly channel: string;
  readonly position?: string;
  /** An owner of the channel's partition, when the answering edge is not one. */
  readonly hint?: string;
}

export type ServerMessage =
  | {
      readonly kind: 'connected';
      readonly requestId: number;
      readonly edgeId: string;
      /** Milliseconds since the epoch. */
      readonly tokenExpiresAt?: number;
      readonly pingIntervalSeconds: number;
    }
  | {
      readonly kind: 'subscribed';
      readonly requestId: number;
      readonly subscriptions: readonly SubscriptionState[];
    }
  | {
      readonly kind: 'unsubscribed';
      readonly requestId: number;
      readonly channels: readonly string[];
    }
  | { readonly kind: 'event'; readonly event: FanoutEvent }
  | {
      readonly kind: 'error';
      readonly requestId: number;
      readonly code: string;
      readonly message: string;
      readonly channel?: string;
    }
  | {
      readonly kind: 'reset';
      readonly requestId: number;
      readonly channel: string;
      readonly requested: string;
      readonly earliest: string;
      readonly code: string;
    }
  | { readonly kind: 'pong'; readonly requestId: number }
  | { readonly kind: 'tokenRefreshed'; readonly requestId: number; readonly expiresAt?: number }
  | {
      readonly kind: 'disconnect';
      readonly closeCode: number;
      readonly code: string;
      readonly message: string;
      readonly action: CloseAction;
      readonly hint?: string;
      readonly positions: readonly SubscriptionState[];
    };

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
