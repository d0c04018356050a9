/**
 * What an HTTP handler needs from the request, read before the first await
 * (a uWS request object does not outlive its handler).
 */
import type { HttpRequest } from 'uWebSockets.js';
import { requestToken } from '../admission/client-auth.js';

export interface RequestFacts {
  readonly query: URLSearchParams;
  readonly accept: string;
  readonly lastEventId: string;
  /** The `If-None-Match` header (empty when absent). */
  readonly ifNoneMatch: string;
  readonly token: string | undefined;
  readonly channel: string;
  /** Client address for the connection limits. */
  readonly address: string;
  /** The request headers named by `forwardHeaders` (lower-case names), when present. */
  readonly forwarded: Readonly<Record<string, string>>;
}

export function readFacts(
  request: HttpRequest,
  channelParameter: boolean,
  address: string,
  forwardHeaders: readonly string[] = [],
): RequestFacts {
  const query = new URLSearchParams(request.getQuery());
  return {
    forwarded: forwardedHeaders(request, forwardHeaders),
    query,
    address,
    accept: request.getHeader('accept'),
    lastEventId: request.getHeader('last-event-id'),
    ifNoneMatch: request.getHeader('if-none-match'),
    token: requestToken(request.getHeader('authorization'), query),
    channel: channelParameter ? decodeURIComponent(request.getParameter(0)) : '',
  };
}

/** No forwarded headers: one object shared by every request and connection that has none. */
export const noForwardedHeaders: Readonly<Record<string, string>> = Object.freeze({});

/**
 * The request headers named by `forwardHeaders` (`edge.resources.forwardHeaders`),
 * lower-case names, those present: what a resource's lease forwards.
 * `noForwardedHeaders` when there are none (every WebSocket keeps what its
 * upgrade forwards: most have nothing to keep).
 */
export function forwardedHeaders(
  request: HttpRequest,
  forwardHeaders: readonly string[],
): Readonly<Record<string, string>> {
  let forwarded: Record<string, string> | undefined;
  for (const name of forwardHeaders) {
    const lower = name.toLowerCase();
    const value = request.getHeader(lower);
    if (value !== '') (forwarded ??= {})[lower] = value;
  }
  return forwarded ?? noForwardedHeaders;
}

/** True when a channel request asks for an SSE stream rather than a GET. */
export function watches(query: URLSearchParams, accept: string): boolean {
  return query.get('watch') === 'true' || accept.includes('text/event-stream');
}
