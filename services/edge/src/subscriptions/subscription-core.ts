/**
 * The subscribe flow, once for every transport: authorization with the
 * identity current at that moment, the limits, the hub's resume decisions
 * (`prepare`: cursor, too old, epoch, partition), the catch-up, the seam
 * re-check and live delivery, resets and catch-up failures. A transport
 * opens a `SubscriptionSession` per client with its `Subscriber` and turns
 * requests into `subscribe` / `unsubscribe` calls; what happens is emitted
 * to the subscriber as plain values (subscribed states, resets, refusals,
 * a close) that the transport encodes.
 */
import {
  FanoutError,
  formatStreamCursor,
  namespacesAllow,
  partitionForChannel,
  toFanoutError,
  type ErrorCode,
  type FanoutConfig,
  type Logger,
} from '@fanout/shared';
import type { ClientAuth } from '../admission/client-auth.js';
import { SubscribeBudget } from '../admission/subscribe-budget.js';
import type { ClusterRouting } from '../cluster/cluster-routing.js';
import type { EdgeMetrics } from '../edge-metrics.js';
import type { HandlerGuard } from '../transport/uws-guard.js';
import type { ChannelHub } from './channel-hub.js';
import { SessionRegistry, type Session } from './session-registry.js';
import type { StreamCursor } from './stream-cursor.js';
import type { StandingState, SubscribedState, Subscriber } from './subscriber.js';
import { Subscription, type ResetHandler, type ResetInfo } from './subscription.js';

export interface SubscriptionCoreOptions {
  readonly hub: ChannelHub;
  readonly auth: ClientAuth;
  readonly config: FanoutConfig['edge'];
  readonly logger: Logger;
  readonly metrics: EdgeMetrics;
  readonly routing: ClusterRouting;
  /** Reports exceptions of callbacks outside a uWS handler (see uws-guard.ts). */
  readonly guard: HandlerGuard;
}

/** One subscription asked for: channels and patterns under one label, from a cursor or live. */
export interface SubscribeRequest {
  /** How the client names it (a channel, a pattern, or a stream's channel list). */
  readonly label: string;
  readonly channels: readonly string[];
  readonly patterns: readonly string[];
  /** Event types to deliver; empty delivers all. */
  readonly types: readonly string[];
  /** Resume after this cursor; absent: live events from now. */
  readonly since?: StreamCursor;
  /**
   * Where to start, found once the request is admitted (limits, rate,
   * duplicates, grants), in place of `since`: a rewind's backwards scan,
   * which a refused request never costs. A throw refuses the whole request.
   */
  readonly startAt?: () => Promise<StreamCursor>;
}

/**
 * Subscriptions a transport serves itself beside the core's (WebSocket
 * state subscriptions, one channel each): they count against the
 * connection's limit and take their labels.
 */
export interface ExternalSubscriptions {
  /** How many are active or being prepared (outside a running `subscribe`). */
  readonly count: number;
  has(label: string): boolean;
  /**
   * The partitions of their channels: the drain and the rebalance move the
   * session by them as by its own subscriptions'.
   */
  partitions(): Iterable<number>;
}

/**
 * Requests of one `subscribe` that the transport serves itself: admitted
 * with the core's (limit, rate, duplicates, authorization of each label as
 * a channel), readied after admission, and started in the same synchronous
 * step as the core's go live.
 */
export interface ExtraRequests {
  /** Their labels, each one channel. */
  readonly labels: readonly string[];
  /** Readies them once admitted; a throw refuses the whole request. */
  prepare(): Promise<void>;
  /**
   * Emits `subscribed` in place of the subscriber, with the core's started
   * states: the extra subscriptions start in this step.
   */
  subscribed(states: readonly SubscribedState[]): void;
}

/** The requests with their `startAt` found (all at once), as requests from `since`. */
async function startsOf(requests: readonly SubscribeRequest[]): Promise<SubscribeRequest[]> {
  return Promise.all(
    requests.map(async (request) => {
      const { startAt, ...rest } = request;
      return startAt === undefined ? request : { ...rest, since: await startAt() };
    }),
  );
}

/**
 * What a transport's sessions share (one object for all of them: an idle
 * connection costs no more than its session).
 */
export interface SessionOptions {
  /**
   * How fast a session may subscribe (a bucket of `capacity` refilled at
   * `perSecond`, made at its first subscribe); none for a stream that
   * subscribes once.
   */
  readonly subscribeRate?: { readonly perSecond: number; readonly capacity: number };
}

