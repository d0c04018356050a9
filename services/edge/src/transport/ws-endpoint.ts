/**
 * WebSocket at `/v1/ws`, subprotocols `fanout.json.v1` and `fanout.proto.v1`.
 *
 * A connection authenticates with its handshake token (query `token` or
 * `Authorization`) or a first Connect frame, then subscribes. Catch-up frames
 * are sent per connection; live frames go through uWS topics so the per-
 * subscriber work stays in C++. A connection over its backpressure limit
 * is closed with `backpressure` (4008) and its positions, checked often
 * enough (PublishGuard) that it never reaches uWS's own limit (twice ours),
 * where uWS would drop it without a close frame. It is never fed a stream
 * with holes.
 */
import {
  actionForCloseCode,
  assertValidChannel,
  FanoutError,
  formatPositionOf,
  isChannelPattern,
  isValidChannel,
  namespacesAllow,
  toCloseCode,
  toFanoutError,
  toHttpStatus,
  type ErrorCode,
  type FanoutConfig,
  type Logger,
} from '@fanout/shared';
import type { HttpRequest, HttpResponse, TemplatedApp, WebSocket } from 'uWebSockets.js';
import type { ChannelHub, WireFormat } from '../subscriptions/channel-hub.js';
import type { ClusterRouting, HintFor } from '../cluster/cluster-routing.js';
import {
  anonymousClient,
  requestToken,
  type ClientAuth,
  type ClientIdentity,
} from '../admission/client-auth.js';
import type { ConnectionLease, ConnectionLimits } from '../admission/connection-limits.js';
import { DeadlineTimer } from '../admission/deadline-timer.js';
import type { EdgeEvent } from '../edge-event.js';
import type { EdgeMetrics } from '../edge-metrics.js';
import { httpStatusLine } from './http-status.js';
import { parseStreamCursor } from '../subscriptions/stream-cursor.js';
import { SubscribeBudget } from '../admission/subscribe-budget.js';
import {
  closeLingerMs,
  Subscription,
  type DeliveryTarget,
  type ResetInfo,
} from '../subscriptions/subscription.js';
import {
  failSocket,
  guard,
  guardResponse,
  markFinished,
  type GuardedBehavior,
  type HandlerGuard,
} from './uws-guard.js';
import {
  decodeClientFrame,
  encodeServerFrame,
  subprotocols,
  type ClientMessage,
  type ServerMessage,
  type SubscriptionRequest,
  type SubscriptionState,
} from './ws-frames.js';

export interface WsEndpointOptions {
  readonly app: TemplatedApp;
  readonly hub: ChannelHub;
  readonly auth: ClientAuth;
  readonly config: FanoutConfig['edge'];
  readonly edgeId: string;
  readonly logger: Logger;
  readonly metrics: EdgeMetrics;
  readonly admit: (request: HttpRequest) => FanoutError | undefined;
  readonly limits: ConnectionLimits;
  readonly addressOf: (response: HttpResponse, request: HttpRequest) => string;
  /** True while the hub publishes to uWS topics (a close then is a backpressure drop). */
  readonly publishing: () => boolean;
  readonly routing: ClusterRouting;
  /** Reports exceptions of uWS callbacks (see uws-guard.ts). */
  readonly guard: HandlerGuard;
}

let nextConnectionKey = 1;

/** The most `connect` / `refreshToken` frames one connection may have waiting. */
const maxPendingTokenFrames = 4;

/** uWS refuses an idleTimeout over this many seconds. */
const uwsMaxIdleSeconds = 960;

/**
 * The edge closes idle sockets itself, with `idle_timeout` (4001) and the
 * positions; uWS's own timeout, which drops a socket without a close frame,
 * is only a backstop this far behind (and bounds a socket that never
 * answers the close).
 */
