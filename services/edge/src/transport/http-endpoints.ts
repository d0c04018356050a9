/**
 * The HTTP routes: SSE watch of one channel (`GET /v1/channels/{channel}`
 * with `watch=true` or `Accept: text/event-stream`), the multiplexed SSE
 * stream (`GET /v1/stream?channels=a,b`), and plain GET / long-poll of a
 * channel's events. Every SSE event's `id:` is the cursor that resumes the
 * whole stream, so a browser's `Last-Event-ID` reconnect resumes exactly.
 */
import {
  actionForCloseCode,
  assertValidChannel,
  FanoutError,
  formatPositionOf,
  isChannelPattern,
  partitionForChannel,
  toCloseCode,
  toFanoutError,
  toHttpStatus,
  type ErrorCode,
  type FanoutConfig,
  type Logger,
} from '@fanout/shared';
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import type { ClusterRouting, HintFor } from '../cluster/cluster-routing.js';
import type { ChannelHub } from '../subscriptions/channel-hub.js';
import { requestToken, type ClientAuth } from '../admission/client-auth.js';
import type { ConnectionLease, ConnectionLimits } from '../admission/connection-limits.js';
import { DeadlineTimer } from '../admission/deadline-timer.js';
import { writeCorsHeaders, type CorsPolicy } from './cors.js';
import type { EdgeEvent } from '../edge-event.js';
import type { EdgeMetrics } from '../edge-metrics.js';
import { httpStatusLine } from './http-status.js';
import { withKafkaDeadline } from '../kafka-wait.js';
import type { PartitionReader } from '../partition-reader.js';
import {
  cursorOffsetIn,
  parseStreamCursor,
  type StreamCursor,
} from '../subscriptions/stream-cursor.js';
import {
  closeLingerMs,
  Subscription,
  type DeliveryTarget,
  type ResetInfo,
} from '../subscriptions/subscription.js';
import {
  failResponse,
  guard,
  guardResponse,
  markFinished,
  markStreaming,
  type HandlerGuard,
} from './uws-guard.js';

export interface HttpEndpointsOptions {
  readonly app: TemplatedApp;
  readonly hub: ChannelHub;
  readonly reader: PartitionReader;
  readonly auth: ClientAuth;
  readonly config: FanoutConfig['edge'];
  readonly logger: Logger;
  readonly metrics: EdgeMetrics;
  readonly admit: (request: HttpRequest, opensConnection?: boolean) => FanoutError | undefined;
  readonly limits: ConnectionLimits;
  readonly addressOf: (response: HttpResponse, request: HttpRequest) => string;
  readonly routing: ClusterRouting;
  /** Marks answers to allowed cross-origin requests for CORS headers. */
  readonly cors: CorsPolicy;
  /** Reports exceptions of uWS callbacks (see uws-guard.ts). */
  readonly guard: HandlerGuard;
}

let nextStreamKey = 1;

/** How often (in bytes written) an SSE stream asks uWS whether the client keeps up. */
const probeBytes = 16 * 1024;
/** Under uWS's 10 s timeout for a response whose writes do not get through. */
const keepAliveMs = 4000;

/** What a handler needs from the request, read before the first await (uWS rule). */
interface RequestFacts {
  readonly query: URLSearchParams;
  readonly accept: string;
  readonly lastEventId: string;
  readonly token: string | undefined;
  readonly channel: string;
  /** Client address for the connection limits. */
  readonly address: string;
}

function readFacts(request: HttpRequest, channelParameter: boolean, address: string): RequestFacts {
  const query = new URLSearchParams(request.getQuery());
  return {
    query,
    address,
    accept: request.getHeader('accept'),
    lastEventId: request.getHeader('last-event-id'),
    token: requestToken(request.getHeader('authorization'), query),
    channel: channelParameter ? decodeURIComponent(request.getParameter(0)) : '',
  };
}

function sendJson(
  response: HttpResponse,
  status: number,
  body: string,
  headers: Readonly<Record<string, string>> = {},
): void {
  response.cork(() => {
    response.writeStatus(httpStatusLine(status)).writeHeader('content-type', 'application/json');
    writeCorsHeaders(response);
    for (const [name, value] of Object.entries(headers)) response.writeHeader(name, value);
    response.end(body);
  });
}

