/**
 * One WebSocket connection: the subscription core's `Subscriber` over uWS.
 * It encodes what the core emits as frames of its subprotocol, writes
 * catch-up events itself and joins uWS topics for live ones, and closes
 * with `disconnect` and the positions (waiting for the client to read up to
 * it, see `closeWith`).
 */
import {
  actionForCloseCode,
  batchFrameOverhead,
  encodeEventBatchFrame,
  encodeJsonBatchFrame,
  toCloseCode,
  type ErrorCode,
  type RewindResult,
  type FanoutConfig,
  type FanoutError,
} from '@fanout/shared';
import type { WebSocket } from 'uWebSockets.js';
import { anonymousClient, type ClientIdentity } from '../admission/client-auth.js';
import type { ConnectionLease } from '../admission/connection-limits.js';
import { DeadlineTimer } from '../admission/deadline-timer.js';
import type { EdgeEvent } from '../log/edge-event.js';
import type { EdgeMetrics } from '../edge-metrics.js';
import type {
  LiveDelivery,
  SubscribedState,
  Subscriber,
  WireFormat,
} from '../subscriptions/subscriber.js';
import type { ResourceLeases } from '../resources/resource-leases.js';
import type { SubscriptionSession } from '../subscriptions/subscription-core.js';
import { closeLingerMs, type ResetInfo, type Subscription } from '../subscriptions/subscription.js';
import type { StateTrackers } from '../subscriptions/state/state-trackers.js';
import { failSocket, guard, type HandlerGuard } from './uws-guard.js';
import { noForwardedHeaders } from './request-facts.js';
import {
  encodeServerFrame,
  type ServerMessage,
  type Subprotocol,
  type SubscriptionState,
} from './ws-frames.js';
import { WsStateSubscriptions } from './ws-state.js';

export interface UserData {
  connection: WsConnection;
}

/** What every connection of the endpoint shares. */
export interface WsConnectionContext {
  readonly config: FanoutConfig['edge'];
  readonly metrics: EdgeMetrics;
  readonly guard: HandlerGuard;
  /** The edge's state trackers; without them state subscriptions are refused. */
  readonly trackers?: StateTrackers;
  /** The leases of on-demand resources; without them resource subscriptions are `not_found`. */
  readonly resources?: ResourceLeases;
  /**
   * Called when the connection may hold bytes the client has not read: it
   * joined a uWS topic (whose frames reach it without a send of its own) or
   * a send of its own left bytes buffered. The backpressure sweep checks
   * these connections only (`ws-endpoint.ts`).
   */
  readonly watch?: (connection: WsConnection) => void;
}

/** uWS's send status: the frame was buffered (the client has not read what came before). */
const sendBuffered = 0;
/** uWS's send status: dropped at the hard limit (closeOnBackpressureLimit). */
const sendDropped = 2;

let nextConnectionKey = 1;

/** A subscription state as the WebSocket protocol carries it. */
export function wireState(state: {
  readonly label: string;
  readonly position?: string;
  readonly cursor?: string;
  readonly hint?: string;
}): SubscriptionState {
  return {
    channel: state.label,
    ...(state.position === undefined ? {} : { position: state.position }),
    // A pattern follows every partition: its place is a stream cursor.
    ...(state.position !== undefined || state.cursor === undefined ? {} : { cursor: state.cursor }),
    ...(state.hint === undefined ? {} : { hint: state.hint }),
  };
}

/**
 * Live delivery through the uWS topics one connection joins: one small
 * object whose behaviour lives on the prototype (no closures of its own).
 */
class TopicDelivery {
  readonly kind = 'topic';
  readonly #connection: WsConnection;

  constructor(connection: WsConnection) {
    this.#connection = connection;
  }

  get format(): WireFormat {
    return this.#connection.format;
  }

  get batch(): boolean {
    return this.#connection.batchFrames;
  }

  subscribe(topic: string): void {
    const connection = this.#connection;
    if (connection.ending) return;
    connection.watched();
    connection.ws?.subscribe(topic);
  }