/** Channels and patterns of a request: what counts against the subscription limit. */
function weightOf(request: {
  readonly channels: readonly string[];
  readonly patterns: readonly string[];
}): number {
  return request.channels.length + request.patterns.length;
}

function matchersOf(request: {
  readonly channels: Iterable<string>;
  readonly patterns: readonly string[];
}): string[] {
  return [...request.channels, ...request.patterns];
}

export class SubscriptionCore {
  readonly options: SubscriptionCoreOptions;
  /** Every open session, for the drain and the rebalance. */
  readonly sessions = new SessionRegistry();

  constructor(options: SubscriptionCoreOptions) {
    this.options = options;
  }

  /** A session for one client connection or stream; registered until it ends. */
  open(subscriber: Subscriber, options: SessionOptions): SubscriptionSession {
    const session = new SubscriptionSession(this, subscriber, options);
    this.sessions.add(session);
    return session;
  }
}

export class SubscriptionSession implements Session {
  readonly #core: SubscriptionCore;
  readonly subscriber: Subscriber;
  readonly #options: SessionOptions;
  /** Active subscriptions by label. */
  readonly subscriptions = new Map<string, Subscription>();
  /**
   * Labels of requests still being prepared, with their weight: they count
   * against the limits, and become active only if the identity current when
   * their preparation ends allows them.
   */
  #preparing: Map<string, number> | undefined;
  /** Made at the first subscribe (see `SessionOptions.subscribeRate`). */
  #budget: SubscribeBudget | undefined;
  /** What the transport subscribed outside the core, if it does. */
  external: ExternalSubscriptions | undefined;
  /** The reset handler of every subscription of the session, made with the first one. */
  #onReset: ResetHandler | undefined;
  #ended = false;

  constructor(core: SubscriptionCore, subscriber: Subscriber, options: SessionOptions) {
    this.#core = core;
    this.subscriber = subscriber;
    this.#options = options;
  }

  get key(): string {
    return this.subscriber.key;
  }

  get transport(): Subscriber['transport'] {
    return this.subscriber.transport;
  }

  get closed(): boolean {
    return this.#ended || this.subscriber.closed;
  }

