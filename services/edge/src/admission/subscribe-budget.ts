/**
 * How fast one connection may subscribe: a bucket that holds up to
 * `capacity` subscriptions (enough to subscribe to everything at once) and
 * refills at `perSecond`. Unsubscribing gives nothing back, so a client
 * that churns subscriptions is held to the rate. Zero `perSecond` is no
 * limit.
 */
import { FanoutError } from '@fanout/shared';

export class SubscribeBudget {
  readonly #perSecond: number;
  readonly #capacity: number;
  readonly #now: () => number;
  #left: number;
  #at: number;

  constructor(perSecond: number, capacity: number, now: () => number = Date.now) {
    this.#perSecond = perSecond;
    this.#capacity = Math.max(1, capacity);
    this.#now = now;
    this.#left = this.#capacity;
    this.#at = now();
  }

  /** Spends `count` subscriptions or throws rate_limited with the delay to wait. */
  spend(count: number): void {
    if (this.#perSecond <= 0) return;
    const now = this.#now();
    this.#left = Math.min(this.#capacity, this.#left + ((now - this.#at) / 1000) * this.#perSecond);
    this.#at = now;
    if (count <= this.#left) {
      this.#left -= count;
      return;
    }
    const retryAfterMs = Math.ceil(((count - this.#left) / this.#perSecond) * 1000);
    throw new FanoutError(
      'rate_limited',
      `subscribing faster than ${this.#perSecond} subscriptions/s; retry in ${retryAfterMs} ms`,
      { details: { retryAfterMs } },
    );
  }
}
