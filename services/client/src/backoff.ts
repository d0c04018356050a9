/**
 * Reconnect delays: exponential backoff with full jitter (a uniformly random
 * delay between 0 and the exponential cap), so clients that lost the same
 * edge do not come back in step. Pure: the random source is injectable.
 */
export interface BackoffOptions {
  /** Cap of the first delay, in milliseconds. */
  readonly initialMs: number;
  /** Largest cap, in milliseconds. */
  readonly maxMs: number;
  /** Growth of the cap per failed attempt. */
  readonly multiplier: number;
}

export class Backoff {
  readonly options: BackoffOptions;
  readonly #random: () => number;
  #attempt = 0;

  constructor(options: BackoffOptions, random: () => number = Math.random) {
    this.options = options;
    this.#random = random;
  }

  /** Failed attempts since the last reset. */
  get attempt(): number {
    return this.#attempt;
  }

  /** The cap of the next delay: initial × multiplier^attempt, at most maxMs. */
  cap(): number {
    const { initialMs, maxMs, multiplier } = this.options;
    return Math.min(maxMs, initialMs * multiplier ** this.#attempt);
  }

  /** The next delay (0 ≤ delay < cap) and one more attempt counted. */
  next(): number {
    const delay = Math.floor(this.#random() * this.cap());
    this.#attempt++;
    return delay;
  }

  /** After a connection that worked: start from the first delay again. */
  reset(): void {
    this.#attempt = 0;
  }
}