  /** Subscriptions active or being prepared. */
  get count(): number {
    return this.subscriptions.size + (this.#preparing?.size ?? 0);
  }

  /**
   * Checks the limits and the authorization of every request, then prepares
   * them in turn and starts those still allowed, emitting `subscribed`
   * (resets and refusals before it). Throws when the request is refused as
   * a whole (nothing subscribed then), or a preparation fails: with
   * `kafka_unavailable` when Kafka did not answer within `edge.kafkaWaitMs`
   * (the partition could not be started, or its offsets read); SSE answers
   * that with 503, WebSocket closes with 4011 and the positions.
   */
  async subscribe(
    requestId: number,
    requests: readonly SubscribeRequest[],
    extra?: ExtraRequests,
  ): Promise<void> {
    const extraLabels = extra?.labels ?? [];
    this.#admit([
      ...requests,
      ...extraLabels.map((label) => ({
        label,
        channels: [label],
        patterns: [],
        types: [],
      })),
    ]);
    const rate = this.#options.subscribeRate;
    if (rate !== undefined) {
      this.#budget ??= new SubscribeBudget(rate.perSecond, rate.capacity);
      this.#budget.spend(requests.length + extraLabels.length);
    }
    const preparing = (this.#preparing ??= new Map());
    for (const request of requests) preparing.set(request.label, weightOf(request));
    for (const label of extraLabels) preparing.set(label, 1);
    try {
      if (extra !== undefined) await extra.prepare();
      await this.#prepareAll(requestId, await startsOf(requests), extra);
    } finally {
      for (const request of requests) preparing.delete(request.label);
      for (const label of extraLabels) preparing.delete(label);
      // An empty map still holds its table: a subscribed, idle connection keeps none.
      if (preparing.size === 0 && this.#preparing === preparing) this.#preparing = undefined;
    }
  }

  #admit(requests: readonly SubscribeRequest[]): void {
    const { auth, config } = this.#core.options;
    const max = config.maxSubscriptionsPerConnection;
    let weight = requests.reduce((sum, request) => sum + weightOf(request), 0);
    weight += this.external?.count ?? 0;
    for (const subscription of this.subscriptions.values()) {
      weight += subscription.channels.size + subscription.patterns.length;
    }
    for (const preparing of this.#preparing?.values() ?? []) weight += preparing;
    if (weight > max) {
      throw new FanoutError(
        'subscription_limit',
        `at most ${max} channels or patterns per connection`,
      );
    }
    const seen = new Set<string>();
    const identity = this.subscriber.currentIdentity();
    for (const request of requests) {
      if (weightOf(request) === 0) {
        throw new FanoutError('invalid_argument', 'name at least one channel', {
          details: { field: 'channels' },
        });
      }
      if (
        this.subscriptions.has(request.label) ||
        this.#preparing?.has(request.label) === true ||
        this.external?.has(request.label) === true ||
        seen.has(request.label)
      ) {
        throw new FanoutError('invalid_argument', `already subscribed to ${request.label}`);
      }
      seen.add(request.label);
      for (const matcher of matchersOf(request)) auth.authorize(identity, matcher);
    }
  }

  async #prepareAll(
    requestId: number,
    requests: readonly SubscribeRequest[],
    extra: ExtraRequests | undefined,
  ): Promise<void> {
    const { hub, metrics } = this.#core.options;
    const subscriber = this.subscriber;
    const prepared: { subscription: Subscription; resuming: readonly number[] }[] = [];
    const onReset = this.#resetHandler();
    for (const request of requests) {
      const subscription = new Subscription(
        { channels: request.channels, patterns: request.patterns, types: request.types },
        subscriber,
        request.label,
        onReset,
      );
      let result;
      try {
        result = await hub.prepare(subscription, request.since);
      } catch (error) {
        for (const done of prepared) this.#remove(done.subscription);
        throw error;
      }
      this.#preparing?.delete(request.label);
      if (this.closed) {
        hub.remove(subscription);
        return;
      }
      // The identity may have changed while the subscription was prepared:
      // it becomes active only if the identity current now allows it.
      const identity = this.subscriber.currentIdentity();
      const denied = matchersOf(request).find(
        (matcher) => !namespacesAllow(identity.namespaces, matcher),
      );
      if (denied !== undefined) {
        hub.remove(subscription);
        subscriber.refused(
          requestId,
          request.label,
          new FanoutError('permission_denied', `the current token does not allow ${denied}`),
        );
        continue;
      }
      metrics.subscriptions.inc({ transport: subscriber.transport });
      const reset = result.resets[0];
      if (reset) {
        metrics.resets.inc({ code: reset.code });
        hub.remove(subscription);
        metrics.subscriptions.dec({ transport: subscriber.transport });
        subscriber.reset(requestId, subscription, reset);
        continue;
      }
      this.subscriptions.set(request.label, subscription);
      prepared.push({ subscription, resuming: result.resuming });
    }
    if (this.closed) return;
    // A change of identity during a later request's preparation may have ended some.
    const started = prepared.filter((entry) => this.#active(entry.subscription));
    // Subscribed first, then catch-up events, then live ones.
    const states = started.map((entry) => this.#startState(entry.subscription));
    if (extra === undefined) subscriber.subscribed(requestId, states);
    else extra.subscribed(states);
    for (const { subscription, resuming } of started) this.#start(subscription, resuming);
  }

  /** Where a subscription starts, with the owner hint of its channels' partitions. */
  #startState(subscription: Subscription): SubscribedState {
    const { hub, routing } = this.#core.options;
    const cursor = subscription.cursorText();
    const count = hub.partitionCount;
    const partitions = new Set(
      count === undefined
        ? []
        : [...subscription.channels].map((channel) => partitionForChannel(channel, count)),
    );
    const hint = count === undefined ? undefined : routing.hintForSet(count, partitions, this.key);
    const single = subscription.patterns.length === 0 && subscription.cursors.size === 1;
    return {
      label: subscription.label,
      cursor,
      ...(single ? { position: cursor } : {}),
      ...(hint === undefined ? {} : { hint }),
    };
  }

  /**
   * Goes live and catches up. A subscription prepared before a later one's
   * `await` may have missed live events since its cursor was fixed: those
   * partitions catch up from the cursor too (the seam re-check), so nothing
   * between it and live is skipped.
   */
  #start(subscription: Subscription, resuming: readonly number[]): void {
    const { hub, logger, guard } = this.#core.options;
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
          logger.warn(
            { err: error, channel: subscription.label, transport: this.transport },
            'catch-up failed',
          );
          this.close(
            failure.code,
            failure.code === 'internal'
              ? 'catch-up failed; resume from the positions'
              : failure.message,
          );
        } catch (failure) {
          guard.report(`${this.transport} catch-up`, failure);
        }
      });
    }
  }

  /** One function for the resets of all the session's subscriptions (it holds the session only). */
  #resetHandler(): ResetHandler {
    return (this.#onReset ??= (reset, subscription) => {
      this.#resetLater(subscription, reset);
    });
  }

  /** The hub cannot serve a started subscription's position any more. */
  #resetLater(subscription: Subscription, reset: ResetInfo): void {
    if (!this.#active(subscription)) return;
    this.subscriber.reset(0, subscription, reset);
    this.#remove(subscription);
  }

  /** True while `subscription` is the session's active subscription of its label. */
  #active(subscription: Subscription): boolean {
    return !this.closed && this.subscriptions.get(subscription.label) === subscription;
  }

  #remove(subscription: Subscription): void {
    if (this.subscriptions.get(subscription.label) !== subscription) return;
    this.subscriptions.delete(subscription.label);
    this.#core.options.hub.remove(subscription);
    this.#core.options.metrics.subscriptions.dec({ transport: this.transport });
  }

  /** Ends the subscriptions of these labels; returns the labels that were subscribed. */
  unsubscribe(labels: readonly string[]): string[] {
    const removed: string[] = [];
    for (const label of labels) {
      const subscription = this.subscriptions.get(label);
      if (!subscription) continue;
      this.#remove(subscription);
      removed.push(label);
    }
    return removed;
  }

  /**
   * The identity changed (a refreshed token): subscriptions it no longer
   * allows end, each refused with `permission_denied` naming it (those still
   * being prepared are checked when they are ready, against the identity then).
   */
  reauthorize(requestId: number): void {
    const identity = this.subscriber.currentIdentity();
    for (const [label, subscription] of [...this.subscriptions]) {
      if (
        matchersOf(subscription).every((matcher) => namespacesAllow(identity.namespaces, matcher))
      )
        continue;
      this.#remove(subscription);
      this.subscriber.refused(
        requestId,
        label,
        new FanoutError(
          'permission_denied',
          `the refreshed token does not allow ${label}; the subscription ended`,
        ),
      );
    }
  }

  /**
   * Where each subscription stands: what the client has been sent. A
   * partition delivered through a topic has been sent every event published
   * to it so far.
   */
  positions(): StandingState[] {
    return [...this.subscriptions.values()].map((subscription) => {
      const cursor = formatStreamCursor({
        epoch: subscription.epoch,
        offsets: this.#sentThrough(subscription),
      });
      if (subscription.patterns.length > 0) return { label: subscription.label, cursor };
      if (subscription.cursors.size !== 1) return { label: subscription.label };
      return { label: subscription.label, position: cursor };
    });
  }

  /** Per partition, the last offset the client has been sent. */
  #sentThrough(subscription: Subscription): Map<number, number> {
    const hub = this.#core.options.hub;
    const offsets = new Map<number, number>();
    for (const [partition, cursor] of subscription.cursors) {
      const published =
        subscription.topic === undefined
          ? undefined
          : hub.publishedThrough(partition, subscription.topic);
      offsets.set(partition, published ?? cursor);
    }
    return offsets;
  }

  /** The stream cursor of a subscription as sent so far (an SSE stream's `disconnect`). */
  cursorOf(label: string): string | undefined {
    const subscription = this.subscriptions.get(label);
    if (!subscription) return undefined;
    return formatStreamCursor({
      epoch: subscription.epoch,
      offsets: this.#sentThrough(subscription),
    });
  }

  /**
   * The partitions of its channel subscriptions and of the transport's own
   * (`external`: state subscriptions); `undefined` when it follows a pattern.
   */
  partitions(): ReadonlySet<number> | undefined {
    const partitions = new Set<number>(this.external?.partitions() ?? []);
    for (const subscription of this.subscriptions.values()) {
      if (subscription.patterns.length > 0) return undefined;
      for (const partition of subscription.cursors.keys()) partitions.add(partition);
    }
    return partitions;
  }

  /** Ends the client's connection (the subscriber encodes the close). */
  close(code: ErrorCode, message: string, hint?: string): void {
    this.subscriber.close(code, message, hint);
  }

  /** The client's connection is gone: every subscription ends, the session leaves the registry. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#core.sessions.delete(this);
    for (const subscription of [...this.subscriptions.values()]) {
      this.subscriptions.delete(subscription.label);
      this.#core.options.hub.remove(subscription);
      this.#core.options.metrics.subscriptions.dec({ transport: this.transport });
    }
  }
}
