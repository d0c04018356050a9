/**
 * CORS for the edge's HTTP routes (SSE, GET and long-poll, `/v1/route`), so
 * that web pages of the origins in `edge.allowedOrigins` may read them from
 * another origin, as they may open WebSockets. The policy is the allow-list
 * the edge already enforces: a request from an origin outside it is refused
 * with 403 `origin_not_allowed` before it reaches a route, and one from an
 * allowed origin gets `Access-Control-Allow-Origin` with that origin on every
 * answer, errors included. Preflights (`OPTIONS /v1/...`) allow GET with the
 * headers clients send (`Authorization`, `Last-Event-ID`, `If-None-Match`),
 * and answers expose the headers pages read (`ETag` of state snapshots for a
 * conditional GET, `Retry-After`, the channels of a resource). No credentials:
 * clients authenticate with a bearer token, not with cookies.
 *
 * The origin matching and the header lines are the shared CORS policy
 * (`CorsPolicy` of @fanout/shared); this module is its uWebSockets.js glue.
 */
import { CorsPolicy as SharedCorsPolicy, type CorsHeaderLines } from '@fanout/shared';
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';

/**
 * The CORS headers of each answer being written to an allowed origin, and
 * the policy's preflight headers; uWS responses do not outlive their request.
 */
const corsOf = new WeakMap<HttpResponse, readonly [CorsHeaderLines, CorsHeaderLines]>();

export class CorsPolicy {
  readonly #policy: SharedCorsPolicy;

  /** `forwardedHeaders`: the request headers `/v1/resources` passes on to bridges. */
  constructor(allowedOrigins: readonly string[], forwardedHeaders: readonly string[] = []) {
    this.#policy = new SharedCorsPolicy({
      allowedOrigins,
      methods: ['GET', 'OPTIONS'],
      requestHeaders: [
        'authorization',
        'last-event-id',
        'accept',
        'cache-control',
        'if-none-match',
        ...forwardedHeaders.map((name) => name.toLowerCase()),
      ],
      exposedHeaders: ['retry-after', 'etag', 'fanout-channel', 'fanout-status-channel'],
      maxAgeSeconds: 600,
    });
  }

  /** True for a request without Origin (not a browser's cross-origin request) or from a listed one. */
  allows(origin: string): boolean {
    return origin === '' || this.#policy.allowsOrigin(origin);
  }

  /**
   * Reads the request's Origin (synchronously: uWS requests end with their
   * handler) and, when it is allowed, marks the answer for CORS headers.
   */
  note(response: HttpResponse, request: HttpRequest): string {
    const origin = request.getHeader('origin');
    if (this.#policy.allowsOrigin(origin)) {
      corsOf.set(response, [this.#policy.answerHeaders(origin), this.#policy.preflightHeaders()]);
    }
    return origin;
  }
}

/**
 * Writes the CORS headers of an answer to an allowed cross-origin request,
 * with those of a preflight answer when `preflight`; nothing for other
 * requests. Call between `writeStatus` and the body, corked.
 */
export function writeCorsHeaders(response: HttpResponse, preflight = false): void {
  const cors = corsOf.get(response);
  if (cors === undefined) return;
  const [answer, preflightLines] = cors;
  for (const [name, value] of answer) response.writeHeader(name, value);
  if (preflight) for (const [name, value] of preflightLines) response.writeHeader(name, value);
}
