/**
 * Per-publisher rate limit: a token bucket of `eventsPerSecond` tokens that
 * holds at most `burst`. A publish takes one token per event; when the
 * bucket is short, the publish fails with `rate_limited` and a retry delay,
 * and takes nothing. Pure: time comes from `now`.
 */
import { FanoutError } from '@fanout/shared';

/** Above this many publishers, full buckets are forgotten before a new one is added. */
const maxTrackedPublishers = 10_000;

interface Bucket {
  tokens: number;
  updatedAt: number;
}

export class PublisherRateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly eventsPerSecond: number,
    private readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {}

  get enabled(): boolean {
    return this.eventsPerSecond > 0;
  }

  /** Takes `events` tokens for `producer` or throws rate_limited. */
  take(producer: string, events: number): void {
    if (!this.enabled) return;
    const now = this.now();
    const capacity = Math.max(this.burst, 1);
    const bucket = this.buckets.get(producer) ?? { tokens: capacity, updatedAt: now };
    bucket.tokens = Math.min(
      capacity,
      bucket.tokens + ((now - bucket.updatedAt) / 1000) * this.eventsPerSecond,
    );
    bucket.updatedAt = now;
    if (!this.buckets.has(producer)) {
      if (this.buckets.size >= maxTrackedPublishers) this.forgetIdle(now);
      this.buckets.set(producer, bucket);
    }
    if (events > capacity) {
      throw new FanoutError(
        'rate_limited',
        `a batch of ${events} events is more than producer "${producer}" may send at once (${capacity})`,
        { details: { retryAfterMs: 1000 } },
      );
    }
    if (bucket.tokens < events) {
      const retryAfterMs = Math.ceil(((events - bucket.tokens) / this.eventsPerSecond) * 1000);
      throw new FanoutError(
        'rate_limited',
        `producer "${producer}" is over its limit of ${this.eventsPerSecond} events/s; retry in ${retryAfterMs} ms`,
        { details: { retryAfterMs } },
      );
    }
    bucket.tokens -= events;
  }

  /** Drops buckets that have refilled: forgetting them changes nothing. */
  private forgetIdle(now: number): void {
    const capacity = Math.max(this.burst, 1);
    for (const [producer, bucket] of this.buckets) {
      const tokens = bucket.tokens + ((now - bucket.updatedAt) / 1000) * this.eventsPerSecond;
      if (tokens >= capacity) this.buckets.delete(producer);
    }
  }
}