  unsubscribe(topic: string): void {
    if (!this.#connection.closed) this.#connection.ws?.unsubscribe(topic);
  }
}

/** Events of one `batch()` call waiting to go out as one frame (batch connections). */
interface PendingEvents {
  readonly events: EdgeEvent[];
  /** The subscription of each event. */
  readonly subscriptions: Subscription[];
  /** Frame bytes of the events: an upper bound of the batch frame's. */
  bytes: number;
}

export class WsConnection implements Subscriber {
  readonly key = `ws-${nextConnectionKey++}`;
  readonly transport = 'ws';
  readonly format: WireFormat;
  /** The client takes batch frames (`fanout.json.v2`, `fanout.proto.v2`). */
  readonly batchFrames: boolean;
  /** Inside `batch()`: a batch connection gathers its deliveries in `#pending`. */
  #batching = false;
  #pending: PendingEvents | undefined;
  /** Made when a subscription first goes live: an idle connection holds none. */
  #live: TopicDelivery | undefined;
  readonly #context: WsConnectionContext;
  ws: WebSocket<UserData> | undefined;
  identity: ClientIdentity | undefined;
  /** Its subscriptions, from the moment the socket opened. */
  session: SubscriptionSession | undefined;
  closed = false;
  /** Set when the edge ended the connection itself (closeWith), with a catalog code. */
  endedByEdge = false;
  readonly lease: ConnectionLease;
  /**
   * The upgrade request's headers named by `edge.resources.forwardHeaders`
   * (lower-case names): what its resource subscriptions forward.
   */
  forwarded: Readonly<Record<string, string>> = noForwardedHeaders;
  /**
   * `connect` and `refreshToken` frames run one after another, in arrival
   * order: the last one's run while any waits (none held otherwise).
   */
  tokenFrames: Promise<void> | undefined;
  pendingTokenFrames = 0;
  /** When the socket opened, epoch ms: a token must come within edge.connectTimeoutMs. */
  readonly openedAt = Date.now();
  /** When the client last sent anything (frames, pings, pongs), epoch ms. */
  lastHeard = Date.now();
  /** The edge pinged since the client was last heard. */
  pinged = false;
  /** Subscriptions waiting for the client to read (none held while nothing waits). */
  #drainWaiters: (() => void)[] | undefined;
  readonly #expiry = new DeadlineTimer();
  /** Ends the socket: set while a close waits for the client to read up to it. */
  #endWhenSent: (() => void) | undefined;
  /** Its state subscriptions, made at the first one. */
  #states: WsStateSubscriptions | undefined;
  /** What the rewind scans of subscriptions being made found, by label, for `subscribed`. */
  #rewinds: Map<string, RewindResult> | undefined;

  constructor(
    protocol: Subprotocol,
    context: WsConnectionContext,
    identity: ClientIdentity | undefined,
    lease: ConnectionLease,
  ) {
    this.format = protocol.format;
    this.batchFrames = protocol.batch;
    this.#context = context;
    this.identity = identity;
    this.lease = lease;
  }

  /** Live events reach the socket through the uWS topics it joins. */
  get live(): LiveDelivery {
    return (this.#live ??= new TopicDelivery(this));
  }

  /** The identity of the current token (anonymous before one, where allowed). */
  currentIdentity(): ClientIdentity {
    return this.identity ?? anonymousClient;
  }

  /** Closed, or closing: `disconnect` sent, the close frame waits (see `closeWith`). */
  get ending(): boolean {
    return this.closed || this.#endWhenSent !== undefined;
  }

  /**
   * Its state subscriptions (made at the first); `undefined` when this edge
   * serves none or the socket has not opened.
   */
  states(): WsStateSubscriptions | undefined {
    const trackers = this.#context.trackers;
    const session = this.session;
    if (this.#states === undefined && trackers !== undefined && session !== undefined) {
      this.#states = new WsStateSubscriptions(this, {
        trackers,
        kafkaWaitMs: this.#context.config.kafkaWaitMs,
        metrics: this.#context.metrics,
        firstStateWaitMs: this.#context.config.resources.firstStateWaitMs,
        ...(this.#context.resources === undefined ? {} : { resources: this.#context.resources }),
      });
      session.external = this.#states;
    }
    return this.#states;
  }

  /**
   * Sends a frame encoded once for every subscriber (a state patch), after
   * the events gathered before it; false when it was not sent (closing, or
   * dropped at the hard limit: the connection closes with backpressure).
   */
  sendFrame(frame: string | Uint8Array): boolean {
    this.#flush();
    if (this.ending || !this.ws) return false;
    if (this.#sent(this.ws.send(frame, typeof frame !== 'string')) === sendDropped) {
      this.closeWith('backpressure', 'the client read too slowly');
      return false;
    }
    return true;
  }

  send(message: ServerMessage): void {
    // Frames keep their order: events gathered before this one go first.
    this.#flush();
    if (this.ending || !this.ws) return;
    const frame = encodeServerFrame(this.format, message);
    this.#sent(this.ws.send(frame, this.format === 'proto'));
  }

