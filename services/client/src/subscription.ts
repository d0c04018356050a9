/**
 * One subscription of the client: a channel or a pattern, optionally
 * narrowed to event types. It keeps its position across reconnects, drops
 * events it has seen (by position and by id), and hands events to callbacks
 * and async iterators. A `reset` (its position is older than the log holds,
 * or from another epoch) goes to the application's `onReset` hook, which
 * refetches state and says where to continue; without a hook the
 * subscription ends with the reset as its error — never a silent skip.
 */
import { FanoutError, isErrorCode } from '@fanout/shared/portable-core';
import { AsyncQueue } from './async-queue.js';
import { DedupeWindow } from './dedupe-window.js';
import type { FanoutEvent } from './fanout-event.js';
import { StreamCursor } from './stream-cursor.js';
import type { ResetInfo } from './transport.js';

/**
 * Called when the subscription's position cannot be served. Refetch the
 * state the events would have built (e.g. `GET /v1/channels/{channel}`),
 * then return the position to continue after, or nothing to continue with
 * live events from now. A rejection ends the subscription with that error.
 */
export type ResetHandler = (reset: ResetInfo) => string | undefined | Promise<string | undefined>;

export interface SubscribeOptions {
  /** Resume after this position (a stored `subscription.position`). */
  readonly since?: string;
  /** Deliver only events of these types. */
  readonly types?: readonly string[];
  /**
   * Start with the channel's last `rewind` events, then live ones (a
   * channel, not a pattern; at most the edge's `edge.maxRewind`). Only for
   * the first subscribe: once it has a position (or with `since`) the
   * subscription resumes from it. Over long-poll the edge counts events of
   * every type (`types` is applied by the client there).
   */
  readonly rewind?: number;
  readonly onEvent?: (event: FanoutEvent) => void;
  readonly onReset?: ResetHandler;
  /** The subscription ended with an error (refused by the edge, reset without a hook, or a terminal close). */
  readonly onError?: (error: FanoutError) => void;
}

/** `pending`: waiting for the edge; `active`: receiving; `resetting`: in the reset hook; `ended`. */
export type SubscriptionState = 'pending' | 'active' | 'resetting' | 'ended';

export class Subscription implements AsyncIterable<FanoutEvent> {
  readonly channel: string;
  readonly types: readonly string[] | undefined;
  /** The channel's last events to start with, while it has no position. */
  readonly rewind: number | undefined;
  readonly #options: SubscribeOptions;
  readonly #cursor = new StreamCursor();
  readonly #dedupe: DedupeWindow;
  readonly #queues = new Set<AsyncQueue<FanoutEvent>>();
  readonly #onEnd: (subscription: Subscription) => void;
  #state: SubscriptionState = 'pending';
  #error: FanoutError | undefined;
  #duplicates = 0;

  /** @internal Created by `FanoutClient.subscribe`. */
  constructor(
    channel: string,
    options: SubscribeOptions,
    dedupeWindow: number,
    onEnd: (subscription: Subscription) => void,
  ) {
    this.channel = channel;
    this.types = options.types === undefined ? undefined : Object.freeze([...options.types]);
    this.rewind = options.rewind === undefined || options.rewind === 0 ? undefined : options.rewind;
    this.#options = options;
    this.#dedupe = new DedupeWindow(dedupeWindow);
    this.#onEnd = onEnd;
    if (options.since !== undefined) this.#cursor.set(options.since);
  }

  /** The position (a cursor for patterns) after the last event received; store it to resume later. */
  get position(): string | undefined {
    return this.#cursor.text();
  }

  get state(): SubscriptionState {
    return this.#state;
  }

  /** Why the subscription ended, if it ended with an error. */
  get error(): FanoutError | undefined {
    return this.#error;
  }

  /** Events dropped as already received (across reconnects). */
  get duplicatesDropped(): number {
    return this.#duplicates;
  }

  /** Events from now on, until the subscription ends (an error ends it by throwing). */
  [Symbol.asyncIterator](): AsyncIterableIterator<FanoutEvent> {
    const queue = new AsyncQueue<FanoutEvent>(() => this.#queues.delete(queue));
    if (this.#state === 'ended') {
      if (this.#error) queue.fail(this.#error);
      else queue.end();
      return queue;
    }
    this.#queues.add(queue);
    return queue;
  }

  /** Stops the subscription; iterators finish. */
  unsubscribe(): void {
    this.end();
  }

  /** @internal Whether an event of `channel` and `type` belongs here. */
  matches(channel: string, type: string, matchesPattern: boolean): boolean {
    if (this.#state === 'ended' || this.#state === 'resetting') return false;
    if (channel !== this.channel && !matchesPattern) return false;
    return this.types === undefined || this.types.length === 0 || this.types.includes(type);
  }

  /** @internal The edge accepted the subscription, continuing after `position`. */
  confirmed(position: string | undefined): void {
    if (this.#state === 'ended' || this.#state === 'resetting') return;
    this.#state = 'active';
    if (position !== undefined && this.#cursor.empty) this.#cursor.set(position);
  }

  /** @internal A stream cursor (SSE `id:`) covering everything received so far. */
  moveTo(cursor: string): void {
    this.#cursor.set(cursor);
  }

  /** @internal Delivers an event unless it was received before. */
  deliver(event: FanoutEvent, cursor?: string): void {
    if (this.#state === 'ended' || this.#state === 'resetting') return;
    const isNew = this.#cursor.advance(event.position);
    const seen = this.#dedupe.seen(event.id);
    if (cursor !== undefined) this.#cursor.set(cursor);
    if (!isNew || seen) {
      this.#duplicates++;
      return;
    }
    this.#state = 'active';
    this.#options.onEvent?.(event);
    for (const queue of this.#queues) queue.push(event);
  }

  /** @internal Runs the reset hook; resolves true when the subscription goes on. */
  async reset(reset: ResetInfo): Promise<boolean> {
    if (this.#state === 'ended') return false;
    this.#state = 'resetting';
    const hook = this.#options.onReset;
    if (hook === undefined) {
      this.fail(
        new FanoutError(
          isErrorCode(reset.code) ? reset.code : 'position_too_old',
          `position ${reset.requested} of ${reset.channel} cannot be served (${reset.code}); refetch the state and subscribe again`,
          { details: { requested: reset.requested, earliest: reset.earliest } },
        ),
      );
      return false;
    }
    let since: string | undefined;
    try {
      since = await hook(reset);
    } catch (error) {
      this.fail(
        error instanceof FanoutError
          ? error
          : new FanoutError('internal', 'the reset handler failed', { cause: error }),
      );
      return false;
    }
    // The application may have unsubscribed while the hook ran.
    if ((this.#state as SubscriptionState) === 'ended') return false;
    this.#cursor.clear();
    if (since !== undefined && since !== '') this.#cursor.set(since);
    this.#state = 'pending';
    return true;
  }

  /** @internal The subscription is waiting for a new connection. */
  pending(): void {
    if (this.#state === 'active') this.#state = 'pending';
  }

  /** @internal Ends with an error: callbacks and iterators hear it. */
  fail(error: FanoutError): void {
    if (this.#state === 'ended') return;
    this.#error = error;
    this.#state = 'ended';
    this.#options.onError?.(error);
    for (const queue of this.#queues) queue.fail(error);
    this.#queues.clear();
    this.#onEnd(this);
  }

  /** @internal Ends without an error. */
  end(): void {
    if (this.#state === 'ended') return;
    this.#state = 'ended';
    for (const queue of this.#queues) queue.end();
    this.#queues.clear();
    this.#onEnd(this);
  }
}
