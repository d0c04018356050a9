/**
 * The one error type of fanout: a catalog code, a message for people, and
 * optional structured details (the offending field, a retry delay, a hint).
 * Browser-safe.
 */
import { errorCatalog, isErrorCode, type ErrorCode } from './error-catalog.js';

export type ErrorDetails = Readonly<Record<string, string | number | boolean>>;

export class FanoutError extends Error {
  override readonly name = 'FanoutError';
  readonly code: ErrorCode;
  readonly details: ErrorDetails;

  constructor(
    code: ErrorCode,
    message: string = errorCatalog[code].message,
    options: { details?: ErrorDetails; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = Object.freeze({ ...options.details });
  }

  /** The JSON body fanout answers HTTP errors with. */
  toJSON(): { error: { code: ErrorCode; message: string; details?: ErrorDetails } } {
    const hasDetails = Object.keys(this.details).length > 0;
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(hasDetails ? { details: this.details } : {}),
      },
    };
  }
}

export function isFanoutError(value: unknown): value is FanoutError {
  return value instanceof FanoutError;
}

/** Any thrown value as a FanoutError; unknown errors become `internal`, keeping the cause. */
export function toFanoutError(value: unknown): FanoutError {
  if (value instanceof FanoutError) return value;
  if (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { code?: unknown }).code === 'string' &&
    isErrorCode((value as { code: string }).code) &&
    typeof (value as { message?: unknown }).message === 'string'
  ) {
    const { code, message } = value as { code: ErrorCode; message: string };
    return new FanoutError(code, message, { cause: value });
  }
  return new FanoutError('internal', errorCatalog.internal.message, { cause: value });
}
