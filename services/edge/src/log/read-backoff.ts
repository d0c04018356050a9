/**
 * Back-off of the edge's reads that are not the live fetch (cold replays
 * and catch-ups from Kafka) while Kafka does not answer. Thousands of
 * resuming clients each retrying on their own would hammer an unreachable
 * broker (hundreds of connection attempts a second, one log line each); here
 * a failure starts a streak during which the reads wait together: after a
 * pause (exponential with jitter, `minMs` → `maxMs`) one of them probes, and
 * only its success lets the others read again. The streak is logged once
 * when it starts and once when it ends, with counts.
 *
 * `wake()` ends the current pause at once: the live reader calls it (via
 * the hub) when Kafka answers it again, so replays recover with the live
 * read instead of at the end of a pause.
 */
import type { Logger } from '@fanout/shared';

export interface ReadBackoffOptions {
  readonly logger: Logger;
  /** What is backed off, for the log lines (`cold replay`). */
  readonly what: string;
  /** First pause of a streak (doubled per failed probe, with jitter). */
  readonly minMs?: number;
  /** Longest pause. */
  readonly maxMs?: number;
  /** [0, 1): the randomness of each pause; tests pass a fixed one. */
  readonly random?: () => number;
  /** Called with every attempt's outcome (for metrics). */
  readonly onAttempt?: (ok: boolean) => void;
  /** Called when a failure ends the attempt (to drop connections, for example). */
  readonly onFailure?: (error: unknown) => void;
}

/** Thrown to reads that waited for a probe that failed: they made no attempt of their own. */
export class BackoffProbeFailed extends Error {
  constructor(cause: unknown) {
    super('a read probing Kafka after a failure failed too', { cause });
    this.name = 'BackoffProbeFailed';
  }
}

export class ReadBackoff {
  readonly #options: ReadBackoffOptions;
  readonly #minMs: number;
  readonly #maxMs: number;
  /** Failed attempts in the current streak (0: none, reads go straight through). */
  #failures = 0;
  #streakStarted = 0;
  /** Pauses in the current streak: each is about twice the one before. */
  #pauses = 0;
  /** Attempts made since the log was created (for tests and metrics). */
  #attempts = 0;
  /** The pause before the next probe, shared by every waiting read. */
  #pause: { promise: Promise<void>; end: () => void } | undefined;
  /** The probe in flight: resolves true when it succeeded. */
  #probe: Promise<boolean> | undefined;

  constructor(options: ReadBackoffOptions) {
    this.#options = options;
    this.#minMs = options.minMs ?? 50;
    this.#maxMs = Math.max(this.#minMs, options.maxMs ?? 2_000);
  }

  /** Attempts made (requests sent to Kafka through `run`). */
  get attempts(): number {
    return this.#attempts;
  }

  /** Whether a failure streak is on. */
  get failing(): boolean {
    return this.#failures > 0;
  }

  /**
   * Runs `read`, now when Kafka answers, or after the streak's pause as its
   * probe; a read that waited for another's probe that failed throws
   * `BackoffProbeFailed` without an attempt of its own. The read's own
   * errors are thrown as they are.
   */
  async run<T>(read: () => Promise<T>): Promise<T> {
    while (this.#failures > 0) {
      const probe = this.#probe;
      if (probe !== undefined) {
        const ok = await probe;
        if (ok) continue;
        throw new BackoffProbeFailed(undefined);
      }
      await this.#pauseFor().promise;
      if (this.#failures === 0) break;
      if (this.#probe !== undefined) continue;
      let settle: (ok: boolean) => void = () => undefined;
      this.#probe = new Promise<boolean>((resolve) => {
        settle = resolve;
      });
      try {
        const result = await this.#attempt(read);
        settle(true);
        return result;
      } catch (error) {
        settle(false);
        throw error;
      } finally {
        this.#probe = undefined;
      }
    }
    return this.#attempt(read);
  }

  /** Ends the pause now (Kafka answered another reader): the next read probes at once. */
  wake(): void {
    this.#pause?.end();
  }

  async #attempt<T>(read: () => Promise<T>): Promise<T> {
    this.#attempts++;
    let result: T;
    try {
      result = await read();
    } catch (error) {
      this.#options.onAttempt?.(false);
      this.#failed(error);
      throw error;
    }
    this.#options.onAttempt?.(true);
    this.#succeeded();
    return result;
  }

  #failed(error: unknown): void {
    if (this.#failures === 0) {
      this.#streakStarted = Date.now();
      this.#options.logger.warn(
        { err: error },
        `${this.#options.what} failed; retrying with back-off (logged once until it recovers)`,
      );
    }
    this.#failures++;
    // A new pause after this failure (a pause already running stays).
    this.#pauseFor();
    this.#options.onFailure?.(error);
  }

  #succeeded(): void {
    if (this.#failures === 0) return;
    this.#options.logger.info(
      { failures: this.#failures, ms: Date.now() - this.#streakStarted },
      `${this.#options.what} recovered`,
    );
    this.#failures = 0;
    this.#pauses = 0;
    this.#pause?.end();
  }

  /** Delay of the `pause`-th pause of a streak (1, 2, …): exponential, jittered in its upper half. */
  delayMs(pause: number): number {
    const ceiling = Math.min(this.#maxMs, this.#minMs * 2 ** Math.min(30, Math.max(0, pause - 1)));
    const random = this.#options.random ?? Math.random;
    return Math.round(ceiling / 2 + (ceiling / 2) * random());
  }

  #pauseFor(): { promise: Promise<void>; end: () => void } {
    if (this.#pause !== undefined) return this.#pause;
    let end: () => void = () => undefined;
    const promise = new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        end();
      }, this.delayMs(++this.#pauses));
      timer.unref();
      end = () => {
        clearTimeout(timer);
        if (this.#pause?.promise === promise) this.#pause = undefined;
        resolve();
      };
    });
    const pause = {
      promise,
      end: () => {
        end();
      },
    };
    this.#pause = pause;
    return pause;
  }
}
