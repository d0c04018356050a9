/**
 * The state subscriptions of one WebSocket connection (`snapshot: true` in
 * a Subscribe): each a reader of its channel's `StateTracker`, as an SSE
 * state stream is (state-watch.ts), writing `patch` and
 * `stateChangeRefused` frames.
 *
 * A Subscribe is admitted by the subscription core with its event
 * subscriptions (limit, rate, duplicates, channel grants): a state
 * subscription takes its channel as its label, so a connection holds either
 * a state or an event subscription of a channel, and Unsubscribe names it
 * the same way. Once admitted the trackers are acquired and caught up with
 * the log (read-your-writes), then, in the synchronous step where the core
 * emits `subscribed`, every state subscription joins its tracker and the
 * one `subscribed` frame carries its snapshot; when its `since` is held by
 * the tracker's patch ring the patches after it follow the frame instead.
 * No change can fall between the join and the frame.
 *
 * A resource subscription (`resource` in a Subscribe) is a state
 * subscription of the resource's channel that also holds a share of the
 * edge's lease of the resource (ResourceLeases, the one HTTP subscribers
 * share): joined while the Subscribe is prepared, refused alone (an `error`
 * frame naming the channel) when the lease is, and released by the
 * subscription's own `leave()`, which every end of it goes through
 * (unsubscribe, a narrower token, its tracker stopping, the connection
 * closing for any reason). A renewal that fails later is retried at the
 * next one, as for an HTTP stream; the subscription goes on.
 *
 * Every patch frame is the step's, encoded once per (format, delta) for
 * every subscriber (`StateStep.wsFrame`). A tracker that stops (eviction,
 * Kafka, the log moved on) ends its subscriptions with an `error` frame
 * (request id 0, its code and channel); the client subscribes again.
 */
import {
  FanoutError,
  namespacesAllow,
  parsePosition,
  toFanoutError,
  type StateDeltaKind,
} from '@fanout/shared';
import type { EdgeMetrics } from '../edge-metrics.js';
import { awaitFirstState } from '../resources/resource-endpoint.js';
import type { ResourceHold, ResourceLeases, ResourceTarget } from '../resources/resource-leases.js';
import type { SubscribedState } from '../subscriptions/subscriber.js';
import type {
  ExternalSubscriptions,
  SubscribeRequest,
  SubscriptionSession,
} from '../subscriptions/subscription-core.js';
import type { RefusedChange, StateStep } from '../subscriptions/state/state-step.js';
import type { StateListener, StateTracker } from '../subscriptions/state/state-tracker.js';
import type { StateTrackers } from '../subscriptions/state/state-trackers.js';
import type { WsConnection } from './ws-connection.js';
import type { SubscriptionState } from './ws-frames.js';

/** A state subscription asked for: a channel, from `since` or a snapshot, with its delta. */
export interface StateRequest {
  readonly channel: string;
  readonly since?: string;
  readonly delta: StateDeltaKind;
  /** A resource subscription: the resource whose lease it holds (`channel` is its channel). */
  readonly resource?: ResourceTarget;
}

export interface WsStateContext {
  readonly trackers: StateTrackers;
  readonly kafkaWaitMs: number;
  readonly metrics: EdgeMetrics;
  /** `edge.resources.firstStateWaitMs`: how long a new resource's first state is waited for. */
  readonly firstStateWaitMs: number;
  /** The edge's resource leases; without them a resource subscription is `not_found`. */
  readonly resources?: ResourceLeases;
}

/** How a resource subscription's lease turned out while the Subscribe was prepared. */
type LeaseOutcome = { readonly hold: ResourceHold } | { readonly error: FanoutError };

/** The byte length of a frame as sent. */
function frameBytes(frame: string | Uint8Array): number {
  return typeof frame === 'string' ? Buffer.byteLength(frame) : frame.byteLength;
}

