/**
 * How fast one connection may subscribe: a token bucket (TokenBucket of
 * @fanout/shared) that holds up to `capacity` subscriptions (enough to
 * subscribe to everything at once) and refills at `perSecond`. Unsubscribing
 * gives nothing back, so a client that churns subscriptions is held to the
 * rate. Zero (or an infinite) `perSecond` is no limit.
 */
import { FanoutError, TokenBucket } from '@fanout/shared';

export class SubscribeBudget {
  /** Undefined when there is no limit. */
  readonly #bucket: TokenBucket | undefined;

  constructor(perSecond: number, capacity: number, now: () => number = Date.now) {
    this.#bucket =
      perSecond > 0 && Number.isFinite(perSecond)
        ? new TokenBucket({ perSecond, capacity: Math.max(1, capacity), now })
        : undefined;
  }

  /** Spends `count` subscriptions or throws rate_limited with the delay to wait. */
  spend(count: number): void {
    if (this.#bucket === undefined) return;
    const retryAfterMs = this.#bucket.take(count);
    if (retryAfterMs === 0) return;
    throw new FanoutError(
      'rate_limited',
      `subscribing faster than ${this.#bucket.perSecond} subscriptions/s; retry in ${retryAfterMs} ms`,
      { details: { retryAfterMs } },
    );
  }
}
