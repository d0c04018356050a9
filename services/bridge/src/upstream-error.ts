/**
 * The failure of one poll of an upstream: a catalog error (`upstream_*`)
 * with what the poller needs to decide when to try again.
 */
import { FanoutError, type ErrorCode } from '@fanout/shared';

export type UpstreamErrorCode = Extract<
  ErrorCode,
  | 'upstream_refused'
  | 'upstream_unreachable'
  | 'upstream_timeout'
  | 'upstream_status'
  | 'upstream_too_large'
  | 'upstream_not_json'
  | 'upstream_invalid_utf8'
  | 'upstream_redirect_loop'
>;

export interface UpstreamErrorInfo {
  /** A stable word saying which check failed (`not-allowed-origin`, `content-type`, …). */
  readonly reason: string;
  /** The HTTP status the upstream answered with, when it answered. */
  readonly httpStatus?: number;
  /** The upstream's Retry-After header as sent, for a 429 or 503. */
  readonly retryAfter?: string;
  /** The URL of the hop that failed (without query, so no secret in it lands in a log). */
  readonly url?: string;
}

export class UpstreamError extends FanoutError {
  declare readonly code: UpstreamErrorCode;
  readonly info: UpstreamErrorInfo;

  constructor(
    code: UpstreamErrorCode,
    message: string,
    info: UpstreamErrorInfo,
    options: { readonly cause?: unknown } = {},
  ) {
    super(code, message, {
      details: {
        reason: info.reason,
        ...(info.httpStatus === undefined ? {} : { httpStatus: info.httpStatus }),
        ...(info.url === undefined ? {} : { url: info.url }),
      },
      ...(options.cause === undefined ? {} : { cause: options.cause }),
    });
    this.info = info;
  }
}

export function isUpstreamError(value: unknown): value is UpstreamError {
  return value instanceof UpstreamError;
}

/** A URL for messages and details: origin and path, without query or fragment. */
export function shownUrl(url: URL): string {
  return `${url.origin}${url.pathname}`;
}