export function idleTimeouts(idleTimeoutSeconds: number): {
  /** Seconds of silence after which the edge closes with idle_timeout. */
  readonly edgeSeconds: number;
  /** The uWS idleTimeout. */
  readonly uwsSeconds: number;
} {
  const uwsSeconds = Math.min(uwsMaxIdleSeconds, idleTimeoutSeconds + 16);
  return { edgeSeconds: Math.min(idleTimeoutSeconds, uwsSeconds - 8), uwsSeconds };
}

interface UserData {
  connection: WsConnection;
}

class WsConnection implements DeliveryTarget {
  /** Spreads the clients of one partition over its owners. */
  readonly key = `ws-${nextConnectionKey++}`;
  readonly format: WireFormat;
  readonly options: WsEndpointOptions;
  ws: WebSocket<UserData> | undefined;
  identity: ClientIdentity | undefined;
  closed = false;
  /** Set when the edge ended the connection itself (closeWith), with a catalog code. */
  endedByEdge = false;
  readonly subscriptions = new Map<string, Subscription>();
  /**
   * Channels of subscribe requests still being prepared: they count against
   * the limits, and become active only if the token current when their
   * preparation ends allows them.
   */
  readonly preparing = new Set<string>();
  readonly topics = new Map<number, string>();
  readonly lease: ConnectionLease;
  readonly subscribeBudget: SubscribeBudget;
  /** `connect` and `refreshToken` frames run one after another, in arrival order. */
  tokenFrames: Promise<void> = Promise.resolve();
  pendingTokenFrames = 0;
  /** When the socket opened, epoch ms: a token must come within edge.connectTimeoutMs. */
  readonly openedAt = Date.now();
  /** When the client last sent anything (frames, pings, pongs), epoch ms. */
  lastHeard = Date.now();
  /** The edge pinged since the client was last heard. */
  pinged = false;
  #drainWaiters: (() => void)[] = [];
  readonly #expiry = new DeadlineTimer();
  /** Ends the socket: set while a close waits for the client to read up to it. */
  #endWhenSent: (() => void) | undefined;

  constructor(
    format: WireFormat,
    options: WsEndpointOptions,
    identity: ClientIdentity | undefined,
    lease: ConnectionLease,
  ) {
    this.format = format;
    this.options = options;
    this.identity = identity;
    this.lease = lease;
    this.subscribeBudget = new SubscribeBudget(
      options.config.subscribeRatePerSecond,
      options.config.maxSubscriptionsPerConnection,
    );
  }

  /** Closed, or closing: `disconnect` sent, the close frame waits (see `closeWith`). */
  get ending(): boolean {
    return this.closed || this.#endWhenSent !== undefined;
  }

  send(message: ServerMessage): void {
    if (this.ending || !this.ws) return;
    const frame = encodeServerFrame(this.format, message);
    this.ws.send(frame, this.format === 'proto');
  }

  bufferedBytes(): number {
    return this.closed || !this.ws ? 0 : this.ws.getBufferedAmount();
  }

  /** Moves frames uWS queued for this socket's topics into its buffer (any send does). */
  flushQueued(): void {
    if (this.ending || !this.ws) return;
    this.ws.ping();
  }

