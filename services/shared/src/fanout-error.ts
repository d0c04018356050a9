/**
 * The one error type of fanout: a catalog code, a message for people, and
 * optional structured details. Conventional detail keys: `field` (the
 * offending field), `retryAfterMs` (for `rate_limited`), `hint` (the edge to
 * reconnect to, for `resume_elsewhere` errors).
 * Browser-safe.
 */
import { errorCatalog, isErrorCode, type ErrorCode, type ErrorSpec } from './error-catalog.js';

export type ErrorDetails = Readonly<Record<string, string | number | boolean>>;

export interface FanoutErrorOptions {
  readonly details?: ErrorDetails;
  readonly cause?: unknown;
}

/** The JSON body fanout answers failed HTTP requests with. */
export interface FanoutErrorBody {
  readonly error: {
    readonly code: ErrorCode;
    readonly message: string;
    readonly details?: ErrorDetails;
  };
}

/**
 * Marks FanoutErrors across copies of this module (a bundle may hold two),
 * where `instanceof` would fail.
 */
const brand = Symbol.for('fanout.FanoutError');

export class FanoutError extends Error {
  override readonly name = 'FanoutError';
  readonly code: ErrorCode;
  readonly details: ErrorDetails;

  constructor(
    code: ErrorCode,
    message: string = errorCatalog[code].message,
    options: FanoutErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = Object.freeze({ ...options.details });
    Object.defineProperty(this, brand, { value: true });
  }

  /** The catalog entry of this error: statuses, close code, client action. */
  get spec(): ErrorSpec {
    return errorCatalog[this.code];
  }

  /** The JSON body fanout answers HTTP errors with. */
  toJSON(): FanoutErrorBody {
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
  return (
    value instanceof FanoutError ||
    (value instanceof Error &&
      (value as unknown as Partial<Record<symbol, unknown>>)[brand] === true)
  );
}

/** Any thrown value as a FanoutError; unknown errors become `internal`, keeping the cause. */
export function toFanoutError(value: unknown): FanoutError {
  if (isFanoutError(value)) return value;
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
