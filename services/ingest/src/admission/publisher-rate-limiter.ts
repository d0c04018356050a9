/**
 * Per-publisher rate limit: each publisher has a token bucket (TokenBucket
 * of @fanout/shared) of `eventsPerSecond` tokens that holds at most `burst`.
 * A publish takes one token per event; when the bucket is short, the publish
 * fails with `rate_limited` and a retry delay, and takes nothing. Pure: time
 * comes from `now`.
 */
import { FanoutError, TokenBucket } from '@fanout/shared';

/** Above this many publishers, full buckets are forgotten before a new one is added. */
const maxTrackedPublishers = 10_000;

export class PublisherRateLimiter {
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(
    private readonly eventsPerSecond: number,
    private readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {}

  get enabled(): boolean {
    return this.eventsPerSecond > 0;
  }

  /** Takes `events` tokens for `publisher` or throws rate_limited. */
  take(publisher: string, events: number): void {
    if (!this.enabled) return;
    const bucket = this.bucketOf(publisher);
    if (events > bucket.capacity) {
      // User-visible messages keep saying "producer", as they always have.
      throw new FanoutError(
        'rate_limited',
        `a batch of ${events} events is more than producer "${publisher}" may send at once (${bucket.capacity})`,
        { details: { retryAfterMs: 1000 } },
      );
    }
    const retryAfterMs = bucket.take(events);
    if (retryAfterMs > 0) {
      throw new FanoutError(
        'rate_limited',
        `producer "${publisher}" is over its limit of ${this.eventsPerSecond} events/s; retry in ${retryAfterMs} ms`,
        { details: { retryAfterMs } },
      );
    }
  }

  private bucketOf(publisher: string): TokenBucket {
    const known = this.buckets.get(publisher);
    if (known !== undefined) return known;
    if (this.buckets.size >= maxTrackedPublishers) this.forgetIdle();
    const bucket = new TokenBucket({
      perSecond: this.eventsPerSecond,
      capacity: Math.max(this.burst, 1),
      now: this.now,
    });
    this.buckets.set(publisher, bucket);
    return bucket;
  }

  /** Drops buckets that have refilled: forgetting them changes nothing. */
  private forgetIdle(): void {
    for (const [publisher, bucket] of this.buckets) {
      if (bucket.full) this.buckets.delete(publisher);
    }
  }
}
