/**
 * Polls one upstream resource and reports what subscribers of its state
 * channel need: each new document (only when its canonical JSON changed)
 * and each change of health (the last good document stays).
 *
 * When the next poll starts, counted from the end of the last one:
 * - after an answer (200 or 304): the resource's interval, or longer when
 *   Cache-Control max-age (s-maxage) asks for it (max-age is the least time
 *   between polls: the polite reading), at most maxDelayMs;
 * - after a failure: full-jitter exponential backoff (a random delay up to
 *   backoffBaseMs × 2^(failures-1), at most backoffMaxMs), and never before a
 *   Retry-After of a 429 or 503 (at most maxDelayMs);
 * - never sooner than minIntervalMs.
 *
 * Memory: a poller keeps the last document in one form, its canonical JSON
 * (what change detection compares and what is published), and the body as
 * received only when the upstream gives no validators; the parsed
 * document of an answer is handed to the listener and not kept. With
 * thousands of resources polled every second, whatever a poll keeps until
 * the next one outlives the young generation and fills the old space.
 */
import type { JsonValue } from '@fanout/shared/portable-state';
import { systemClock, type Clock, type TimerHandle } from './clock.js';
import { backoffDelayMs, retryAfterMs } from './http-timing.js';
import { isUpstreamError, type UpstreamErrorCode } from './upstream-error.js';
import type { UpstreamFetcher, UpstreamValidators } from './upstream-fetch.js';

export interface ResourcePollerTiming {
  /** Time between polls when the upstream asks for nothing else. */
  readonly intervalMs: number;
  /** Least time between polls, whatever the interval, max-age or backoff. */
  readonly minIntervalMs: number;
  /** Longest wait a max-age or Retry-After can ask for. */
  readonly maxDelayMs: number;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
}

export interface ResourceChangeMeta {
  /** The URL that answered, after redirects. */
  readonly url: string;
  /** When the answer was read (clock milliseconds). */
  readonly fetchedAt: number;
  readonly etag?: string;
  readonly lastModified?: string;
  /** Bytes of the body as received. */
  readonly bodyBytes: number;
}

export type ResourceHealth = 'ok' | 'failing';

export interface ResourceStatus {
  readonly state: ResourceHealth;
  /** The error of a failing resource; absent when ok. */
  readonly code?: UpstreamErrorCode | 'internal';
  readonly message?: string;
  /** The HTTP status of the failed answer, when there was one. */
  readonly httpStatus?: number;
  /** When the next poll starts, from now. */
  readonly retryInMs?: number;
  /** Since when the resource has been in this state (clock milliseconds). */
  readonly since: number;
}

export interface ResourcePollerListener {
  /**
   * The resource has a new document (its canonical JSON differs from the
   * last one). The poller keeps only the canonical JSON.
   */
  changed(document: JsonValue, canonicalJson: string, meta: ResourceChangeMeta): void;
  /** The health changed: first answer, ok → failing, failing → ok, or another error. */
  status(status: ResourceStatus): void;
}

export interface ResourcePollerOptions {
  readonly url: string;
  /** Does the requests (an UpstreamFetcher). */
  readonly fetcher: Pick<UpstreamFetcher, 'fetch'>;
  readonly timing: ResourcePollerTiming;
  readonly listener: ResourcePollerListener;
  /** Request headers of the subscriber (passed on only as the origin allows). */
  readonly subscriberHeaders?: Readonly<Record<string, string | undefined>>;
  /** Headers of this resource, sent to its own origin (bridge.resources[].headers). */
  readonly resourceHeaders?: Readonly<Record<string, string>>;
  readonly clock?: Clock;
  /** A number in [0, 1) for the jitter. */
  readonly random?: () => number;
  /**
   * The first poll at a random time in [0, firstPollSpreadMs) instead of
   * right away (default 0): many resources started together (the declared
   * ones of a bridge) then neither poll nor publish all at once, and stay
   * spread, each interval counting from the end of its own last poll.
   */
  readonly firstPollSpreadMs?: number;
}

function sameValidators(
  a: UpstreamValidators | undefined,
  b: UpstreamValidators | undefined,
): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined) return false;
  return a.url === b.url && a.etag === b.etag && a.lastModified === b.lastModified;
}

export class ResourcePoller {
  readonly #options: ResourcePollerOptions;
  readonly #clock: Clock;
  readonly #random: () => number;
  #timer: TimerHandle | undefined;
  /** The poll in flight; it ends soon after the stop signal aborts it. */
  #inFlight: Promise<void> | undefined;
  /** Aborted by stop(): one signal for every poll of this poller. */
  readonly #stopping = new AbortController();
  #polls = 0;
  #started = false;
  #stopped = false;
  #failures = 0;
  #validators: UpstreamValidators | undefined;
  #canonicalJson: string | undefined;
  /**
   * The body of the last document when its answer gave no validators (an
   * upstream that answers every poll in full): the same body again is not
   * parsed. With validators, an unchanged document is a 304 instead.
   */
  #lastText: string | undefined;
  #status: ResourceStatus | undefined;

