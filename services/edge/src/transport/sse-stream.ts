/**
 * One SSE response following one subscription: the subscription core's
 * `Subscriber` over an HTTP response. Every event's `id:` is the cursor
 * that resumes the whole stream (a position when it follows one
 * partition), so a browser's `Last-Event-ID` reconnect resumes exactly.
 * The core's outcomes are written as `subscribed`, `reset` and
 * `disconnect` events.
 */
import {
  actionForCloseCode,
  toCloseCode,
  type ErrorCode,
  type FanoutConfig,
  type FanoutError,
} from '@fanout/shared';
import type { HttpResponse } from 'uWebSockets.js';
import type { ClientIdentity } from '../admission/client-auth.js';
import type { ConnectionLease } from '../admission/connection-limits.js';
import { DeadlineTimer } from '../admission/deadline-timer.js';
import type { EdgeEvent } from '../log/edge-event.js';
import type { EdgeMetrics } from '../edge-metrics.js';
import type { RewindFilter, RewindStart } from '../subscriptions/channel-rewind.js';
import type { SubscribedState, Subscriber } from '../subscriptions/subscriber.js';
import type { SubscriptionSession } from '../subscriptions/subscription-core.js';
import { closeLingerMs, type ResetInfo, type Subscription } from '../subscriptions/subscription.js';
import { writeCorsHeaders } from './cors.js';
import { failResponse, guard, markStreaming, type HandlerGuard } from './uws-guard.js';

/** What every stream shares. */
export interface SseContext {
  readonly config: FanoutConfig['edge'];
  readonly metrics: EdgeMetrics;
  readonly guard: HandlerGuard;
}

/**
 * What a stream follows when it is not a subscription of the core: a state
 * channel's tracker (state-watch.ts). Ended with the stream; its position is
 * the `cursor` of the stream's `disconnect`.
 */
export interface SseWatch {
  /** The last position sent. */
  position(): string | undefined;
  /** The stream closed. */
  end(): void;
}

let nextStreamKey = 1;

/** How often (in bytes written) an SSE stream asks uWS whether the client keeps up. */
const probeBytes = 16 * 1024;
/** Under uWS's 10 s timeout for a response whose writes do not get through. */
const keepAliveMs = 4000;

export class SseStream implements Subscriber {
  /** Spreads the clients of one partition over its owners. */
  readonly key = `sse-${nextStreamKey++}`;
  readonly transport = 'sse';
  readonly live = { kind: 'direct' } as const;
  readonly response: HttpResponse;
  readonly options: SseContext;
  /** Its subscription (one, named by the channel list). */
  session: SubscriptionSession | undefined;
  /** With `rewind`: drops what is older than each channel asked for. */
  rewind: RewindFilter | undefined;
  /** With `rewind`: what each channel's scan found, told in the `subscribed` event. */
  rewound:
    readonly Pick<RewindStart, 'channel' | 'requested' | 'found' | 'truncated'>[] | undefined;
  /** Or what it follows instead of a subscription (a state channel). */
  watch: SseWatch | undefined;
  /** Its place in the connection limits, given back on close. */
  readonly lease: ConnectionLease;
  /** Whether the response began (status, headers, `retry:`). */
  #started = false;
  closed = false;
  /**
   * At most the bytes uWebSockets.js holds for the client: what was written
   * since uWS last had nothing buffered for it. A corked write that fits the
   * cork buffer reports success even when uWS then buffers it, so `#probe`
   * asks with a write of its own (getWriteOffset does not count chunked
   * writes).
   */
  #unsent = 0;
  /** `#unsent` when `#probe` last asked. */
  #probedAt = 0;
  #watchingWritable = false;
  /** Closed, with a final event the client has not taken yet (see `#finishWhenSent`). */
  #lingering = false;
  #aborted = false;
  #afterSent: (() => void) | undefined;
  /** Writes a comment every keepAliveMs while uWS holds data for the client. */
  #stalled: NodeJS.Timeout | undefined;
  #waiters: (() => void)[] = [];
  /** Inside `batch()`: the events' text, written in one corked write when it ends. */
  #gathered: string[] | undefined;
  #gatheredBytes = 0;
  #heartbeat: NodeJS.Timeout | undefined;
  readonly #expiry = new DeadlineTimer();

