/**
 * The WebSocket frame model shared by the edge and the client, independent
 * of the subprotocol (`fanout.json.v1`, `fanout.proto.v1`): what a client
 * sends (`ClientMessage`) and the control frames an edge answers with
 * (`ControlMessage`, and with events `ServerMessage`). The edge sends events
 * pre-encoded (`encodeEventFrame`, the edge's event JSON); a client reads them
 * as `FanoutEvent`. Types only; the codecs of both directions are
 * `ws-json-codec.ts` and `ws-proto-codec.ts` (`WsFrameCodec`).
 */
import type { CloseAction } from './close-codes.js';
import type { FanoutEvent } from './fanout-event.js';
import type { JsonValue } from './state/json-value.js';
import type { StateDeltaKind } from './state/state-delta.js';

export interface SubscriptionRequest {
  /** The channel or pattern; empty for a `resource` subscription. */
  readonly channel: string;
  /**
   * An on-demand live resource: the upstream URL, instead of `channel` (left
   * empty). A state subscription of the channel a bridge publishes it to, as
   * with `snapshot`; `subscribed` names that channel.
   */
  readonly resource?: string;
  /**
   * A position (`<epoch>:<partition>:<offset>`) to resume a channel after;
   * for a pattern, a stream cursor (`<epoch>:<p>:<o>[,<p>:<o>...]`).
   */
  readonly since?: string;
  /** Event types to deliver; none delivers every type. */
  readonly types?: readonly string[];
  /**
   * A state subscription of the channel: its snapshot in `subscribed`, then
   * one `patch` per change (with `since`: the patches after it).
   */
  readonly snapshot?: boolean;
  /** How a state subscription receives changes; absent: `json-patch`. Only with `snapshot`. */
  readonly delta?: StateDeltaKind;
  /**
   * A channel's last N events first, then live ones (not with a pattern or
   * `snapshot`; a `since` wins over it). Absent or 0: live events only.
   */
  readonly rewind?: number;
}

/** What the backwards scan of a `rewind` found (`subscribed`). */
export interface RewindResult {
  /** The rewind asked for. */
  readonly requested: number;
  /** Events of the channel (and types) that follow `subscribed`, at most `requested`. */
  readonly found: number;
  /** The scan stopped at `edge.maxRewindScan` records before it found `requested` events. */
  readonly truncated: boolean;
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

/** A subscription as a codec decodes it: position validated, types always listed. */
export interface ReceivedSubscriptionRequest extends SubscriptionRequest {
  readonly types: readonly string[];
}

/** A client frame as a codec decodes it. */
export type ReceivedClientMessage = ClientMessage<ReceivedSubscriptionRequest>;

/**
 * A state channel's document at a position. `Json` is how its document is
 * held: the edge encodes JSON text (`string`, the canonical JSON it holds,
 * written into the frame as is); a decoder gives the value (`JsonValue`).
 */
export interface StateSnapshotFrame<Json = string> {
  /** The subscribe it answers; 0 for a later reset snapshot. */
  readonly requestId: number;
  readonly channel: string;
  readonly position: string;
  /** False: no document (never set, or deleted). */
  readonly exists: boolean;
  /** The document; absent when `exists` is false. */
  readonly state?: Json;
  /** Replaces everything before: apply as a fresh start. */
  readonly reset: boolean;
}

/** One change of a state subscription's document (`Json` as in `StateSnapshotFrame`). */
export interface StatePatchFrame<Json = string> {
  readonly channel: string;
  /** The position of the state after this patch. */
  readonly position: string;
  /** The position of the state it applies to: the previous snapshot's or patch's. */
  readonly base: string;
  /** `json-patch`: RFC 6902 operations; `merge-patch`: an RFC 7396 patch; `full`: the document. */
  readonly delta: StateDeltaKind;
  /** The operations, the merge patch or the document; absent for `full` when `exists` is false. */
  readonly patch?: Json;
  /** Whether the document exists after this patch (false after a delete). */
  readonly exists: boolean;
}

/** A change of a state subscription's channel that could not be folded. */
export interface StateChangeRefusedFrame {
  readonly channel: string;
  /** The refused change's position; the state stays at the previous one. */
  readonly position: string;
  readonly reason: string;
  readonly message: string;
}

export interface SubscriptionState<Json = string> {
  readonly channel: string;
  /** Text position of a channel; absent for a pattern. */
  readonly position?: string;
  /** A pattern's stream cursor (`<epoch>:<p>:<o>[,<p>:<o>...]`), to resume it from. */
  readonly cursor?: string;
  /** Base URL of an owner of the channel's partition, when the answering edge is not one. */
  readonly hint?: string;
  /** A state subscription's snapshot, when it starts from one (`position` is its position). */
  readonly snapshot?: StateSnapshotFrame<Json>;
  /** A subscription started with `rewind`: what the scan found. */
  readonly rewind?: RewindResult;
  /** A resource subscription: its upstream URL as the edge understood it. */
  readonly resource?: string;
  /** A resource subscription: the channel of the resource's status events. */
  readonly statusChannel?: string;
}

/**
 * A server frame other than an event. `Json` is how state documents and
 * patches are held (see `StateSnapshotFrame`): JSON text where the edge
 * encodes them, values where a client decodes them.
 */
export type ControlMessage<Json = string> =
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
      readonly subscriptions: readonly SubscriptionState<Json>[];
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
      readonly positions: readonly SubscriptionState<Json>[];
    }
  | ({ readonly kind: 'snapshot' } & StateSnapshotFrame<Json>)
  | ({ readonly kind: 'patch' } & StatePatchFrame<Json>)
  | ({ readonly kind: 'stateChangeRefused' } & StateChangeRefusedFrame);

/**
 * A server frame as a client reads it: an event, several events of one
 * delivery in order (`batch`, only on the subprotocols `fanout.json.v2` and
 * `fanout.proto.v2`), or one of the control frames.
 */
export type ServerMessage =
  | ControlMessage<JsonValue>
  | { readonly kind: 'event'; readonly event: FanoutEvent }
  | { readonly kind: 'batch'; readonly events: readonly FanoutEvent[] };

/**
 * One WebSocket subprotocol, both directions, one set of validation rules:
 * a frame that does not decode is refused with FanoutError `frame_invalid`
 * (or `position_invalid` for a malformed position), never another error.
 * Server frames are encoded here but for events, which the edge encodes once
 * per event (`encodeEventFrame`, the edge's event JSON), and batches of them
 * (`encodeJsonBatchFrame`, `encodeEventBatchFrame`) built from those.
 */
export interface WsFrameCodec<Data extends string | Uint8Array> {
  /** The `Sec-WebSocket-Protocol` of the format: one event per frame. */
  readonly subprotocol: 'fanout.json.v1' | 'fanout.proto.v1';
  /**
   * The `Sec-WebSocket-Protocol` of the same format with batch frames: the
   * edge may send the events of one delivery in one `batch` frame. The
   * frames and the codec are the same; `decodeServerFrame` reads batches
   * whatever the subprotocol.
   */
  readonly batchSubprotocol: 'fanout.json.v2' | 'fanout.proto.v2';
  encodeClientFrame(message: ClientMessage): Data;
  decodeClientFrame(data: Data): ReceivedClientMessage;
  encodeServerFrame(message: ControlMessage): Data;
  decodeServerFrame(data: Data): ServerMessage;
}
