/**
 * CORS for the edge's HTTP routes (SSE, GET and long-poll, `/v1/route`), so
 * that web pages of the origins in `edge.allowedOrigins` may read them from
 * another origin, as they may open WebSockets. The policy is the allow-list
 * the edge already enforces: a request from an origin outside it is refused
 * with 403 `origin_not_allowed` before it reaches a route, and one from an
 * allowed origin gets `Access-Control-Allow-Origin` with that origin on every
 * answer, errors included. Preflights (`OPTIONS /v1/...`) allow GET with the
 * headers clients send (`Authorization`, `Last-Event-ID`). No credentials:
 * clients authenticate with a bearer token, not with cookies.
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';

/** The allowed Origin of each answer being written; uWS responses do not outlive their request. */
const allowedOriginOf = new WeakMap<HttpResponse, string>();

const preflightHeaders: readonly (readonly [string, string])[] = [
  ['access-control-allow-methods', 'GET, OPTIONS'],
  ['access-control-allow-headers', 'authorization, last-event-id, accept, cache-control'],
  ['access-control-max-age', '600'],
];

export class CorsPolicy {
  readonly #any: boolean;
  readonly #origins: ReadonlySet<string>;

  constructor(allowedOrigins: readonly string[]) {
    this.#any = allowedOrigins.includes('*');
    this.#origins = new Set(allowedOrigins);
  }

  /** True for a request without Origin (not a browser's cross-origin request) or from a listed one. */
  allows(origin: string): boolean {
    return origin === '' || this.#any || this.#origins.has(origin);
  }

  /**
   * Reads the request's Origin (synchronously: uWS requests end with their
   * handler) and, when it is allowed, marks the answer for CORS headers.
   */
  note(response: HttpResponse, request: HttpRequest): string {
    const origin = request.getHeader('origin');
    if (origin !== '' && this.allows(origin)) allowedOriginOf.set(response, origin);
    return origin;
  }
}

/**
 * Writes the CORS headers of an answer to an allowed cross-origin request,
 * with those of a preflight answer when `preflight`; nothing for other
 * requests. Call between `writeStatus` and the body, corked.
 */
export function writeCorsHeaders(response: HttpResponse, preflight = false): void {
  const origin = allowedOriginOf.get(response);
  if (origin === undefined) return;
  response
    .writeHeader('access-control-allow-origin', origin)
    .writeHeader('vary', 'Origin')
    .writeHeader('access-control-expose-headers', 'retry-after');
  if (preflight) for (const [name, value] of preflightHeaders) response.writeHeader(name, value);
}