  drained(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  onDrain(): void {
    if (this.#endWhenSent && this.bufferedBytes() === 0) this.#endWhenSent();
    if (this.bufferedBytes() > this.options.config.maxBackpressureBytes / 4) return;
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const resolve of waiters) resolve();
  }

  deliver(event: EdgeEvent, subscription: Subscription): void {
    // A subscription ended (unsubscribe, a narrower token) delivers nothing
    // more, even from a catch-up that was waiting on Kafka meanwhile.
    if (this.ending || !this.ws || !subscription.active) return;
    const status =
      this.format === 'proto'
        ? this.ws.send(event.protoFrame, true)
        : this.ws.send(event.jsonFrame, false);
    if (status === 2) {
      // Dropped at the hard limit: the client must not go on past a hole.
      // uWebSockets.js may already have closed the socket (closeOnBackpressureLimit):
      // the close handler counts that.
      this.closeWith('backpressure', 'the client read too slowly');
      return;
    }
    subscription.cursors.set(event.partition, event.offset);
    this.options.metrics.deliveries.inc({ transport: 'ws' });
  }

  batch<T>(deliveries: () => T): T {
    if (this.closed || !this.ws) return deliveries();
    // cork runs the callback at once.
    let result!: T;
    this.ws.cork(() => {
      result = deliveries();
    });
    return result;
  }

  goLive(subscription: Subscription): void {
    if (this.ending || !this.ws || !subscription.active) return;
    if (subscription.live.size < subscription.cursors.size) return;
    const topic = this.options.hub.addTopic(this.format, subscription.label, [
      ...(subscription.types ?? []),
    ]);
    this.topics.set(subscription.id, topic);
    this.ws.subscribe(topic);
  }

  reset(subscription: Subscription, reset: ResetInfo): void {
    this.send({
      kind: 'reset',
      requestId: 0,
      channel: subscription.label,
      requested: reset.requested,
      earliest: reset.earliest,
      code: reset.code,
    });
    this.unsubscribe(subscription);
  }

  unsubscribe(subscription: Subscription): void {
    this.subscriptions.delete(subscription.label);
    this.options.hub.remove(subscription);
    const topic = this.topics.get(subscription.id);
    if (topic !== undefined) {
      this.topics.delete(subscription.id);
      this.options.hub.removeTopic(this.format, subscription.label, [
        ...(subscription.types ?? []),
      ]);
      if (!this.closed) this.ws?.unsubscribe(topic);
    }
    this.options.metrics.subscriptions.dec({ transport: 'ws' });
  }

  /** Where each subscription stands: what the client has been sent. */
  positions(): SubscriptionState[] {
    const states: SubscriptionState[] = [];
    for (const subscription of this.subscriptions.values()) {
      if (subscription.cursors.size !== 1 || subscription.patterns.length > 0) {
        states.push({ channel: subscription.label });
        continue;
      }
      for (const [partition, cursor] of subscription.cursors) {
        // A live subscription has been sent every event published so far.
        const published = this.options.hub.publishedThrough(partition);
        const offset =
          subscription.live.has(partition) && published !== undefined ? published : cursor;
        states.push({
          channel: subscription.label,
          position: formatPositionOf(subscription.epoch, partition, offset),
        });
      }
    }
    return states;
  }

  /** The partitions of its channel subscriptions; `undefined` when it follows a pattern. */
  partitions(): ReadonlySet<number> | undefined {
    const partitions = new Set<number>();
    for (const subscription of this.subscriptions.values()) {
      if (subscription.patterns.length > 0) return undefined;
      for (const partition of subscription.cursors.keys()) partitions.add(partition);
    }
    return partitions;
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
    if (this.ending || !this.ws) return;
    this.endedByEdge = true;
    const closeCode = toCloseCode(code);
    this.options.metrics.closes.inc({ code });
    this.send({
      kind: 'disconnect',
      closeCode,
      code,
      message,
      action: actionForCloseCode(closeCode),
      ...(hint === undefined ? {} : { hint }),
      positions: this.positions(),
    });
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
    for (const subscription of [...this.subscriptions.values()]) this.unsubscribe(subscription);
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
        this.options.guard,
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
    this.lease.release();
    this.#expiry.clear();
    for (const subscription of [...this.subscriptions.values()]) this.unsubscribe(subscription);
    this.onDrain();
    for (const resolve of this.#drainWaiters) resolve();
    this.#drainWaiters = [];
  }
}

function chooseSubprotocol(header: string): WireFormat | undefined {
  for (const offered of header.split(',')) {
    const format = subprotocols[offered.trim()];
    if (format) return format;
  }
  return undefined;
}

function refuseUpgrade(response: HttpResponse, error: FanoutError, metrics: EdgeMetrics): void {
  metrics.httpRequests.inc({ route: 'ws', status: String(toHttpStatus(error.code)) });
  response.cork(() => {
    response
      .writeStatus(httpStatusLine(toHttpStatus(error.code)))
      .writeHeader('content-type', 'application/json')
      .end(JSON.stringify(error.toJSON()));
  });
}

export function registerWsEndpoint(options: WsEndpointOptions): {
  connections: () => number;
  sweep: (pendingBytes: number) => void;
  sweepIdle: () => void;
  drainAll: (code: ErrorCode, message: string) => void;
  drainSome: (count: number, code: ErrorCode, message: string, hint?: HintFor) => void;
  rebalance: (select: HintFor, limit: number) => number;
} {
  const { app, hub, auth, config, logger, metrics } = options;
  const live = new Set<WsConnection>();
  // The edge closes a client over the limit itself, with `disconnect` and its
  // positions; uWS's own hard limit is twice that: PublishGuard checks often
  // enough that no client gets there, leaving room for the close frames.
  const softLimit = config.maxBackpressureBytes;

  async function handle(connection: WsConnection, message: ClientMessage): Promise<void> {
    if (!connection.identity && message.kind !== 'connect' && message.kind !== 'ping') {
      throw new FanoutError('unauthenticated', 'send a Connect frame with a token first');
    }
    switch (message.kind) {
      case 'ping':
        connection.send({ kind: 'pong', requestId: message.requestId });
        return;
      case 'connect':
      case 'refreshToken': {
        // In arrival order, so a later token always wins over an earlier one.
        if (connection.pendingTokenFrames >= maxPendingTokenFrames) {
          throw new FanoutError(
            'rate_limited',
            `at most ${maxPendingTokenFrames} connect or refreshToken frames may wait; wait for the answers`,
          );
        }
        connection.pendingTokenFrames++;
        const run = connection.tokenFrames.then(() =>
          message.kind === 'connect'
            ? connect(connection, message.requestId, message.token)
            : refresh(connection, message.requestId, message.token),
        );
        connection.tokenFrames = run.then(
          () => {
            connection.pendingTokenFrames--;
          },
          () => {
            connection.pendingTokenFrames--;
          },
        );
        await run;
        return;
      }
      case 'unsubscribe': {
        const removed: string[] = [];
        for (const label of message.channels) {
          const subscription = connection.subscriptions.get(label);
          if (!subscription) continue;
          connection.unsubscribe(subscription);
          removed.push(label);
        }
        connection.send({ kind: 'unsubscribed', requestId: message.requestId, channels: removed });
        return;
      }
      case 'subscribe':
        await subscribe(connection, message.requestId, message.subscriptions);
        return;
    }
  }

  async function connect(
    connection: WsConnection,
    requestId: number,
    token: string,
  ): Promise<void> {
    if (connection.authenticated()) throw new FanoutError('frame_invalid', 'already connected');
    const identity = await auth.identify(token);
    if (connection.closed) return;
    if (connection.authenticated()) throw new FanoutError('frame_invalid', 'already connected');
    try {
      connection.lease.identify(identity.anonymous ? undefined : identity.subject);
    } catch (error) {
      const failure = toFanoutError(error);
      connection.closeWith(failure.code, failure.message);
      return;
    }
    connection.identity = identity;
    connection.armExpiry();
    connection.send(connectedFrame(requestId, identity));
  }

  /**
   * Replaces the token. An invalid or expired one is answered with `error`
   * and changes nothing; a valid one that no longer allows a subscription
   * ends it with `error` `permission_denied` naming the channel (those still
   * being prepared are checked when they are ready, against the token then).
   */
  async function refresh(
    connection: WsConnection,
    requestId: number,
    token: string,
  ): Promise<void> {
    const identity = await auth.identify(token);
    if (connection.closed) return;
    const current = connection.identity;
    if (current && identity.subject !== current.subject) {
      throw new FanoutError('permission_denied', 'a refreshed token must name the same subject');
    }
    connection.identity = identity;
    connection.armExpiry();
    for (const [label, subscription] of [...connection.subscriptions]) {
      if (namespacesAllow(identity.namespaces, label)) continue;
      connection.unsubscribe(subscription);
      metrics.frameErrors.inc({ code: 'permission_denied' });
      connection.send({
        kind: 'error',
        requestId,
        code: 'permission_denied',
        message: `the refreshed token does not allow ${label}; the subscription ended`,
        channel: label,
      });
    }
    connection.send({
      kind: 'tokenRefreshed',
      requestId,
      ...(identity.expiresAt === undefined ? {} : { expiresAt: identity.expiresAt }),
    });
  }

  function validateRequests(
    connection: WsConnection,
    requests: readonly SubscriptionRequest[],
  ): void {
    if (requests.length === 0) {
      throw new FanoutError('invalid_argument', 'subscribe.subscriptions is empty');
    }
    if (
      connection.subscriptions.size + connection.preparing.size + requests.length >
      config.maxSubscriptionsPerConnection
    ) {
      throw new FanoutError(
        'subscription_limit',
        `at most ${config.maxSubscriptionsPerConnection} subscriptions per connection`,
      );
    }
    const seen = new Set<string>();
    for (const request of requests) {
      if (isChannelPattern(request.channel)) {
        if (request.since !== undefined) {
          throw new FanoutError(
            'invalid_argument',
            `pattern ${request.channel} is live-only on WebSocket; resume its channels one by one or use GET /v1/stream`,
          );
        }
      } else if (!isValidChannel(request.channel)) {
        assertValidChannel(request.channel, 'subscriptions.channel');
      }
      if (
        connection.subscriptions.has(request.channel) ||
        connection.preparing.has(request.channel) ||
        seen.has(request.channel)
      ) {
        throw new FanoutError('invalid_argument', `already subscribed to ${request.channel}`);
      }
      seen.add(request.channel);
      auth.authorize(connection.identity ?? anonymousClient, request.channel);
    }
  }

  /** True while `subscription` is the connection's active subscription of its channel. */
  function active(connection: WsConnection, subscription: Subscription): boolean {
    return !connection.closed && connection.subscriptions.get(subscription.label) === subscription;
  }

  async function subscribe(
    connection: WsConnection,
    requestId: number,
    requests: readonly SubscriptionRequest[],
  ): Promise<void> {
    validateRequests(connection, requests);
    connection.subscribeBudget.spend(requests.length);
    for (const request of requests) connection.preparing.add(request.channel);
    try {
      await prepareAll(connection, requestId, requests);
    } finally {
      for (const request of requests) connection.preparing.delete(request.channel);
    }
  }

  async function prepareAll(
    connection: WsConnection,
    requestId: number,
    requests: readonly SubscriptionRequest[],
  ): Promise<void> {
    const prepared: {
      subscription: Subscription;
      resuming: readonly number[];
      state: SubscriptionState;
    }[] = [];
    // Every position is checked before anything is subscribed.
    const sinces = requests.map((request) =>
      request.since === undefined ? undefined : parseStreamCursor(request.since),
    );
    for (const [index, request] of requests.entries()) {
      const pattern = isChannelPattern(request.channel);
      const subscription = new Subscription(
        pattern
          ? { channels: [], patterns: [request.channel], types: request.types }
          : { channels: [request.channel], patterns: [], types: request.types },
        connection,
        request.channel,
      );
      const since = sinces[index];
      let result;
      try {
        result = await hub.prepare(subscription, since);
      } catch (error) {
        for (const done of prepared) {
          if (active(connection, done.subscription)) connection.unsubscribe(done.subscription);
        }
        throw error;
      }
      connection.preparing.delete(request.channel);
      if (connection.closed) {
        hub.remove(subscription);
        return;
      }
      // The token may have changed while the subscription was prepared: it
      // becomes active only if the token current now allows it.
      const identity = connection.identity ?? anonymousClient;
      if (!namespacesAllow(identity.namespaces, request.channel)) {
        hub.remove(subscription);
        metrics.frameErrors.inc({ code: 'permission_denied' });
        connection.send({
          kind: 'error',
          requestId,
          code: 'permission_denied',
          message: `the current token does not allow ${request.channel}`,
          channel: request.channel,
        });
        continue;
      }
      metrics.subscriptions.inc({ transport: 'ws' });
      const reset = result.resets[0];
      if (reset) {
        connection.send({
          kind: 'reset',
          requestId,
          channel: request.channel,
          requested: reset.requested,
          earliest: reset.earliest,
          code: reset.code,
        });
        metrics.resets.inc({ code: reset.code });
        hub.remove(subscription);
        metrics.subscriptions.dec({ transport: 'ws' });
        continue;
      }
      connection.subscriptions.set(request.channel, subscription);
      const [partition, cursor] = [...subscription.cursors.entries()][0] ?? [];
      const partitionCount = options.hub.partitionCount;
      const hint =
        partition === undefined || partitionCount === undefined
          ? undefined
          : options.routing.hintFor(partitionCount, partition, connection.key);
      prepared.push({
        subscription,
        resuming: result.resuming,
        state:
          pattern || partition === undefined || cursor === undefined
            ? { channel: request.channel }
            : {
                channel: request.channel,
                position: formatPositionOf(subscription.epoch, partition, cursor),
                ...(hint === undefined ? {} : { hint }),
              },
      });
    }
    if (connection.closed) return;
    // A refresh during a later request's preparation may have ended some.
    const started = prepared.filter((entry) => active(connection, entry.subscription));
    // Subscribed first, then catch-up frames, then live ones.
    connection.send({
      kind: 'subscribed',
      requestId,
      subscriptions: started.map((entry) => entry.state),
    });
    for (const { subscription, resuming } of started) {
      // A subscription prepared before a later one's `await` may have missed
      // live events since its cursor was fixed: those partitions catch up
      // from the cursor too, so nothing between it and live is skipped.
      const catchingUp = [...subscription.cursors]
        .filter(([partition, cursor]) => {
          if (resuming.includes(partition)) return true;
          const head = hub.headOf(partition);
          return head !== undefined && cursor + 1 < head;
        })
        .map(([partition]) => partition);
      hub.goLiveNow(subscription, catchingUp);
      for (const partition of catchingUp) {
        hub.catchUp(subscription, partition).catch((error: unknown) => {
          try {
            // kafka_unavailable (4011) when Kafka or the edge's read of it is
            // too far behind; the positions resume exactly, here or elsewhere.
            const failure = toFanoutError(error);
            logger.warn({ err: error, channel: subscription.label }, 'catch-up failed');
            connection.closeWith(
              failure.code,
              failure.code === 'internal'
                ? 'catch-up failed; resume from the positions'
                : failure.message,
            );
          } catch (failure) {
            options.guard.report('ws catch-up', failure);
          }
        });
      }
    }
  }

  function connectedFrame(requestId: number, identity: ClientIdentity): ServerMessage {
    return {
      kind: 'connected',
      requestId,
      edgeId: options.edgeId,
      pingIntervalSeconds: config.heartbeatSeconds,
      ...(identity.expiresAt === undefined ? {} : { tokenExpiresAt: identity.expiresAt }),
    };
  }

  const idle = idleTimeouts(config.idleTimeoutSeconds);
  const behavior: GuardedBehavior<UserData> = {
    compression: 0,
    // Frames up to twice the limit reach `message`, which closes with
    // message_too_large (4413, stop); uWS cuts larger ones off (1006).
    maxPayloadLength: config.maxMessageBytes * 2,
    // A backstop: the edge closes idle sockets itself (sweepIdle).
    idleTimeout: idle.uwsSeconds,
    maxBackpressure: config.maxBackpressureBytes * 2,
    // Typed as a number by the package; a dropped frame closes the socket instead of leaving a hole.
    closeOnBackpressureLimit: 1,
    sendPingsAutomatically: true,
    upgrade(response, request, context) {
      const refused = options.admit(request);
      if (refused) {
        refuseUpgrade(response, refused, metrics);
        return;
      }
      const format = chooseSubprotocol(request.getHeader('sec-websocket-protocol'));
      if (!format) {
        refuseUpgrade(
          response,
          new FanoutError(
            'subprotocol_unsupported',
            'offer the WebSocket subprotocol fanout.json.v1 or fanout.proto.v1',
          ),
          metrics,
        );
        return;
      }
      const address = options.addressOf(response, request);
      const key = request.getHeader('sec-websocket-key');
      const protocol = request.getHeader('sec-websocket-protocol');
      const extensions = request.getHeader('sec-websocket-extensions');
      const token = requestToken(
        request.getHeader('authorization'),
        new URLSearchParams(request.getQuery()),
      );
      let aborted = false;
      response.onAborted(
        guardResponse(options.guard, 'ws upgrade aborted', response, () => {
          aborted = true;
          markFinished(response);
        }),
      );
      const chosen = protocol
        .split(',')
        .map((offered) => offered.trim())
        .find((offered) => subprotocols[offered] === format);
      // Without a token the client may authenticate with a Connect frame.
      const identify =
        token === undefined
          ? Promise.resolve(auth.required ? undefined : anonymousClient)
          : auth.identify(token);
      identify.then(
        guardResponse(
          options.guard,
          'ws upgrade',
          response,
          (identity: ClientIdentity | undefined) => {
            if (aborted) return;
            let lease: ConnectionLease;
            try {
              lease = options.limits.acquire(
                address,
                identity === undefined || identity.anonymous ? undefined : identity.subject,
              );
            } catch (error) {
              refuseUpgrade(response, toFanoutError(error), metrics);
              return;
            }
            const connection = new WsConnection(format, options, identity, lease);
            try {
              response.cork(() => {
                response.upgrade<UserData>({ connection }, key, chosen ?? '', extensions, context);
              });
            } catch (error) {
              // The socket never opens: its place goes back.
              lease.release();
              throw error;
            }
            markFinished(response);
          },
        ),
        guardResponse(options.guard, 'ws upgrade', response, (error: unknown) => {
          if (aborted) return;
          refuseUpgrade(response, toFanoutError(error), metrics);
        }),
      );
    },
    open(ws) {
      const connection = ws.getUserData().connection;
      connection.ws = ws;
      live.add(connection);
      metrics.connections.inc({ transport: 'ws' });
      connection.heard();
      if (connection.identity) {
        connection.armExpiry();
        connection.send(connectedFrame(0, connection.identity));
      }
    },
    message(ws, data, isBinary) {
      const connection = ws.getUserData().connection;
      connection.heard();
      if (connection.ending) return;
      if (data.byteLength > config.maxMessageBytes) {
        connection.closeWith(
          'message_too_large',
          `a frame may have at most ${config.maxMessageBytes} bytes`,
        );
        return;
      }
      let message: ClientMessage;
      try {
        message = decodeClientFrame(connection.format, data, isBinary);
      } catch (error) {
        const failure = toFanoutError(error);
        metrics.frameErrors.inc({ code: failure.code });
        connection.send({
          kind: 'error',
          requestId: 0,
          code: failure.code,
          message: failure.message,
        });
        return;
      }
      handle(connection, message).catch(
        guard(
          options.guard,
          'ws request failed',
          (error: unknown) => {
            const failure = toFanoutError(error);
            if (failure.code === 'internal') {
              logger.error({ err: error }, 'WebSocket request failed');
            }
            metrics.frameErrors.inc({ code: failure.code });
            const channel = failure.details['channel'];
            connection.send({
              kind: 'error',
              requestId: message.requestId,
              code: failure.code,
              message: failure.message,
              ...(typeof channel === 'string' ? { channel } : {}),
            });
            // A connect with an expired token ends the connection; a refresh
            // with one is only refused: the connection keeps its token.
            if (failure.code === 'token_expired' && message.kind === 'connect') {
              connection.closeWith('token_expired', failure.message);
            }
          },
          () => {
            endWithInternal(ws);
          },
        ),
      );
    },
    ping(ws) {
      ws.getUserData().connection.heard();
    },
    pong(ws) {
      ws.getUserData().connection.heard();
    },
    drain(ws) {
      ws.getUserData().connection.onDrain();
    },
    close(ws, code) {
      const connection = ws.getUserData().connection;
      // Without a close handshake: the client vanished, uWebSockets.js
      // dropped it at twice the limit (closeOnBackpressureLimit) during a
      // burst between two sweeps, or it sent a text frame that is not UTF-8.
      // uWS cannot tell which.
      if (!connection.endedByEdge && code === 1006) metrics.abruptCloses.inc();
      // A socket whose open handler failed was never counted.
      if (live.delete(connection)) metrics.connections.dec({ transport: 'ws' });
      connection.onClose();
    },
    onFault(ws) {
      endWithInternal(ws);
    },
    onCloseFault(ws) {
      const connection = ws.getUserData().connection;
      if (live.delete(connection)) metrics.connections.dec({ transport: 'ws' });
      if (!connection.closed) connection.onClose();
    },
  };
  app.ws<UserData>('/v1/ws', behavior);

  /** Ends a socket whose handler failed: `disconnect` with positions, close 4000. */
  function endWithInternal(ws: WebSocket<UserData>): void {
    try {
      const connection = ws.getUserData().connection;
      connection.ws ??= ws;
      connection.closeWith(
        'internal',
        'the edge failed on this connection; resume from the positions',
      );
    } catch (error) {
      options.guard.report('ws fault', error);
      failSocket(ws);
    }
  }

  return {
    connections: () => live.size,
    /**
     * Closes the connections over the limit. `pendingBytes` were published
     * this turn and may still wait in uWS's topic queue, not counted in a
     * buffered amount: a connection they might take over the limit is handed
     * its queued frames first (a send does that; a ping is the smallest).
     */
    sweep(pendingBytes) {
      for (const connection of live) {
        if (pendingBytes > 0 && connection.bufferedBytes() + pendingBytes > softLimit) {
          connection.flushQueued();
        }
        if (connection.bufferedBytes() > softLimit) {
          connection.closeWith(
            'backpressure',
            'the client read too slowly; resume from the positions',
          );
        }
      }
    },
    sweepIdle() {
      const now = Date.now();
      const idleMs = idle.edgeSeconds * 1000;
      for (const connection of [...live]) {
        if (
          !connection.authenticated() &&
          connection.pendingTokenFrames === 0 &&
          now - connection.openedAt >= config.connectTimeoutMs
        ) {
          // Pings keep a socket from idling out, not from authenticating.
          connection.closeWith(
            'unauthenticated',
            `no Connect frame with a valid token within ${config.connectTimeoutMs} ms`,
          );
          continue;
        }
        const silent = now - connection.lastHeard;
        if (silent >= idleMs) {
          connection.closeWith(
            'idle_timeout',
            `nothing was received for ${idle.edgeSeconds} s; reconnect and resume`,
          );
        } else if (silent >= idleMs / 2 && !connection.pinged && connection.ws) {
          // A live client answers with a pong, which counts as traffic.
          connection.pinged = true;
          connection.ws.ping();
        }
      }
    },
    drainAll(code, message) {
      for (const connection of [...live]) connection.closeWith(code, message);
    },
    drainSome(count, code, message, hint) {
      let left = count;
      for (const connection of [...live]) {
        if (left-- <= 0) break;
        const partitions = hint ? connection.partitions() : undefined;
        connection.closeWith(
          code,
          message,
          partitions === undefined ? undefined : hint?.(partitions, connection.key),
        );
      }
    },
    rebalance(select, limit) {
      let closed = 0;
      for (const connection of [...live]) {
        if (closed >= limit) break;
        if (connection.closed) continue;
        const partitions = connection.partitions();
        if (partitions === undefined) continue;
        const hint = select(partitions, connection.key);
        if (hint === undefined) continue;
        connection.closeWith(
          'rebalance',
          'the partitions of this connection moved to another edge; resume there',
          hint,
        );
        closed++;
      }
      return closed;
    },
  };
}