/** One state subscription: a reader of its channel's tracker. */
class WsStateSubscription implements StateListener {
  readonly channel: string;
  readonly tracker: StateTracker;
  readonly delta: StateDeltaKind;
  /** The position of the last state sent (snapshot or patch): where it resumes. */
  position: string;
  /** A resource subscription's share of the edge's lease, released when it leaves. */
  readonly hold: ResourceHold | undefined;
  readonly #owner: WsStateSubscriptions;
  #left = false;

  constructor(
    owner: WsStateSubscriptions,
    request: StateRequest,
    tracker: StateTracker,
    hold: ResourceHold | undefined,
  ) {
    this.#owner = owner;
    this.channel = request.channel;
    this.tracker = tracker;
    this.delta = request.delta;
    this.position = request.since ?? '';
    this.hold = hold;
  }

  /**
   * Ends it: leaves the tracker and releases the lease hold (once). Every
   * way a state subscription ends comes here.
   */
  leave(): void {
    if (this.#left) return;
    this.#left = true;
    this.tracker.leave(this);
    this.hold?.release();
  }

  changed(step: StateStep): void {
    const connection = this.#owner.connection;
    const frame = step.wsFrame(this.channel, connection.format, this.delta);
    if (!connection.sendFrame(frame)) return;
    this.position = step.position;
    this.#owner.patchBytes.inc(frameBytes(frame));
  }

  refused(change: RefusedChange): void {
    // The state stays at the previous position: `position` does not move.
    this.#owner.connection.send({
      kind: 'stateChangeRefused',
      channel: this.channel,
      position: change.position,
      reason: change.reason,
      message: change.message,
    });
  }

  ended(error: FanoutError): void {
    this.#owner.ended(this, error);
  }
}

export class WsStateSubscriptions implements ExternalSubscriptions {
  readonly connection: WsConnection;
  readonly context: WsStateContext;
  /** `statePatchBytes{transport="ws"}`, its labels resolved once rather than at every patch. */
  readonly patchBytes: { inc(value: number): void };
  /** Active state subscriptions by channel. */
  readonly #active = new Map<string, WsStateSubscription>();
  /** Aborted when the connection ends: what is waited for stops. */
  readonly #ending = new AbortController();

  constructor(connection: WsConnection, context: WsStateContext) {
    this.connection = connection;
    this.context = context;
    this.patchBytes = context.metrics.statePatchBytes.labels({ transport: 'ws' });
  }

  get count(): number {
    return this.#active.size;
  }

  has(label: string): boolean {
    return this.#active.has(label);
  }