export function sendError(response: HttpResponse, error: FanoutError): void {
  const retryAfter =
    error.code === 'kafka_unavailable' || error.code === 'unavailable' || error.code === 'draining'
      ? { 'retry-after': '1' }
      : error.code === 'rate_limited' || error.code === 'connection_limit'
        ? { 'retry-after': '1' }
        : undefined;
  sendJson(response, toHttpStatus(error.code), JSON.stringify(error.toJSON()), retryAfter);
}

function integerParameter(
  query: URLSearchParams,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const text = query.get(name);
  if (text === null || text === '') return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new FanoutError('invalid_argument', `${name} must be an integer from ${min} to ${max}`, {
      details: { field: name },
    });
  }
  return value;
}

/** True when a channel request asks for an SSE stream rather than a GET. */
function watches(query: URLSearchParams, accept: string): boolean {
  return query.get('watch') === 'true' || accept.includes('text/event-stream');
}

function typesParameter(query: URLSearchParams): string[] {
  const text = query.get('types');
  return text === null || text === '' ? [] : text.split(',').filter((type) => type !== '');
}

/** One SSE response following one subscription. */
class SseStream implements DeliveryTarget {
  /** Spreads the clients of one partition over its owners. */
  readonly key = `sse-${nextStreamKey++}`;
  readonly response: HttpResponse;
  readonly options: HttpEndpointsOptions;
  subscription: Subscription | undefined;
  /** Its place in the connection limits, given back on close. */
  lease: ConnectionLease | undefined;
  /** Called once when the stream closes, whichever way. */
  onClosed: (() => void) | undefined;
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
  #heartbeat: NodeJS.Timeout | undefined;
  readonly #expiry = new DeadlineTimer();
  readonly #singlePartition: boolean;

  constructor(response: HttpResponse, options: HttpEndpointsOptions, singlePartition: boolean) {
    this.response = response;
    this.options = options;
    this.#singlePartition = singlePartition;
  }

