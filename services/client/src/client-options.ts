/**
 * The options of `createClient`, their defaults, and the one function that
 * checks them and builds the frozen settings the client runs on.
 */
import { FanoutError } from '@fanout/shared/portable-core';
import type { BackoffOptions } from './backoff.js';
import { StaticRouter, type EdgeRouter } from './edge-router.js';
import { jsonWireFormat } from './json-wire-format.js';
import { PlacementRouter } from './placement-router.js';
import { longPollTransport } from './long-poll-transport.js';
import { sseTransport } from './sse-transport.js';
import type { TokenProvider } from './token-source.js';
import type { Transport, TransportName } from './transport.js';
import { webSocketTransport, type WebSocketConstructor } from './websocket-transport.js';
import type { WireFormat } from './wire-format.js';

export interface ClientOptions {
  /** Base URL of an edge, `http(s)://host:port` (or `ws(s)://`). Required unless `router` is given. */
  readonly url?: string;
  /**
   * How the edge is chosen: `static` (default) always connects to `url`;
   * `placement` computes the owner of the channels with the cluster's
   * placement function from the membership `url`'s `GET /v1/route` reports
   * (the member URLs must be reachable from the client).
   */
  readonly routing?: 'static' | 'placement';
  /** Chooses the edge per connection instead of `routing` (e.g. a configured `PlacementRouter`). */
  readonly router?: EdgeRouter;
  /** Transports in order of preference; the client falls back along it when one is blocked. Default all three. */
  readonly transports?: readonly TransportName[];
  /** WebSocket subprotocol: JSON (default) or `protoWireFormat` from `@fanout/client/proto`. */
  readonly wireFormat?: WireFormat;
  /**
   * Ask the edge for batch frames (subprotocol `fanout.json.v2` /
   * `fanout.proto.v2`): the events of one delivery arrive in one WebSocket
   * frame, and are handed over one by one, in order, as ever. Default true;
   * an edge that does not offer them sends one event per frame.
   */
  readonly batchFrames?: boolean;
  /** WebSocket class; default `globalThis.WebSocket` (in Node.js 20, pass `ws`'s). */
  readonly WebSocket?: WebSocketConstructor;
  /** fetch; default `globalThis.fetch`. */
  readonly fetch?: typeof fetch;
  /** Supplies the bearer JWT; called again before it expires and after the edge says it expired. */
  readonly token?: TokenProvider;
  /** Ask for a fresh token this long before `exp` (default 30 s). */
  readonly tokenRefreshMarginMs?: number;
  /** Reconnect delays: full jitter below initialMs × multiplier^attempt, at most maxMs. */
  readonly backoff?: Partial<BackoffOptions> & {
    /** A connection that lasted this long starts the delays over (default 5 s). */
    readonly resetAfterMs?: number;
  };
  /** Give up on a connection attempt after this long (default 10 s). */
  readonly connectTimeoutMs?: number;
  /** Seconds a long-poll request waits (default 25). */
  readonly longPollWaitSeconds?: number;
  /** Ids remembered per subscription to drop duplicates (default 1000). */
  readonly dedupeWindow?: number;
  /** Random source of the jitter, in [0, 1) (default Math.random). */
  readonly random?: () => number;
}

export interface CompiledOptions {
  readonly router: EdgeRouter;
  readonly transports: readonly Transport[];
  readonly token: TokenProvider | undefined;
  readonly tokenRefreshMarginMs: number;
  readonly backoff: BackoffOptions;
  readonly backoffResetAfterMs: number;
  readonly dedupeWindow: number;
  readonly random: () => number;
}

const allTransports: readonly TransportName[] = ['websocket', 'sse', 'long-poll'];

function invalid(field: string, message: string): FanoutError {
  return new FanoutError('invalid_argument', `client option ${field}: ${message}`, {
    details: { field },
  });
}

function positive(field: string, value: number | undefined, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    throw invalid(field, `must be a number ≥ ${min} (got ${String(value)})`);
  }
  return value;
}

function normalizedUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalid('url', `"${url}" is not an absolute URL`);
  }
  if (parsed.protocol === 'ws:') parsed.protocol = 'http:';
  if (parsed.protocol === 'wss:') parsed.protocol = 'https:';
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw invalid('url', `must be http(s) or ws(s) (got ${parsed.protocol})`);
  }
  parsed.pathname = parsed.pathname.replace(/\/v1\/ws\/?$/, '');
  return parsed.toString().replace(/\/$/, '');
}

/** Checks the options (FanoutError `invalid_argument` naming the option) and fills defaults. */
export function compileOptions(options: ClientOptions): CompiledOptions {
  const fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
  const random = options.random ?? Math.random;
  const routing = options.routing ?? 'static';
  if (!(['static', 'placement'] as const).includes(routing)) {
    throw invalid('routing', `must be static or placement (got ${routing})`);
  }
  let router = options.router;
  if (router === undefined) {
    if (options.url === undefined) throw invalid('url', 'give url or router');
    const url = normalizedUrl(options.url);
    router =
      routing === 'placement'
        ? new PlacementRouter({ seeds: [url], fetch: fetchImpl, random })
        : new StaticRouter(url);
  }
  const names = options.transports ?? allTransports;
  if (names.length === 0) throw invalid('transports', 'must name at least one transport');
  for (const name of names) {
    if (!allTransports.includes(name)) {
      throw invalid('transports', `unknown transport "${name}"`);
    }
  }
  if (options.batchFrames !== undefined && typeof options.batchFrames !== 'boolean') {
    throw invalid('batchFrames', `must be true or false (got ${String(options.batchFrames)})`);
  }
  const connectTimeoutMs = positive('connectTimeoutMs', options.connectTimeoutMs, 10_000, 1);
  const webSocket =
    options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  const transports: Transport[] = [];
  for (const name of new Set(names)) {
    if (name === 'websocket') {
      if (webSocket === undefined) {
        if (options.transports?.includes('websocket') === true && names.length === 1) {
          throw invalid(
            'WebSocket',
            'no WebSocket class here; pass one (e.g. from the ws package)',
          );
        }
        continue;
      }
      transports.push(
        webSocketTransport({
          webSocket,
          wireFormat: options.wireFormat ?? jsonWireFormat,
          batchFrames: options.batchFrames ?? true,
          connectTimeoutMs,
        }),
      );
    } else if (name === 'sse') {
      transports.push(sseTransport({ fetch: fetchImpl, connectTimeoutMs }));
    } else {
      transports.push(
        longPollTransport({
          fetch: fetchImpl,
          connectTimeoutMs,
          waitSeconds: positive('longPollWaitSeconds', options.longPollWaitSeconds, 25, 1),
        }),
      );
    }
  }
  const initialMs = positive('backoff.initialMs', options.backoff?.initialMs, 500, 1);
  const maxMs = positive('backoff.maxMs', options.backoff?.maxMs, 30_000, initialMs);
  const multiplier = positive('backoff.multiplier', options.backoff?.multiplier, 2, 1);
  return Object.freeze({
    router,
    transports: Object.freeze(transports),
    token: options.token,
    tokenRefreshMarginMs: positive('tokenRefreshMarginMs', options.tokenRefreshMarginMs, 30_000),
    backoff: Object.freeze({ initialMs, maxMs, multiplier }),
    backoffResetAfterMs: positive('backoff.resetAfterMs', options.backoff?.resetAfterMs, 5_000),
    dedupeWindow: Math.floor(positive('dedupeWindow', options.dedupeWindow, 1000, 1)),
    random,
  });
}
