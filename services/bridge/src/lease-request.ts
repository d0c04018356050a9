/**
 * The body of `PUT /internal/v1/leases`, checked: `{url, headers, leaseMs}`.
 * The URL must be of an allowed origin (the address checks come with each
 * poll); of the headers, only those the origin forwards are kept, so the
 * resource's channel depends only on what reaches the upstream.
 */
import { FanoutError } from '@fanout/shared';
import type { UpstreamOrigin } from './upstream-policy.js';

export interface LeaseRequest {
  readonly url: string;
  /** Forwarded headers, lower-case names, filtered by the origin's forwardHeaders. */
  readonly headers: Readonly<Record<string, string>>;
  readonly leaseMs: number;
}

const headerName = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const headerValue = /^[\t\x20-\x7e\x80-\xff]*$/;
/** Most headers a lease request may name, and longest URL. */
export const maxLeaseHeaders = 32;
export const maxLeaseUrlLength = 4096;

function invalid(field: string, message: string): FanoutError {
  return new FanoutError('invalid_argument', `${field}: ${message}`, { details: { field } });
}

export function parseLeaseRequest(
  body: unknown,
  origins: ReadonlyMap<string, UpstreamOrigin>,
  maxLeaseMs: number,
): LeaseRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw invalid('body', 'must be a JSON object {url, headers, leaseMs}');
  }
  const { url, headers, leaseMs } = body as Record<string, unknown>;
  if (typeof url !== 'string' || url.length === 0 || url.length > maxLeaseUrlLength) {
    throw invalid('url', `must be an http(s) URL of at most ${maxLeaseUrlLength} characters`);
  }
  const parsed = URL.parse(url);
  if (parsed === null || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) {
    throw invalid('url', 'must be an absolute http(s) URL');
  }
  if (parsed.username !== '' || parsed.password !== '') {
    throw new FanoutError('upstream_refused', 'the URL carries a user name or password', {
      details: { reason: 'userinfo' },
    });
  }
  const origin = origins.get(parsed.origin);
  if (origin === undefined) {
    throw new FanoutError('upstream_refused', `${parsed.origin} is not in bridge.origins`, {
      details: { reason: 'origin-not-allowed' },
    });
  }
  if (typeof leaseMs !== 'number' || !Number.isInteger(leaseMs) || leaseMs < 1) {
    throw invalid('leaseMs', 'must be a positive integer of milliseconds');
  }
  const forwarded: Record<string, string> = {};
  if (headers !== undefined) {
    if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) {
      throw invalid('headers', 'must be an object of header names to string values');
    }
    const entries = Object.entries(headers as Record<string, unknown>);
    if (entries.length > maxLeaseHeaders) {
      throw invalid('headers', `must name at most ${maxLeaseHeaders} headers`);
    }
    for (const [name, value] of entries) {
      if (!headerName.test(name) || typeof value !== 'string' || !headerValue.test(value)) {
        throw invalid('headers', `${name.slice(0, 64)} must be a header name with a string value`);
      }
      const lower = name.toLowerCase();
      if (origin.forwardHeaders.includes(lower)) forwarded[lower] = value;
    }
  }
  parsed.hash = '';
  return { url: parsed.href, headers: forwarded, leaseMs: Math.min(leaseMs, maxLeaseMs) };
}
