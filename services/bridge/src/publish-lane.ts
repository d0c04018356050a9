/**
 * The publishes of one resource, in order, newest wins: at most one
 * document and one status wait while a publish is in flight, and a newer one
 * of the same kind replaces the waiting one (subscribers want the current
 * document, not each one the upstream went through). A publish that fails
 * in a way a retry can fix is retried with backoff, with the same
 * idempotency key, until it succeeds or a newer one of its kind supersedes it.
 */
import { PublishFailure, type PublishOutcome } from './ingest-publisher.js';

export type PublishKind = 'state' | 'status';

export interface LanePublish {
  readonly kind: PublishKind;
  /** Bytes of the payload, for the published-bytes metric. */
  readonly bytes: number;
  send(): Promise<PublishOutcome>;
}

export interface PublishLaneListener {
  published(publish: LanePublish, outcome: PublishOutcome): void;
  /** A retryable failure: it is retried after `retryInMs`. */
  retried(publish: LanePublish, error: unknown, retryInMs: number): void;
  /** A failure no retry fixes (the ingest refused the document): dropped. */
  dropped(publish: LanePublish, error: unknown): void;
  superseded(publish: LanePublish): void;
}

export interface PublishLaneOptions {
  readonly listener: PublishLaneListener;
  readonly retryBaseMs?: number;
  readonly retryMaxMs?: number;
}

export class PublishLane {
  readonly #options: PublishLaneOptions;
  readonly #waiting = new Map<PublishKind, LanePublish>();
  #running: Promise<void> | undefined;
  #stopped = false;
  #sleep: { timer: NodeJS.Timeout; wake: () => void } | undefined;

  constructor(options: PublishLaneOptions) {
    this.#options = options;
  }

  /** Publishes after what is in flight; replaces a waiting publish of the same kind. */
  submit(publish: LanePublish): void {
    if (this.#stopped) return;
    const replaced = this.#waiting.get(publish.kind);
    if (replaced !== undefined) {
      this.#waiting.delete(publish.kind);
      this.#options.listener.superseded(replaced);
    }
    this.#waiting.set(publish.kind, publish);
    // A retry waiting for its backoff is superseded at once.
    this.#wake();
    this.#running ??= this.#drain().finally(() => {
      this.#running = undefined;
    });
  }

  /** Resolves when nothing is waiting or in flight. */
  async idle(): Promise<void> {
    while (this.#running !== undefined) await this.#running;
  }

  /** Drops what waits; a publish in flight ends on its own (its deadline bounds it). */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const publish of this.#waiting.values()) this.#options.listener.superseded(publish);
    this.#waiting.clear();
    this.#wake();
    await this.idle();
  }

  /** Read through a method: a stop may happen while a retry sleeps. */
  #isStopped(): boolean {
    return this.#stopped;
  }

  #wake(): void {
    const sleep = this.#sleep;
    if (sleep === undefined) return;
    this.#sleep = undefined;
    clearTimeout(sleep.timer);
    sleep.wake();
  }

  async #drain(): Promise<void> {
    const base = this.#options.retryBaseMs ?? 500;
    const max = this.#options.retryMaxMs ?? 30_000;
    for (;;) {
      const next = this.#waiting.entries().next();
      if (next.done === true) return;
      const [kind, publish] = next.value;
      this.#waiting.delete(kind);
      for (let attempt = 1; ; attempt++) {
        try {
          const outcome = await publish.send();
          this.#options.listener.published(publish, outcome);
          break;
        } catch (error) {
          if (this.#stopped) return;
          if (!(error instanceof PublishFailure) || !error.retryable) {
            this.#options.listener.dropped(publish, error);
            break;
          }
          if (this.#waiting.has(kind)) {
            this.#options.listener.superseded(publish);
            break;
          }
          const delay = Math.min(max, base * 2 ** (attempt - 1));
          this.#options.listener.retried(publish, error, delay);
          await new Promise<void>((resolve) => {
            this.#sleep = { timer: setTimeout(resolve, delay), wake: resolve };
          });
          this.#sleep = undefined;
          if (this.#isStopped()) return;
          if (this.#waiting.has(kind)) {
            this.#options.listener.superseded(publish);
            break;
          }
        }
      }
    }
  }
}
