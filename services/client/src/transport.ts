/**
 * The one interface of the three ways to reach an edge — WebSocket, SSE and
 * long-poll — so the client's subscription logic is the same over each. A
 * transport opens one logical connection to one edge; the client decides
 * where, when to reconnect, and from which positions.
 */
import type { CloseAction, FanoutError } from '@fanout/shared/portable-core';
import type { StateDeltaKind } from '@fanout/shared/portable-state';
import type { FanoutEvent } from './fanout-event.js';
import type {
  StatePatchMessage,
  StateRefusedMessage,
  StateSnapshotMessage,
} from './state-frames.js';

export type TransportName = 'websocket' | 'sse' | 'long-poll';

export interface TransportSubscription {
  /** The channel or pattern, as subscribed. */
  readonly channel: string;
  /** A position (channels) or stream cursor (patterns over SSE) to resume after. */
  readonly since?: string;
  readonly types?: readonly string[];
  /** Without `since`: start with the channel's last `rewind` events. */
  readonly rewind?: number;
  /**
   * A state subscription: the channel's document (a snapshot), then one
   * patch per change in this form (over SSE and long-poll only
   * `json-patch` exists). `since` is then the position of the document held.
   */
  readonly state?: { readonly delta: StateDeltaKind };
  /**
   * An on-demand live resource (a state subscription; WebSocket only): its
   * upstream URL, sent instead of the channel, so every edge it reaches
   * holds a lease of it. `channel` is the one an edge named, or empty
   * before one did.
   */
  readonly resource?: string;
}

/** A position the edge could not serve: the application refetches state. */
export interface ResetInfo {
  /** `position_too_old`, `position_epoch_mismatch`, `position_partition_mismatch`, or `position_ahead`. */
  readonly code: string;
  readonly channel: string;
  readonly requested: string;
  /** The earliest position the edge can serve, when known. */
  readonly earliest: string;
}

export interface TransportClose {
  readonly action: CloseAction;
  readonly error: FanoutError;
  /** The connection never opened: this transport may be blocked on the way to the edge. */
  readonly neverOpened: boolean;
  /** For `resume_elsewhere`: where to reconnect. */
  readonly hint?: string;
}

export interface TransportListener {
  opened(info: { readonly edgeId: string; readonly tokenExpiresAt?: number }): void;
  /**
   * The edge accepted a subscription, continuing after `position` (when it
   * said); `hint` names an owner of its partitions when this edge is not one.
   */
  subscribed(channel: string, position: string | undefined, hint?: string): void;
  /**
   * An event. `subscription` names the subscription when the transport
   * knows it (SSE and long-poll streams carry one each); `cursor` is the
   * stream cursor after the event (SSE `id:`).
   */
  event(event: FanoutEvent, subscription?: string, cursor?: string): void;
  reset(reset: ResetInfo): void;
  /**
   * The edge refused one subscription (a resource subscription: `resource`
   * says which); the connection goes on.
   */
  failed(channel: string, error: FanoutError, resource?: string): void;
  /** The edge accepted a resource subscription: the channels serving it. */
  resourceSubscribed(resource: string, channel: string, statusChannel: string): void;
  /** A state subscription's document: its first snapshot, or a fresh start. */
  stateSnapshot(snapshot: StateSnapshotMessage): void;
  /** One change of a state subscription's document. */
  statePatch(patch: StatePatchMessage): void;
  /** A change of a state channel the edge's fold refused. */
  stateRefused(refused: StateRefusedMessage): void;
  /** Called once; the connection is over. */
  closed(close: TransportClose): void;
}

export interface TransportConnection {
  subscribe(subscriptions: readonly TransportSubscription[]): void;
  unsubscribe(channels: readonly string[]): void;
  /** Hands a fresh token to the open connection. */
  refreshToken(token: string): void;
  /** Closes without a `closed` callback. */
  close(): void;
}

export interface TransportContext {
  /** Base URL of the edge (`http(s)://host:port`). */
  readonly edge: string;
  /** The current token, read whenever the transport authenticates. */
  readonly token: () => string | undefined;
  readonly listener: TransportListener;
}

export interface Transport {
  readonly name: TransportName;
  connect(context: TransportContext): TransportConnection;
}