  constructor(options: ResourcePollerOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
  }

  get url(): string {
    return this.#options.url;
  }

  /** Whether a good document was read (it stays while the resource fails). */
  get hasDocument(): boolean {
    return this.#canonicalJson !== undefined;
  }

  /** The last good document as canonical JSON; undefined before the first. */
  get canonicalJson(): string | undefined {
    return this.#canonicalJson;
  }

  /** The last status reported; undefined before the first poll ended. */
  get status(): ResourceStatus | undefined {
    return this.#status;
  }

  /** Failed polls in a row. */
  get failures(): number {
    return this.#failures;
  }

  /** Starts polling: the first poll right away, or within firstPollSpreadMs. */
  start(): void {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    const spread = this.#options.firstPollSpreadMs ?? 0;
    this.#schedule(spread > 0 ? Math.floor(this.#random() * spread) : 0);
  }

  /** Stops polling and aborts a poll in flight; resolves when it has ended. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#stopping.abort(new Error('the poller stopped'));
    await this.#inFlight;
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    this.#timer = this.#clock.setTimer(this.#fire, delayMs);
  }

  /** The timer's callback, one function for every poll of this poller. */
  readonly #fire = (): void => {
    this.#timer = undefined;
    this.#inFlight = this.#run();
  };

  async #run(): Promise<void> {
    const poll = ++this.#polls;
    try {
      await this.#poll(this.#stopping.signal);
    } catch (error) {
      // Only a listener throws here: surface it as an uncaught exception, like an emitter.
      process.nextTick(() => {
        throw error;
      });
    } finally {
      // Unless the next poll has started meanwhile (a clock driven by hand can).
      if (this.#polls === poll) this.#inFlight = undefined;
    }
  }

  async #poll(signal: AbortSignal): Promise<void> {
    const { fetcher, timing, listener } = this.#options;
    let delay: number;
    let status: ResourceStatus | undefined;
    let change: (() => void) | undefined;
    try {
      const result = await fetcher.fetch({
        url: this.#options.url,
        validators: this.#validators,
        subscriberHeaders: this.#options.subscriberHeaders,
        resourceHeaders: this.#options.resourceHeaders,
        signal,
        lastText: this.#lastText,
      });
      if (this.#stopped) return;
      this.#failures = 0;
      // Kept as long as they are the same: a 304 hands back the validators that were sent.
      if (!sameValidators(this.#validators, result.validators))
        this.#validators = result.validators;
      const wanted = Math.max(timing.intervalMs, Math.min(result.maxAgeMs ?? 0, timing.maxDelayMs));
      delay = Math.max(timing.minIntervalMs, wanted);
      // Built only when the health changes (an ok poll after an ok poll reports nothing).
      status = this.#status?.state === 'ok' ? undefined : { state: 'ok', since: this.#clock.now() };
      if (result.validators !== undefined) this.#lastText = undefined;
      else if (result.kind === 'document') this.#lastText = result.text;
      if (result.kind === 'document' && result.canonicalJson !== this.#canonicalJson) {
        this.#canonicalJson = result.canonicalJson;
        const meta: ResourceChangeMeta = {
          url: result.url,
          fetchedAt: this.#clock.now(),
          bodyBytes: result.bodyBytes,
          ...(result.validators?.etag === undefined ? {} : { etag: result.validators.etag }),
          ...(result.validators?.lastModified === undefined
            ? {}
            : { lastModified: result.validators.lastModified }),
        };
        change = () => {
          listener.changed(result.document, result.canonicalJson, meta);
        };
      }
    } catch (error) {
      if (this.#stopped) return;
      this.#failures += 1;
      const failure = isUpstreamError(error) ? error : undefined;
      const backoff = backoffDelayMs(
        this.#failures,
        timing.backoffBaseMs,
        timing.backoffMaxMs,
        this.#random,
      );
      const asked = retryAfterMs(failure?.info.retryAfter, this.#clock.now());
      delay = Math.max(
        timing.minIntervalMs,
        backoff,
        asked === undefined ? 0 : Math.min(asked, timing.maxDelayMs),
      );
      status = {
        state: 'failing',
        code: failure?.code ?? 'internal',
        message: error instanceof Error ? error.message : String(error),
        ...(failure?.info.httpStatus === undefined ? {} : { httpStatus: failure.info.httpStatus }),
        retryInMs: delay,
        since: this.#clock.now(),
      };
    }
    // The next poll is due whatever a listener does; a listener that throws is a bug of its own.
    this.#schedule(delay);
    change?.();
    if (status !== undefined) this.#report(status);
  }

  /** Reports a status when the state, the error code or the HTTP status changed. */
  #report(next: ResourceStatus): void {
    const last = this.#status;
    if (
      last?.state === next.state &&
      last.code === next.code &&
      last.httpStatus === next.httpStatus
    ) {
      return;
    }
    this.#status = next;
    this.#options.listener.status(next);
  }
}
