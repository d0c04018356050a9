/**
 * A token bucket: it holds at most `capacity` tokens, refills at `perSecond`
 * tokens a second and starts full. `take` spends tokens only when the bucket
 * holds them all; otherwise it spends nothing and answers how long to wait.
 * Pure arithmetic: time comes from `now` (milliseconds), and the callers turn
 * a wait into their own error. Used by the ingest's per-publisher rate limit
 * and the edge's subscribe budget.
 *
 * Time that goes backwards refills nothing and counts from the new reading,
 * so a clock set back neither drains the bucket nor credits the same
 * interval twice; a long gap refills to `capacity`, never past it.
 */
export interface TokenBucketOptions {
  /** Refill rate, tokens per second; positive and finite (fractions allowed). */
  readonly perSecond: number;
  /** Most tokens the bucket holds; positive and finite. */
  readonly capacity: number;
  /** Milliseconds of a clock; `Date.now` when absent. */
  readonly now?: () => number;
}

export class TokenBucket {
  readonly perSecond: number;
  readonly capacity: number;
  readonly #now: () => number;
  #tokens: number;
  #at: number;

  constructor({ perSecond, capacity, now = Date.now }: TokenBucketOptions) {
    if (!(perSecond > 0) || !Number.isFinite(perSecond)) {
      throw new RangeError(`perSecond must be a positive finite number, not ${perSecond}`);
    }
    if (!(capacity > 0) || !Number.isFinite(capacity)) {
      throw new RangeError(`capacity must be a positive finite number, not ${capacity}`);
    }
    this.perSecond = perSecond;
    this.capacity = capacity;
    this.#now = now;
    this.#tokens = capacity;
    this.#at = now();
  }

  /** The tokens held now (a fraction while refilling). */
  available(): number {
    const now = this.#now();
    const elapsed = now - this.#at;
    if (elapsed > 0) {
      this.#tokens = Math.min(this.capacity, this.#tokens + (elapsed / 1000) * this.perSecond);
    }
    this.#at = now;
    return this.#tokens;
  }

  /** True when the bucket is full: a full bucket is the same as a new one. */
  get full(): boolean {
    return this.available() >= this.capacity;
  }

  /**
   * Spends `count` tokens and answers 0, or, when the bucket holds fewer,
   * spends nothing and answers the milliseconds (rounded up) until it would
   * hold them. A count above `capacity` never fits; its wait is what the
   * count would need of an empty bucket's refill, so callers check that first.
   */
  take(count: number): number {
    const tokens = this.available();
    if (count <= tokens) {
      this.#tokens = tokens - count;
      return 0;
    }
    return Math.ceil(((count - tokens) / this.perSecond) * 1000);
  }
}