  /** True once it joined a uWS topic: the sweep keeps checking it. */
  get joinedTopics(): boolean {
    return this.#live !== undefined;
  }

  /** Registers it with the backpressure sweep (see `WsConnectionContext.watch`). */
  watched(): void {
    this.#context.watch?.(this);
  }

  /** A send's status, passed on; a frame left buffered registers the connection with the sweep. */
  #sent(status: number): number {
    if (status === sendBuffered) this.watched();
    return status;
  }

  bufferedBytes(): number {
    return this.closed || !this.ws ? 0 : this.ws.getBufferedAmount() + (this.#pending?.bytes ?? 0);
  }

  /** Moves frames uWS queued for this socket's topics into its buffer (any send does). */
  flushQueued(): void {
    if (this.ending || !this.ws) return;
    this.ws.ping();
  }

  drained(): Promise<void> {
    if (this.closed || this.bufferedBytes() <= this.#context.config.maxBackpressureBytes / 4) {
      return Promise.resolve();
    }
    return new Promise((resolve) => (this.#drainWaiters ??= []).push(resolve));
  }

  onDrain(): void {
    if (this.#endWhenSent && this.bufferedBytes() === 0) this.#endWhenSent();
    if (this.bufferedBytes() > this.#context.config.maxBackpressureBytes / 4) return;
    const waiters = this.#drainWaiters;
    if (waiters === undefined) return;
    this.#drainWaiters = undefined;
    for (const resolve of waiters) resolve();
  }

  deliver(event: EdgeEvent, subscription: Subscription): void {
    // A subscription ended (unsubscribe, a narrower token) delivers nothing
    // more, even from a catch-up that was waiting on Kafka meanwhile.
    if (this.ending || !this.ws || !subscription.active) return;
    if (this.#batching && this.batchFrames) {
      this.#gather(event, subscription);
      return;
    }
    const status = this.#sent(
      this.format === 'proto'
        ? this.ws.send(event.protoFrame, true)
        : this.ws.send(event.jsonFrame, false),
    );
    if (status === sendDropped) {
      // Dropped at the hard limit: the client must not go on past a hole.
      // uWebSockets.js may already have closed the socket (closeOnBackpressureLimit):
      // the close handler counts that.
      this.closeWith('backpressure', 'the client read too slowly');
      return;
    }
    subscription.cursors.set(event.partition, event.offset);
    this.#context.metrics.deliveries.inc({ transport: 'ws' });
  }

  batch<T>(deliveries: () => T): T {
    if (this.closed || !this.ws || this.#batching) return deliveries();
    // cork runs the callback at once.
    let result!: T;
    this.ws.cork(() => {
      this.#batching = true;
      try {
        result = deliveries();
      } finally {
        this.#batching = false;
        this.#flush();
      }
    });
    return result;
  }

  /** Adds an event to the batch frame being gathered, sending the batch first when it is full. */
  #gather(event: EdgeEvent, subscription: Subscription): void {
    const bytes = this.format === 'proto' ? event.protoFrame.byteLength : event.jsonFrameBytes;
    const max = this.#context.config.batchMaxBytes;
    if (this.#pending && this.#pending.bytes + bytes + batchFrameOverhead > max) {
      this.#flush();
      if (this.ending) return;
    }
    const pending = (this.#pending ??= { events: [], subscriptions: [], bytes: 0 });
    pending.events.push(event);
    pending.subscriptions.push(subscription);
    pending.bytes += bytes;
  }

  /**
   * Sends the gathered events as one frame (an event frame when there is
   * one). Cursors move once it is sent; when uWS drops it at the hard limit
   * they go back to before its first event, so the positions the close
   * reports resume exactly there.
   */
  #flush(): void {
    const pending = this.#pending;
    if (pending === undefined) return;
    this.#pending = undefined;
    const ws = this.ws;
    if (this.ending || !ws) return;
    const { events, subscriptions } = pending;
    const proto = this.format === 'proto';
    const [first] = events;
    let frame: string | Uint8Array;
    if (events.length === 1 && first) frame = proto ? first.protoFrame : first.jsonFrame;
    else if (proto) {
      frame = encodeEventBatchFrame(
        events.map((event) => event.protoFrame),
        pending.bytes,
      );
    } else frame = encodeJsonBatchFrame(events.map((event) => event.json));
    const status = this.#sent(ws.send(frame, proto));
    if (status === sendDropped) {
      // Last to first: each (subscription, partition) ends before its first event.
      for (let index = events.length - 1; index >= 0; index--) {
        const event = events[index];
        if (event) subscriptions[index]?.cursors.set(event.partition, event.offset - 1);
      }
      this.closeWith('backpressure', 'the client read too slowly');
      return;
    }
    events.forEach((event, index) => {
      const cursors = subscriptions[index]?.cursors;
      // The hub may have moved a cursor past events that did not match: never back.
      if (cursors && (cursors.get(event.partition) ?? -1) < event.offset) {
        cursors.set(event.partition, event.offset);
      }
    });
    this.#context.metrics.deliveries.inc({ transport: 'ws' }, events.length);
  }

  subscribed(requestId: number, states: readonly SubscribedState[]): void {
    this.send({
      kind: 'subscribed',
      requestId,
      subscriptions: states.map((state) => this.wireState(state)),
    });
  }

  /** A subscription state as `subscribed` carries it, with what its rewind found. */
  wireState(state: SubscribedState): SubscriptionState {
    const wire = wireState(state);
    const rewind = this.#rewinds?.get(state.label);
    return rewind === undefined ? wire : { ...wire, rewind };
  }

  /** Keeps what the rewind scan of the subscription `label` found, for `subscribed`. */
  rememberRewind(label: string, rewind: RewindResult): void {
    (this.#rewinds ??= new Map()).set(label, rewind);
  }

  /** The subscribe of these labels is answered: their rewind results are no longer needed. */
  forgetRewinds(labels: readonly string[]): void {
    for (const label of labels) this.#rewinds?.delete(label);
  }

  reset(requestId: number, subscription: Subscription, reset: ResetInfo): void {
    this.send({
      kind: 'reset',
      requestId,
      channel: subscription.label,
      requested: reset.requested,
      earliest: reset.earliest,
      code: reset.code,
    });
  }

  refused(requestId: number, label: string, error: FanoutError): void {
    this.#context.metrics.frameErrors.inc({ code: error.code });
    this.send({
      kind: 'error',
      requestId,
      code: error.code,
      message: error.message,
      channel: label,
    });
  }

  close(code: ErrorCode, message: string, hint?: string): void {
    this.closeWith(code, message, hint);
  }

  /**
   * Sends Disconnect with the positions, then closes with the error's close
   * code. uWebSockets.js drops an ended socket whose client has not read up
   * to the close frame within a short timeout (16 s by default), with what it
   * still holds; so while data waits for the client, the edge stops sending
   * and ends the socket once the client has read it all, or after
   * closeLingerMs.
   */
  closeWith(code: ErrorCode, message: string, hint?: string): void {
    this.#flush();
    if (this.ending || !this.ws) return;
    this.endedByEdge = true;
    const closeCode = toCloseCode(code);
    this.#context.metrics.closes.inc({ code });
    this.send({
      kind: 'disconnect',
      closeCode,
      code,
      message,
      action: actionForCloseCode(closeCode),
      ...(hint === undefined ? {} : { hint }),
      positions: [...(this.session?.positions() ?? []), ...(this.#states?.positions() ?? [])].map(
        wireState,
      ),
    });
    // The positions are taken: state subscriptions send nothing more.
    this.#states?.end();
    const ws = this.ws;
    const end = (): void => {
      clearTimeout(timer);
      this.#endWhenSent = undefined;
      if (!this.closed) ws.end(closeCode, code);
    };
    if (ws.getBufferedAmount() === 0) {
      ws.end(closeCode, code);
      return;
    }
    this.#endWhenSent = end;
    const session = this.session;
    session?.unsubscribe([...session.subscriptions.keys()]);
    const timer = setTimeout(end, closeLingerMs);
    timer.unref();
  }

  armExpiry(): void {
    this.#expiry.clear();
    const expiresAt = this.identity?.expiresAt;
    if (expiresAt === undefined) return;
    this.#expiry.set(
      expiresAt,
      guard(
        this.#context.guard,
        'ws token expiry',
        () => {
          this.closeWith('token_expired', 'the token expired; reconnect with a fresh one');
        },
        () => {
          if (this.ws && !this.closed) failSocket(this.ws);
        },
      ),
    );
  }

  authenticated(): boolean {
    return this.identity !== undefined;
  }

  heard(): void {
    this.lastHeard = Date.now();
    this.pinged = false;
  }

  onClose(): void {
    this.closed = true;
    this.#pending = undefined;
    this.lease.release();
    this.#expiry.clear();
    this.session?.end();
    this.#states?.end();
    this.onDrain();
    const waiters = this.#drainWaiters ?? [];
    this.#drainWaiters = undefined;
    for (const resolve of waiters) resolve();
  }
}