  /** The partitions of the channels followed: a drain or a rebalance moves them too. */
  partitions(): Set<number> {
    return new Set(
      [...this.#active.values()].map((subscription) => subscription.tracker.partition),
    );
  }

  /**
   * The admission of a Subscribe with state subscriptions, through the
   * core's `subscribe` (`order` is every label of the Subscribe in request
   * order): readies the trackers, then joins them when the core emits
   * `subscribed`, as one frame.
   */
  async subscribe(
    requestId: number,
    states: readonly StateRequest[],
    events: readonly SubscribeRequest[],
    order: readonly string[],
    session: SubscriptionSession,
    wireState: (state: SubscribedState) => SubscriptionState,
  ): Promise<void> {
    const acquired: (StateTracker | undefined)[] = [];
    /** The lease of each resource subscription, by index in `states`. */
    const leases = new Map<number, LeaseOutcome>();
    /** Holds not handed to a subscription that started are released at the end. */
    const handed = new Set<ResourceHold>();
    try {
      await session.subscribe(requestId, events, {
        labels: states.map((request) => request.channel),
        prepare: async () => {
          // Resources first: a lease refused leaves its channel's tracker alone.
          await this.#lease(states, leases);
          const deadline = Date.now() + this.context.kafkaWaitMs;
          states.forEach((request, index) => {
            const lease = leases.get(index);
            if (lease !== undefined && 'error' in lease) {
              acquired.push(undefined);
              return;
            }
            try {
              acquired.push(this.context.trackers.acquire(request.channel));
            } catch (error) {
              throw naming(request.channel, error);
            }
          });
          await Promise.all(
            acquired.flatMap((tracker) =>
              tracker === undefined
                ? []
                : [
                    tracker.caughtUp(deadline).catch((error: unknown) => {
                      throw naming(tracker.channel, error);
                    }),
                  ],
            ),
          );
          await this.#firstStates(states, acquired, leases);
        },
        subscribed: (started) => {
          this.#start(requestId, states, acquired, leases, handed, started.map(wireState), order);
        },
      });
    } finally {
      for (const tracker of acquired) if (tracker !== undefined) tracker.pins--;
      for (const outcome of leases.values()) {
        if ('hold' in outcome && !handed.has(outcome.hold)) outcome.hold.release();
      }
    }
  }

  /**
   * Joins the edge's lease of every resource subscription, all at once;
   * each outcome is a hold or the error that refuses that subscription
   * alone (`not_found` when this edge serves no resources).
   */
  async #lease(states: readonly StateRequest[], leases: Map<number, LeaseOutcome>): Promise<void> {
    const resources = this.context.resources;
    await Promise.all(
      states.map(async (request, index) => {
        const target = request.resource;
        if (target === undefined) return;
        if (resources === undefined) {
          leases.set(index, {
            error: new FanoutError(
              'not_found',
              'on-demand resources are not enabled on this edge',
              { details: { setting: 'edge.resources.enabled' } },
            ),
          });
          return;
        }
        let hold: ResourceHold;
        try {
          hold = await resources.hold(target);
        } catch (error) {
          leases.set(index, { error: toFanoutError(error) });
          return;
        }
        if (hold.channel !== request.channel) {
          // The bridge publishes it elsewhere (another channel prefix): not servable here.
          hold.release();
          leases.set(index, {
            error: new FanoutError(
              'unavailable',
              `the bridge publishes this resource to ${hold.channel}, not ${request.channel}: check edge.resources.channelPrefix`,
            ),
          });
          return;
        }
        leases.set(index, { hold });
      }),
    );
  }

