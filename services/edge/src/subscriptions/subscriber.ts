/**
 * The port a transport implements for the subscription core: how events
 * reach its client (written one by one, and live through a uWS topic or
 * directly), and the outcomes of its requests as plain values that the
 * transport encodes in its own wire format.
 */
import type { ErrorCode, FanoutError } from '@fanout/shared';
import type { ClientIdentity } from '../admission/client-auth.js';
import type { EdgeEvent } from '../log/edge-event.js';
import type { ResetInfo, Subscription } from './subscription.js';

export type WireFormat = 'json' | 'proto';

/** The transports that follow subscriptions (GET and long-poll read without one). */
export type TransportName = 'ws' | 'sse';

/**
 * How live events reach a subscriber once a subscription is caught up: through
 * a uWS topic the hub publishes each frame to once (the subscriber joins and
 * leaves it), or written directly by the hub.
 */
export type LiveDelivery =
  | {
      readonly kind: 'topic';
      readonly format: WireFormat;
      /** The subscriber takes batch frames: it joins topics of batch frames (absent: false). */
      readonly batch?: boolean;
      /** Joins the uWS topic: from now on its frames reach the client. */
      subscribe(topic: string): void;
      /** Leaves the uWS topic. */
      unsubscribe(topic: string): void;
    }
  | { readonly kind: 'direct' };

/** Where one subscription stands when it starts: what a subscribe answer reports. */
export interface SubscribedState {
  /** The channel, pattern or channel list as the client named it. */
  readonly label: string;
  /** For a subscription of one channel: the position it continues after. */
  readonly position?: string;
  /** The stream cursor it continues after (every partition it follows). */
  readonly cursor: string;
  /** Base URL of an owner of its channels' partitions, when this edge is not one. */
  readonly hint?: string;
}

/** Where a subscription stands now (a disconnect's positions). */
export interface StandingState {
  readonly label: string;
  /** For a subscription of one channel: its position. */
  readonly position?: string;
  /** For a pattern: its stream cursor. */
  readonly cursor?: string;
}

export interface Subscriber {
  /** Spreads the clients of one partition over its owners. */
  readonly key: string;
  readonly transport: TransportName;
  /** How live events reach this subscriber. */
  readonly live: LiveDelivery;
  readonly closed: boolean;
  /** The client's identity now: authorization always asks it afresh (a token may be refreshed). */
  currentIdentity(): ClientIdentity;
  /** Bytes written to the client and not yet sent. */
  bufferedBytes(): number;
  /** Resolves when the buffered bytes fell under the limit, or the subscriber closed. */
  drained(): Promise<void>;
  /** One event during catch-up, or live when delivery is direct. */
  deliver(event: EdgeEvent, subscription: Subscription): void;
  /**
   * Runs `deliveries` (a run of `deliver` calls) so their frames leave in as
   * few writes as the transport allows: corked on a WebSocket, where each
   * uncorked send is a system call of its own, and as batch frames on one
   * that takes them; one corked write on SSE. `bufferedBytes` counts what
   * waits to be written meanwhile.
   */
  batch<T>(deliveries: () => T): T;
  /** Subscriptions of request `requestId` started: events follow. */
  subscribed(requestId: number, states: readonly SubscribedState[]): void;
  /**
   * A subscription's position cannot be served (requestId 0 once it had
   * started); the subscription has ended.
   */
  reset(requestId: number, subscription: Subscription, reset: ResetInfo): void;
  /** One subscription of request `requestId` was refused or ended with `error`. */
  refused(requestId: number, label: string, error: FanoutError): void;
  /** Ends the client's connection with a catalog code, resumably where the code says so. */
  close(code: ErrorCode, message: string, hint?: string): void;
}
