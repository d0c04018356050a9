/**
 * The WebSocket frame model shared by the edge and the client, independent
 * of the subprotocol (`fanout.json.v1`, `fanout.proto.v1`): what a client
 * sends (`ClientMessage`) and the control frames an edge answers with
 * (`ControlMessage`). Events are not here: the edge sends them pre-encoded
 * and the client reads them into its own event type. Types only; the codecs
 * are the edge's `ws-frames.ts` and the client's wire formats.
 */
import type { CloseAction } from './close-codes.js';

export interface SubscriptionRequest {
  readonly channel: string;
  /**
   * A position (`<epoch>:<partition>:<offset>`) to resume a channel after;
   * for a pattern, a stream cursor (`<epoch>:<p>:<o>[,<p>:<o>...]`).
   */
  readonly since?: string;
  /** Event types to deliver; none delivers every type. */
  readonly types?: readonly string[];
}

/** A client frame; `Request` narrows the subscriptions (the edge's are validated). */
export type ClientMessage<Request extends SubscriptionRequest = SubscriptionRequest> =
  | { readonly kind: 'connect'; readonly requestId: number; readonly token: string }
  | {
      readonly kind: 'subscribe';
      readonly requestId: number;
      readonly subscriptions: readonly Request[];
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
  /** Text position of a channel; absent for a pattern. */
  readonly position?: string;
  /** A pattern's stream cursor (`<epoch>:<p>:<o>[,<p>:<o>...]`), to resume it from. */
  readonly cursor?: string;
  /** Base URL of an owner of the channel's partition, when the answering edge is not one. */
  readonly hint?: string;
}

/** A server frame other than an event. */
export type ControlMessage =
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
