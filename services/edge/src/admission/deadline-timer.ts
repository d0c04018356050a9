/**
 * A timer for a wall-clock deadline however far away: Node's setTimeout
 * takes at most 2^31-1 ms (24.8 days) and fires after 1 ms for anything
 * longer, so a far deadline is reached through a chain of shorter waits,
 * each re-checking the clock. The callback runs once, at or after `at`.
 */

/** The longest delay setTimeout honours. */
export const maxTimerDelayMs = 2 ** 31 - 1;

/** How long to wait before looking at the deadline `at` again (epoch ms). */
export function nextWaitMs(at: number, now: number, maxDelayMs = maxTimerDelayMs): number {
  const left = at - now;
  if (!(left > 0)) return 0;
  return Math.min(left, maxDelayMs);
}

export class DeadlineTimer {
  #timer: NodeJS.Timeout | undefined;
  readonly #maxDelayMs: number;

  /** `maxDelayMs`: the longest single wait (tests shorten it). */
  constructor(maxDelayMs = maxTimerDelayMs) {
    this.#maxDelayMs = Math.min(maxDelayMs, maxTimerDelayMs);
  }

  /** Runs `callback` at `at` (epoch ms), replacing a deadline set before; the timer does not keep the process up. */
  set(at: number, callback: () => void, now: () => number = Date.now): void {
    this.clear();
    const arm = (): void => {
      const wait = nextWaitMs(at, now(), this.#maxDelayMs);
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        if (now() >= at) callback();
        else arm();
      }, wait);
      this.#timer.unref();
    };
    arm();
  }

  clear(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
