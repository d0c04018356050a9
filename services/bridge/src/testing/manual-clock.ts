/** A clock whose timers fire when a test says so. */
import type { Clock, TimerHandle } from '../clock.js';

interface Timer {
  readonly due: number;
  readonly delayMs: number;
  readonly callback: () => void;
  cancelled: boolean;
}

export class ManualClock implements Clock {
  #now: number;
  #timers: Timer[] = [];
  #waiters: (() => void)[] = [];

  constructor(start = Date.UTC(2030, 0, 1)) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimer(callback: () => void, delayMs: number): TimerHandle {
    const timer: Timer = { due: this.#now + delayMs, delayMs, callback, cancelled: false };
    this.#timers.push(timer);
    for (const wake of this.#waiters.splice(0)) wake();
    return {
      cancel: () => {
        timer.cancelled = true;
      },
    };
  }

  /** Timers set and not fired or cancelled. */
  pending(): number {
    return this.#live().length;
  }

  /** Waits until a timer is pending; resolves with its delay. */
  async nextTimer(): Promise<number> {
    for (;;) {
      const next = this.#live()[0];
      if (next !== undefined) return next.delayMs;
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  /** Moves the time to the first pending timer and fires it; returns its delay. */
  async fireNext(): Promise<number> {
    const delay = await this.nextTimer();
    const timer = this.#live()[0];
    if (timer === undefined) throw new Error('no timer');
    this.#timers = this.#timers.filter((entry) => entry !== timer);
    this.#now = Math.max(this.#now, timer.due);
    timer.callback();
    return delay;
  }

  #live(): Timer[] {
    this.#timers = this.#timers.filter((timer) => !timer.cancelled);
    return [...this.#timers].sort((a, b) => a.due - b.due);
  }
}