  readonly #identity: ClientIdentity;
  /** Headers of the response besides the stream's own (set before it starts). */
  headers: Readonly<Record<string, string>> = {};
  /** Called once when the stream closes (a resource lease it holds, say). */
  readonly #closeHooks: (() => void)[] = [];

  constructor(
    response: HttpResponse,
    options: SseContext,
    lease: ConnectionLease,
    identity: ClientIdentity,
  ) {
    this.response = response;
    this.options = options;
    this.lease = lease;
    this.#identity = identity;
  }

  /** A stream keeps the identity it was opened with (it has no token refresh). */
  currentIdentity(): ClientIdentity {
    return this.#identity;
  }

  get started(): boolean {
    return this.#started;
  }

  /** Begins the response (status, headers, `retry:`) and its heartbeat, once. */
  start(): void {
    if (this.#started || this.closed) return;
    this.#started = true;
    this.options.metrics.connections.inc({ transport: 'sse' });
    markStreaming(this.response);
    this.response.cork(() => {
      this.response
        .writeStatus('200 OK')
        .writeHeader('content-type', 'text/event-stream')
        .writeHeader('cache-control', 'no-store')
        .writeHeader('x-accel-buffering', 'no');
      for (const [name, value] of Object.entries(this.headers)) {
        this.response.writeHeader(name, value);
      }
      writeCorsHeaders(this.response);
      this.write(`retry: ${this.options.config.sseRetryMs}\n\n`);
    });
    this.#heartbeat = setInterval(
      this.#guarded('sse heartbeat', () => {
        this.response.cork(() => {
          this.write(': ping\n\n');
        });
      }),
      this.options.config.heartbeatSeconds * 1000,
    );
  }

  /** A callback of this stream under the guard: a fault closes the stream. */
  #guarded<A extends unknown[]>(
    handler: string,
    callback: (...args: A) => void,
  ): (...args: A) => void {
    return guard(this.options.guard, handler, callback, () => {
      failResponse(this.response);
      this.onClose();
    });
  }

  /**
   * Ends the stream with `token_expired` when the client's token expires
   * (epoch milliseconds); an SSE client cannot refresh its token in place.
   */
  expireAt(expiresAt: number | undefined): void {
    if (expiresAt === undefined || this.closed) return;
    this.#expiry.set(
      expiresAt,
      this.#guarded('sse token expiry', () => {
        this.end('token_expired', 'the token expired; reconnect with a fresh one');
      }),
    );
  }

  /** Writes `text`; callers cork (see `#probe` for what the client has not taken). */
  write(text: string): void {
    if (this.closed) return;
    this.response.write(text);
    this.#unsent += Buffer.byteLength(text);
  }

  /**
   * Every `probeBytes` written: whether uWS still holds data for the client.
   * A write in a cork of its own fails exactly when uWS holds data from
   * before it; SSE clients ignore the comment line.
   */
  #probe(now = false): void {
    if (this.closed || (!now && this.#unsent - this.#probedAt < probeBytes)) return;
    this.#probedAt = this.#unsent;
    if (this.#comment()) {
      this.#sentAll();
      return;
    }
    this.#keepAlive();
    if (this.#watchingWritable) return;
    // Registered once: replacing the handler from inside it is not safe.
    this.#watchingWritable = true;
    const onWritable = this.#guarded('sse writable', () => {
      // A write flushes what uWS holds first, so its result tells whether
      // the client caught up; SSE clients ignore a comment line.
      if (this.#lingering) {
        if (this.#comment()) this.#afterSent?.();
        return;
      }
      if (!this.closed && this.#comment()) this.#sentAll();
    });
    this.response.onWritable(() => {
      onWritable();
      return true;
    });
  }

  /**
   * While uWS holds data the client does not take, it closes the socket 10 s
   * after the last write, dropping that data: a comment every few seconds
   * keeps the stream (and its final event, once closed) there for the client.
   */
  #keepAlive(): void {
    if (this.#stalled) return;
    this.#stalled = setInterval(() => {
      if (this.#aborted || (this.closed && !this.#lingering)) {
        this.#stopKeepAlive();
        return;
      }
      if (!this.#comment()) return;
      this.#stopKeepAlive();
      if (this.#lingering) this.#afterSent?.();
      else this.#sentAll();
    }, keepAliveMs);
    this.#stalled.unref();
  }

  /** Writes an SSE comment in a cork of its own; false when uWS held data before it. */
  #comment(): boolean {
    let written = false;
    this.response.cork(() => {
      written = this.response.write(':\n\n');
    });
    return written;
  }

  #stopKeepAlive(): void {
    clearInterval(this.#stalled);
    this.#stalled = undefined;
  }

  #sentAll(): void {
    this.#stopKeepAlive();
    this.#unsent = 0;
    this.#probedAt = 0;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const resolve of waiters) resolve();
  }

  bufferedBytes(): number {
    return this.closed ? 0 : this.#unsent + this.#gatheredBytes;
  }

  drained(): Promise<void> {
    if (this.closed || this.#unsent === 0) return Promise.resolve();
    // Maybe the client took it all already; else onWritable tells.
    this.#probe(true);
    if (this.bufferedBytes() === 0) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  deliver(event: EdgeEvent, subscription: Subscription): void {
    if (this.closed) return;
    subscription.cursors.set(event.partition, event.offset);
    if (this.rewind !== undefined && !this.rewind.admits(event)) return;
    // A cursor of one partition is exactly the event's position.
    const id =
      subscription.cursors.size === 1 && subscription.patterns.length === 0
        ? event.position
        : subscription.cursorText();
    const frame = `id: ${id}\ndata: ${event.json}\n\n`;
    this.options.metrics.deliveries.inc({ transport: 'sse' });
    this.options.metrics.deliveredBytes.inc({ transport: 'sse' }, frame.length);
    if (this.#gathered) {
      this.#gathered.push(frame);
      this.#gatheredBytes += frame.length;
      // A large fetch is written in parts: never more than the limit past it.
      if (this.bufferedBytes() > this.options.config.maxBackpressureBytes) {
        this.#writeGathered();
        this.#gathered = [];
      }
      return;
    }
    this.send(frame);
  }

  /**
   * Writes one whole SSE event in a cork of its own, after the events a
   * batch gathered before it; a client that fell more than
   * `maxBackpressureBytes` behind is ended with `backpressure`.
   */
  send(frame: string): void {
    if (this.#gathered) {
      this.#writeGathered();
      this.#gathered = [];
    }
    if (this.closed) return;
    this.response.cork(() => {
      this.write(frame);
    });
    this.#afterWrite();
  }

  /** Whether the client keeps up, after a write of events. */
  #afterWrite(): void {
    this.#probe();
    if (this.bufferedBytes() > this.options.config.maxBackpressureBytes) {
      this.end('backpressure', 'the client read too slowly; reconnect with Last-Event-ID');
    }
  }

  /**
   * Runs the deliveries and writes their events in one corked write (one
   * fetch's events, one chunk of a catch-up). Whether the client keeps up is
   * asked afterwards with a write in a cork of its own (`#probe`): a write
   * inside a longer cork reports success for bytes that then wait in uWS.
   */
  batch<T>(deliveries: () => T): T {
    if (this.closed || this.#gathered) return deliveries();
    this.#gathered = [];
    try {
      return deliveries();
    } finally {
      this.#writeGathered();
    }
  }

  #writeGathered(): void {
    const gathered = this.#gathered;
    this.#gathered = undefined;
    this.#gatheredBytes = 0;
    if (!gathered || gathered.length === 0 || this.closed) return;
    const text = gathered.length === 1 ? (gathered[0] ?? '') : gathered.join('');
    this.response.cork(() => {
      this.write(text);
    });
    this.#afterWrite();
  }

  subscribed(_requestId: number, states: readonly SubscribedState[]): void {
    this.start();
    for (const state of states) {
      const opening = JSON.stringify({
        channels: state.label.split(','),
        cursor: state.cursor,
        ...(state.hint === undefined ? {} : { hint: state.hint }),
        ...(this.rewound === undefined ? {} : { rewind: this.rewound }),
      });
      this.response.cork(() => {
        this.write(`event: subscribed\nid: ${state.cursor}\ndata: ${opening}\n\n`);
      });
    }
  }

  reset(_requestId: number, subscription: Subscription, reset: ResetInfo): void {
    this.#writeGathered();
    this.start();
    const body = JSON.stringify({
      code: reset.code,
      channel: subscription.label,
      requested: reset.requested,
      earliest: reset.earliest,
    });
    this.response.cork(() => {
      this.write(`event: reset\ndata: ${body}\n\n`);
    });
    this.#finishWhenSent();
  }

  /** A stream follows one subscription: refused, the stream ends with the error. */
  refused(_requestId: number, _label: string, error: FanoutError): void {
    this.end(error.code, error.message);
  }

  close(code: ErrorCode, message: string, hint?: string): void {
    this.end(code, message, hint);
  }

  /** Ends the stream with a typed `disconnect` event carrying the cursor (and where to go). */
  end(code: ErrorCode, message: string, hint?: string): void {
    // Events gathered before the end go first: its cursor counts them.
    this.#writeGathered();
    if (this.closed) return;
    this.start();
    this.options.metrics.closes.inc({ code });
    const closeCode = toCloseCode(code);
    const body = JSON.stringify({
      code,
      message,
      action: actionForCloseCode(closeCode),
      ...(hint === undefined ? {} : { hint }),
      cursor: this.#cursor(),
    });
    this.response.cork(() => {
      this.write(`event: disconnect\ndata: ${body}\n\n`);
    });
    this.#finishWhenSent();
  }

  /** The cursor of its subscription, as sent so far. */
  #cursor(): string | undefined {
    if (this.watch) return this.watch.position();
    const session = this.session;
    const [label] = session?.subscriptions.keys() ?? [];
    return label === undefined ? undefined : session?.cursorOf(label);
  }

  finish(): void {
    if (this.closed) return;
    this.response.cork(() => this.response.end());
    this.onClose();
  }

  /**
   * Ends the response once the client has taken everything, the final event
   * included. uWebSockets.js closes an ended response the client does not
   * read within 10 s, dropping what it still holds; an open one it keeps.
   * So a client that stopped reading finds its `disconnect` when it reads
   * again within `closeLingerMs`.
   */
  #finishWhenSent(): void {
    if (this.closed) return;
    this.#probe(true);
    if (this.#unsent === 0) {
      this.finish();
      return;
    }
    this.#lingering = true;
    this.onClose();
    const endResponse = (): void => {
      clearTimeout(timer);
      if (!this.#lingering) return;
      this.#lingering = false;
      this.#stopKeepAlive();
      if (!this.#aborted) this.response.cork(() => this.response.end());
    };
    const timer = setTimeout(endResponse, closeLingerMs);
    timer.unref();
    this.#afterSent = endResponse;
  }

  /** The client went away (uWS onAborted): the response must not be touched again. */
  onAborted(): void {
    this.#aborted = true;
    this.#lingering = false;
    this.#stopKeepAlive();
    this.onClose();
  }

  /** Calls `hook` when the stream closes (at once when it is closed). */
  whenClosed(hook: () => void): void {
    if (this.closed) hook();
    else this.#closeHooks.push(hook);
  }

  onClose(): void {
    if (this.closed) return;
    this.closed = true;
    for (const hook of this.#closeHooks.splice(0)) hook();
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.#expiry.clear();
    this.session?.end();
    this.watch?.end();
    if (this.#started) this.options.metrics.connections.dec({ transport: 'sse' });
    this.lease.release();
    for (const resolve of this.#waiters) resolve();
    this.#waiters = [];
  }
}