  /**
   * Waits (at most `firstStateWaitMs`, all at once) for the first state of
   * the resources that have none yet: a new lease's bridge publishes after
   * its first poll, and a snapshot is better than an empty one.
   */
  async #firstStates(
    states: readonly StateRequest[],
    trackers: readonly (StateTracker | undefined)[],
    leases: ReadonlyMap<number, LeaseOutcome>,
  ): Promise<void> {
    const waiting = states.flatMap((_, index) => {
      const tracker = trackers[index];
      const outcome = leases.get(index);
      return tracker !== undefined && outcome !== undefined && 'hold' in outcome ? [tracker] : [];
    });
    await Promise.all(
      waiting.map((tracker) =>
        awaitFirstState(tracker, this.context.firstStateWaitMs, this.#ending.signal),
      ),
    );
  }

  /**
   * Joins every tracker and sends the one `subscribed` frame, snapshots in
   * it, then the patches of the subscriptions that resume from the ring.
   */
  #start(
    requestId: number,
    requests: readonly StateRequest[],
    trackers: readonly (StateTracker | undefined)[],
    leases: ReadonlyMap<number, LeaseOutcome>,
    handed: Set<ResourceHold>,
    eventStates: readonly SubscriptionState[],
    order: readonly string[],
  ): void {
    // Ended or closing: nothing more starts; the holds go back (`subscribe`'s finally).
    if (this.#ending.signal.aborted || this.connection.ending) return;
    const byLabel = new Map(eventStates.map((state) => [state.channel, state]));
    const resuming: { subscription: WsStateSubscription; steps: readonly StateStep[] }[] = [];
    requests.forEach((request, index) => {
      const lease = leases.get(index);
      if (lease !== undefined && 'error' in lease) {
        this.connection.refused(requestId, request.channel, lease.error);
        return;
      }
      const hold = lease?.hold;
      const tracker = trackers[index];
      if (tracker === undefined) return;
      // The token may have changed while the trackers caught up.
      const { namespaces } = this.connection.currentIdentity();
      if (!namespacesAllow(namespaces, request.channel)) {
        this.connection.refused(
          requestId,
          request.channel,
          new FanoutError(
            'permission_denied',
            `the current token does not allow ${request.channel}`,
          ),
        );
        return;
      }
      const subscription = new WsStateSubscription(this, request, tracker, hold);
      let opening;
      try {
        opening = tracker.join(
          subscription,
          request.since === undefined
            ? undefined
            : { value: parsePosition(request.since), text: request.since },
          request.delta,
        );
      } catch (error) {
        this.connection.refused(requestId, request.channel, toFanoutError(error));
        return;
      }
      this.#active.set(request.channel, subscription);
      if (hold !== undefined) handed.add(hold);
      const resource =
        hold === undefined || request.resource === undefined
          ? {}
          : { resource: request.resource.url, statusChannel: hold.statusChannel };
      if (opening.kind === 'patches') {
        byLabel.set(request.channel, {
          channel: request.channel,
          position: subscription.position,
          ...resource,
        });
        resuming.push({ subscription, steps: opening.steps });
        return;
      }
      const { snapshot } = opening;
      subscription.position = snapshot.position;
      byLabel.set(request.channel, {
        channel: request.channel,
        position: snapshot.position,
        ...resource,
        snapshot: {
          requestId,
          channel: request.channel,
          position: snapshot.position,
          exists: snapshot.json !== undefined,
          ...(snapshot.json === undefined ? {} : { state: snapshot.json }),
          reset: opening.reset,
        },
      });
      this.context.metrics.stateSnapshotBytes.inc({ transport: 'ws' }, snapshot.json?.length ?? 0);
    });
    const subscriptions = order.flatMap((label) => {
      const state = byLabel.get(label);
      return state === undefined ? [] : [state];
    });
    this.connection.send({ kind: 'subscribed', requestId, subscriptions });
    for (const { subscription, steps } of resuming) {
      for (const step of steps) subscription.changed(step);
    }
  }

  /** Ends the state subscriptions of these channels; returns those there were. */
  unsubscribe(labels: readonly string[]): string[] {
    const removed: string[] = [];
    for (const label of labels) {
      const subscription = this.#active.get(label);
      if (subscription === undefined) continue;
      this.#active.delete(label);
      subscription.leave();
      removed.push(label);
    }
    return removed;
  }

  /**
   * The token changed: subscriptions it no longer allows end, each refused
   * with `permission_denied` naming it.
   */
  reauthorize(requestId: number): void {
    const { namespaces } = this.connection.currentIdentity();
    for (const [label] of [...this.#active]) {
      if (namespacesAllow(namespaces, label)) continue;
      this.unsubscribe([label]);
      this.connection.refused(
        requestId,
        label,
        new FanoutError(
          'permission_denied',
          `the refreshed token does not allow ${label}; the subscription ended`,
        ),
      );
    }
  }

  /** A tracker stopped: its subscription ends with an `error` frame naming the channel. */
  ended(subscription: WsStateSubscription, error: FanoutError): void {
    if (this.#active.get(subscription.channel) !== subscription) return;
    this.#active.delete(subscription.channel);
    subscription.leave();
    this.connection.send({
      kind: 'error',
      requestId: 0,
      code: error.code,
      message: error.message,
      channel: subscription.channel,
    });
  }

  /** Where each state subscription stands: its last state position. */
  positions(): { label: string; position?: string }[] {
    return [...this.#active.values()].map((subscription) => ({
      label: subscription.channel,
      ...(subscription.position === '' ? {} : { position: subscription.position }),
    }));
  }

  /** The connection is gone (or closing): every subscription leaves its tracker. */
  end(): void {
    for (const subscription of this.#active.values()) subscription.leave();
    this.#active.clear();
    this.#ending.abort();
  }
}

/** `error` as a FanoutError naming `channel` (the Error frame carries it). */
function naming(channel: string, error: unknown): FanoutError {
  const failure = toFanoutError(error);
  if (failure.details['channel'] !== undefined) return failure;
  return new FanoutError(failure.code, failure.message, {
    details: { ...failure.details, channel },
    cause: error,
  });
}
