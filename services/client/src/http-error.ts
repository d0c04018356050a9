/**
 * A failed HTTP answer of the edge as a FanoutError: the catalog body
 * `{"error":{"code","message","details"}}` when there is one, otherwise an
 * error chosen by status (a proxy's error page has no catalog body).
 */
import {
  FanoutError,
  isErrorCode,
  type ErrorCode,
  type ErrorDetails,
} from '@fanout/shared/portable-core';

function codeForStatus(status: number): ErrorCode {
  if (status === 401) return 'unauthenticated';
  if (status === 403) return 'permission_denied';
  if (status === 404) return 'not_found';
  if (status === 410) return 'position_too_old';
  if (status === 429) return 'rate_limited';
  if (status >= 400 && status < 500) return 'invalid_argument';
  return 'unavailable';
}

export async function errorFromResponse(response: Response): Promise<FanoutError> {
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    body = undefined;
  }
  const error =
    typeof body === 'object' && body !== null
      ? (body as { error?: { code?: unknown; message?: unknown; details?: unknown } }).error
      : undefined;
  if (error && typeof error.code === 'string' && isErrorCode(error.code)) {
    const details =
      typeof error.details === 'object' && error.details !== null
        ? (error.details as ErrorDetails)
        : {};
    return new FanoutError(
      error.code,
      typeof error.message === 'string' ? error.message : undefined,
      { details: { ...details, status: response.status } },
    );
  }
  return new FanoutError(
    codeForStatus(response.status),
    `HTTP ${response.status} from ${response.url}`,
    { details: { status: response.status, catalogBody: false } },
  );
}

/** A network failure (fetch rejected) as a resumable error. */
export function networkError(cause: unknown): FanoutError {
  return new FanoutError(
    'unavailable',
    `the edge is unreachable: ${cause instanceof Error ? cause.message : String(cause)}`,
    { cause },
  );
}

/**
 * Errors of one HTTP stream that end the whole client rather than one
 * subscription (a 403 for one channel fails only that subscription).
 */
export function endsConnection(error: FanoutError): boolean {
  return (
    error.code === 'unauthenticated' ||
    error.code === 'origin_not_allowed' ||
    error.code === 'server_refused'
  );
}