  start(): void {
    markStreaming(this.response);
    this.response.cork(() => {
      this.response
        .writeStatus('200 OK')
        .writeHeader('content-type', 'text/event-stream')
        .writeHeader('cache-control', 'no-store')
        .writeHeader('x-accel-buffering', 'no');
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
    return this.closed ? 0 : this.#unsent;
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
    const id = this.#singlePartition ? event.position : subscription.cursorText();
    const frame = `id: ${id}\ndata: ${event.json}\n\n`;
    this.response.cork(() => {
      this.write(frame);
    });
    this.#probe();
    this.options.metrics.deliveries.inc({ transport: 'sse' });
    this.options.metrics.deliveredBytes.inc({ transport: 'sse' }, frame.length);
    if (this.bufferedBytes() > this.options.config.maxBackpressureBytes) {
      this.end('backpressure', 'the client read too slowly; reconnect with Last-Event-ID');
    }
  }

  /**
   * Runs the deliveries as they are: each frame is its own corked write, so
   * its write result tells what the client has not taken yet (a write inside
   * a longer cork would report success for bytes that then wait in uWS).
   */
  batch<T>(deliveries: () => T): T {
    return deliveries();
  }

  goLive(subscription: Subscription, partition: number): void {
    this.options.hub.addDirect(subscription, partition);
  }

  reset(subscription: Subscription, reset: ResetInfo): void {
    this.options.metrics.resets.inc({ code: reset.code });
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

  /** The partitions of its channels; `undefined` when it follows a pattern. */
  partitions(): ReadonlySet<number> | undefined {
    const subscription = this.subscription;
    if (!subscription || subscription.patterns.length > 0) return undefined;
    return new Set(subscription.cursors.keys());
  }

  /** Ends the stream with a typed `disconnect` event carrying the cursor (and where to go). */
  end(code: ErrorCode, message: string, hint?: string): void {
    if (this.closed) return;
    this.options.metrics.closes.inc({ code });
    const closeCode = toCloseCode(code);
    const body = JSON.stringify({
      code,
      message,
      action: actionForCloseCode(closeCode),
      ...(hint === undefined ? {} : { hint }),
      cursor: this.subscription?.cursorText(),
    });
    this.response.cork(() => {
      this.write(`event: disconnect\ndata: ${body}\n\n`);
    });
    this.#finishWhenSent();
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

  onClose(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.#expiry.clear();
    if (this.subscription) {
      this.options.hub.remove(this.subscription);
      this.options.metrics.subscriptions.dec({ transport: 'sse' });
    }
    this.options.metrics.connections.dec({ transport: 'sse' });
    this.lease?.release();
    this.onClosed?.();
    for (const resolve of this.#waiters) resolve();
    this.#waiters = [];
  }
}

export function registerHttpEndpoints(options: HttpEndpointsOptions): {
  streams: () => number;
  drainAll: (code: ErrorCode, message: string) => void;
  drainSome: (count: number, code: ErrorCode, message: string, hint?: HintFor) => void;
  rebalance: (select: HintFor, limit: number) => number;
} {
  const { app, hub, reader, auth, config, logger, metrics } = options;
  const streams = new Set<SseStream>();

  function fail(response: HttpResponse, route: string, error: unknown, aborted: boolean): void {
    const failure = toFanoutError(error);
    if (failure.code === 'internal') logger.error({ err: error, route }, 'request failed');
    metrics.httpRequests.inc({ route, status: String(toHttpStatus(failure.code)) });
    if (!aborted) sendError(response, failure);
  }

  async function openStream(
    response: HttpResponse,
    facts: RequestFacts,
    state: { aborted: boolean; stream?: SseStream },
    channels: readonly string[],
    route: string,
  ): Promise<void> {
    const identity = await auth.identify(facts.token);
    if (channels.length === 0) {
      throw new FanoutError('invalid_argument', 'name at least one channel', {
        details: { field: 'channels' },
      });
    }
    if (channels.length > config.maxSubscriptionsPerConnection) {
      throw new FanoutError(
        'subscription_limit',
        `at most ${config.maxSubscriptionsPerConnection} channels per stream`,
      );
    }
    for (const channel of channels) {
      if (!isChannelPattern(channel)) assertValidChannel(channel, 'channels');
      auth.authorize(identity, channel);
    }
    const sinceText =
      facts.lastEventId !== '' ? facts.lastEventId : (facts.query.get('since') ?? '');
    const since: StreamCursor | undefined =
      sinceText === '' ? undefined : parseStreamCursor(sinceText);
    const patterns = channels.filter((channel) => isChannelPattern(channel));
    const plain = channels.filter((channel) => !isChannelPattern(channel));
    const layout = await hub.layout(config.kafkaWaitMs);
    const partitions = new Set(
      plain.map((channel) => partitionForChannel(channel, layout.partitions)),
    );
    const single = patterns.length === 0 && partitions.size === 1;
    const stream = new SseStream(response, options, single);
    stream.lease = options.limits.acquire(
      facts.address,
      identity.anonymous ? undefined : identity.subject,
    );
    const subscription = new Subscription(
      { channels: plain, patterns, types: typesParameter(facts.query) },
      stream,
      channels.join(','),
    );
    stream.subscription = subscription;
    let prepared;
    try {
      prepared = await hub.prepare(subscription, since);
    } catch (error) {
      stream.lease.release();
      throw error;
    }
    if (state.aborted) {
      stream.lease.release();
      hub.remove(subscription);
      return;
    }
    state.stream = stream;
    streams.add(stream);
    stream.onClosed = () => {
      streams.delete(stream);
    };
    metrics.connections.inc({ transport: 'sse' });
    metrics.subscriptions.inc({ transport: 'sse' });
    metrics.httpRequests.inc({ route, status: '200' });
    stream.start();
    stream.expireAt(identity.expiresAt);
    const reset = prepared.resets[0];
    if (reset) {
      stream.reset(subscription, reset);
      streams.delete(stream);
      return;
    }
    const hint = options.routing.hintForSet(layout.partitions, partitions, stream.key);
    const opening = JSON.stringify({
      channels,
      cursor: subscription.cursorText(),
      ...(hint === undefined ? {} : { hint }),
    });
    response.cork(() => {
      stream.write(`event: subscribed\nid: ${subscription.cursorText()}\ndata: ${opening}\n\n`);
    });
    hub.goLiveNow(subscription, prepared.resuming);
    for (const partition of prepared.resuming) {
      hub.catchUp(subscription, partition).catch(
        guardResponse(options.guard, 'sse catch-up', response, (error: unknown) => {
          const failure = toFanoutError(error);
          logger.warn({ err: error }, 'SSE catch-up failed');
          stream.end(
            failure.code,
            failure.code === 'internal'
              ? 'catch-up failed; reconnect with Last-Event-ID'
              : failure.message,
          );
        }),
      );
    }
  }

  async function readChannel(
    response: HttpResponse,
    facts: RequestFacts,
    state: { aborted: boolean },
    abort: AbortController,
  ): Promise<void> {
    const identity = await auth.identify(facts.token);
    assertValidChannel(facts.channel);
    auth.authorize(identity, facts.channel);
    const limit = integerParameter(facts.query, 'limit', 100, 1, 1000);
    const wait = integerParameter(facts.query, 'wait', 0, 0, config.longPollMaxSeconds);
    const afterText = facts.query.get('after') ?? '';
    const after = afterText === '' ? undefined : parseStreamCursor(afterText);
    // Kafka is waited for at most kafkaWaitMs, then kafka_unavailable (503).
    const deadline = Date.now() + config.kafkaWaitMs;
    const layout = await hub.layout(config.kafkaWaitMs);
    const partition = partitionForChannel(facts.channel, layout.partitions);
    const tail = await reader.acquire(partition, Math.max(1, deadline - Date.now()));
    try {
      let from: number;
      if (after) {
        if (after.offsets.size !== 1) {
          throw new FanoutError(
            'position_invalid',
            `after must be one position (of partition ${partition}, the partition of ${facts.channel}), not a cursor`,
          );
        }
        const earliest = formatPositionOf(layout.epoch, partition, tail.logStartOffset - 1);
        const offset = cursorOffsetIn(after, layout.epoch, partition);
        if (offset === 'position_epoch_mismatch') {
          throw new FanoutError(
            'position_epoch_mismatch',
            `position ${afterText} belongs to another epoch of the topic (now ${layout.epoch}); refetch the channel`,
            { details: { earliest } },
          );
        }
        if (offset === 'position_partition_mismatch') {
          throw new FanoutError(
            'position_partition_mismatch',
            `position ${afterText} is not of partition ${partition}, where ${facts.channel} is (the topic's partition count changed?); refetch the channel`,
            { details: { earliest } },
          );
        }
        if (offset >= tail.head) {
          const known = (
            await withKafkaDeadline(
              options.hub.offsetsOf(partition),
              Math.max(1, deadline - Date.now()),
              `the offsets of partition ${partition}`,
            )
          ).highWatermark;
          if (offset >= known) {
            throw new FanoutError(
              'position_ahead',
              `position ${afterText} is beyond the end of the log (last offset ${known - 1})`,
            );
          }
        }
        if (offset + 1 < tail.logStartOffset) {
          throw new FanoutError(
            'position_too_old',
            `position ${afterText} is older than the log holds; refetch the channel`,
            {
              details: {
                earliest: formatPositionOf(layout.epoch, partition, tail.logStartOffset - 1),
              },
            },
          );
        }
        from = offset;
      } else {
        from = Math.max(tail.logStartOffset, tail.head - config.recentScanEvents) - 1;
      }
      let result = await hub.readChannel(partition, facts.channel, from, after ? limit : 1_000_000);
      if (result === 'too_old') {
        throw new FanoutError(
          'position_too_old',
          `position ${afterText} is older than the log holds; refetch the channel`,
          {
            details: {
              earliest: formatPositionOf(layout.epoch, partition, tail.logStartOffset - 1),
            },
          },
        );
      }
      if (after && result.events.length === 0 && wait > 0) {
        // Woken by any event of the channel on the partition, which may be
        // one at or before `after` that the live read had not reached yet:
        // wait again until something newer exists or the time is up.
        const deadline = Date.now() + wait * 1000;
        // A function, so the check is not narrowed away across awaits.
        const aborted = (): boolean => state.aborted;
        metrics.connections.inc({ transport: 'poll' });
        try {
          while (result.events.length === 0) {
            const left = deadline - Date.now();
            if (left <= 0) break;
            await hub.waitForChannel(partition, facts.channel, left, abort.signal);
            if (aborted()) return;
            result = await hub.readChannel(partition, facts.channel, result.last, limit);
            if (result === 'too_old') {
              throw new FanoutError('position_too_old', 'the log moved on');
            }
          }
        } finally {
          metrics.connections.dec({ transport: 'poll' });
        }
      }
      const events = after ? result.events : result.events.slice(-limit);
      const position = formatPositionOf(layout.epoch, partition, result.last);
      if (state.aborted) return;
      metrics.httpRequests.inc({ route: 'channel', status: '200' });
      sendJson(
        response,
        200,
        `{"channel":${JSON.stringify(facts.channel)},"events":[${events.map((event) => event.json).join(',')}],"position":${JSON.stringify(position)}}`,
      );
    } finally {
      reader.release(partition);
    }
  }

  function handle(
    route: string,
    run: (
      response: HttpResponse,
      facts: RequestFacts,
      state: { aborted: boolean; stream?: SseStream },
      abort: AbortController,
    ) => Promise<void>,
    channelParameter: boolean,
  ) {
    return (response: HttpResponse, request: HttpRequest): void => {
      options.cors.note(response, request);
      // Only streams count against edge.maxConnections.
      const refused = options.admit(
        request,
        route === 'stream' ||
          watches(new URLSearchParams(request.getQuery()), request.getHeader('accept')),
      );
      if (refused) {
        fail(response, route, refused, false);
        return;
      }
      let facts: RequestFacts;
      try {
        facts = readFacts(request, channelParameter, options.addressOf(response, request));
      } catch (error) {
        fail(response, route, new FanoutError('invalid_argument', String(error)), false);
        return;
      }
      const state: { aborted: boolean; stream?: SseStream } = { aborted: false };
      const abort = new AbortController();
      response.onAborted(
        guardResponse(options.guard, `http ${route} aborted`, response, () => {
          state.aborted = true;
          markFinished(response);
          abort.abort();
          if (state.stream) {
            streams.delete(state.stream);
            state.stream.onAborted();
          }
        }),
      );
      run(response, facts, state, abort).catch(
        guardResponse(options.guard, `http ${route} failed`, response, (error: unknown) => {
          if (state.stream && !state.stream.closed) {
            state.stream.end(toFanoutError(error).code, toFanoutError(error).message);
            return;
          }
          if (!state.stream) fail(response, route, error, state.aborted);
        }),
      );
    };
  }

  app.get(
    '/v1/channels/:channel',
    handle(
      'channel',
      async (response, facts, state, abort) => {
        if (watches(facts.query, facts.accept))
          await openStream(response, facts, state, [facts.channel], 'channel_watch');
        else await readChannel(response, facts, state, abort);
      },
      true,
    ),
  );
  app.get(
    '/v1/stream',
    handle(
      'stream',
      async (response, facts, state) => {
        const channels = (facts.query.get('channels') ?? '')
          .split(',')
          .map((channel) => channel.trim())
          .filter((channel) => channel !== '');
        await openStream(response, facts, state, channels, 'stream');
      },
      false,
    ),
  );

  return {
    streams: () => streams.size,
    drainAll(code, message) {
      for (const stream of [...streams]) {
        stream.end(code, message);
        streams.delete(stream);
      }
    },
    drainSome(count, code, message, hint) {
      let left = count;
      for (const stream of [...streams]) {
        if (left-- <= 0) break;
        const partitions = hint ? stream.partitions() : undefined;
        stream.end(
          code,
          message,
          partitions === undefined ? undefined : hint?.(partitions, stream.key),
        );
        streams.delete(stream);
      }
    },
    rebalance(select, limit) {
      let closed = 0;
      for (const stream of [...streams]) {
        if (closed >= limit) break;
        if (stream.closed) continue;
        const partitions = stream.partitions();
        if (partitions === undefined) continue;
        const hint = select(partitions, stream.key);
        if (hint === undefined) continue;
        stream.end(
          'rebalance',
          'the partitions of this stream moved to another edge; resume there',
          hint,
        );
        streams.delete(stream);
        closed++;
      }
      return closed;
    },
  };
}
