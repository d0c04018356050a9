/**
 * The error catalog: every error fanout reports, with its stable code and how
 * it maps onto each transport. `docs/reference/errors.md` is generated from
 * this table (`npm run docs:generate`) and a test keeps the two equal.
 *
 * Codes are public API: never rename or reuse one; add new ones.
 * Browser-safe.
 */
import type { ClientAction } from './close-codes.js';

/** gRPC status codes (the numbers of google.rpc.Code). */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;
export type GrpcStatusName = keyof typeof GrpcStatus;

export interface ErrorSpec {
  /** What the error means, one sentence. */
  readonly message: string;
  readonly grpc: GrpcStatusName;
  readonly http: number;
  /**
   * WebSocket close code when the error ends a connection; `null` when it is
   * reported as an error frame and the connection stays open.
   */
  readonly close: number | null;
  /** What a client does next. */
  readonly action: ClientAction;
}

export const errorCatalog = {
  // ---- the request is wrong: fix it, do not retry as is -------------------
  invalid_argument: {
    message: 'A field of the request is invalid.',
    grpc: 'INVALID_ARGUMENT',
    http: 400,
    close: null,
    action: 'stop',
  },
  channel_invalid: {
    message:
      'The channel name does not follow the grammar: dot-separated segments of [A-Za-z0-9_-], 1-255 characters.',
    grpc: 'INVALID_ARGUMENT',
    http: 400,
    close: null,
    action: 'stop',
  },
  event_too_large: {
    message: 'The event is larger than the configured maximum event size.',
    grpc: 'INVALID_ARGUMENT',
    http: 413,
    close: null,
    action: 'stop',
  },
  batch_too_large: {
    message: 'The batch has more events than the configured maximum batch size.',
    grpc: 'INVALID_ARGUMENT',
    http: 413,
    close: null,
    action: 'stop',
  },
  content_type_not_allowed: {
    message: 'The content type is not in the configured list of allowed content types.',
    grpc: 'INVALID_ARGUMENT',
    http: 415,
    close: null,
    action: 'stop',
  },
  position_invalid: {
    message: 'The position is not of the form <epoch>:<partition>:<offset>.',
    grpc: 'INVALID_ARGUMENT',
    http: 400,
    close: null,
    action: 'stop',
  },
  frame_invalid: {
    message: 'A WebSocket frame could not be decoded or is not allowed in this state.',
    grpc: 'INVALID_ARGUMENT',
    http: 400,
    close: 4400,
    action: 'stop',
  },
  message_too_large: {
    message: 'A client message is larger than the configured maximum.',
    grpc: 'INVALID_ARGUMENT',
    http: 413,
    close: 4413,
    action: 'stop',
  },
  subprotocol_unsupported: {
    message: 'The WebSocket subprotocol is not fanout.json.v1 or fanout.proto.v1.',
    grpc: 'INVALID_ARGUMENT',
    http: 400,
    close: 4401,
    action: 'stop',
  },
  not_found: {
    message: 'No such route or resource.',
    grpc: 'NOT_FOUND',
    http: 404,
    close: null,
    action: 'stop',
  },
  config_invalid: {
    message: 'The configuration has invalid values; the process does not start.',
    grpc: 'FAILED_PRECONDITION',
    http: 500,
    close: null,
    action: 'stop',
  },
  // ---- identity and permissions -------------------------------------------
  unauthenticated: {
    message: 'No valid credentials were presented.',
    grpc: 'UNAUTHENTICATED',
    http: 401,
    close: 4403,
    action: 'stop',
  },
  token_expired: {
    message:
      'The token expired; connect again with a fresh token (positions are kept by the client).',
    grpc: 'UNAUTHENTICATED',
    http: 401,
    close: 4010,
    action: 'resume',
  },
  permission_denied: {
    message: 'The credentials do not allow this channel or operation.',
    grpc: 'PERMISSION_DENIED',
    http: 403,
    close: 4404,
    action: 'stop',
  },
  origin_not_allowed: {
    message: 'The Origin of the request is not in the configured list of allowed origins.',
    grpc: 'PERMISSION_DENIED',
    http: 403,
    close: 4405,
    action: 'stop',
  },
  // ---- limits: slow down and retry ------------------------------------------
  rate_limited: {
    message: 'Too many requests; retry after the delay given in the error.',
    grpc: 'RESOURCE_EXHAUSTED',
    http: 429,
    close: null,
    action: 'retry',
  },
  connection_limit: {
    message: 'Too many connections from this address or token, or on this edge.',
    grpc: 'RESOURCE_EXHAUSTED',
    http: 429,
    close: 4029,
    action: 'resume',
  },
  subscription_limit: {
    message: 'The connection has reached the maximum number of subscriptions.',
    grpc: 'RESOURCE_EXHAUSTED',
    http: 429,
    close: null,
    action: 'stop',
  },
  backpressure: {
    message:
      'The client did not read fast enough and was disconnected; resume from the positions given.',
    grpc: 'RESOURCE_EXHAUSTED',
    http: 503,
    close: 4008,
    action: 'resume',
  },
  idle_timeout: {
    message: 'The connection was idle for longer than allowed.',
    grpc: 'DEADLINE_EXCEEDED',
    http: 408,
    close: 4001,
    action: 'resume',
  },
  // ---- positions: Kubernetes-like 410 Gone, never a silent skip -------------
  position_too_old: {
    message:
      'The position is older than the log still holds; refetch the state, then subscribe again.',
    grpc: 'OUT_OF_RANGE',
    http: 410,
    close: null,
    action: 'stop',
  },
  position_epoch_mismatch: {
    message:
      'The position belongs to another epoch of the topic (it was recreated); refetch the state.',
    grpc: 'OUT_OF_RANGE',
    http: 410,
    close: null,
    action: 'stop',
  },
  // ---- the server side: transient, try again or elsewhere ------------------
  kafka_unavailable: {
    message: 'Kafka cannot be reached; nothing was acknowledged. Retry with backoff.',
    grpc: 'UNAVAILABLE',
    http: 503,
    close: 4011,
    action: 'resume',
  },
  deadline_exceeded: {
    message: 'The deadline passed before the operation completed; it was not acknowledged.',
    grpc: 'DEADLINE_EXCEEDED',
    http: 504,
    close: null,
    action: 'retry',
  },
  draining: {
    message: 'This instance is shutting down; reconnect (elsewhere) and resume.',
    grpc: 'UNAVAILABLE',
    http: 503,
    close: 4200,
    action: 'resume_elsewhere',
  },
  not_owner: {
    message:
      'This edge does not own the channel; reconnect to the edge in the hint and resume there.',
    grpc: 'FAILED_PRECONDITION',
    http: 307,
    close: 4201,
    action: 'resume_elsewhere',
  },
  rebalance: {
    message:
      'Channel ownership moved to another edge; reconnect to the edge in the hint and resume.',
    grpc: 'UNAVAILABLE',
    http: 503,
    close: 4202,
    action: 'resume_elsewhere',
  },
  internal: {
    message: 'An unexpected error; it was logged with a trace id.',
    grpc: 'INTERNAL',
    http: 500,
    close: 4000,
    action: 'resume',
  },
  server_refused: {
    message: 'The server refuses this client permanently (for example, an unsupported version).',
    grpc: 'FAILED_PRECONDITION',
    http: 400,
    close: 4500,
    action: 'stop',
  },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof errorCatalog;

export const errorCodes = Object.keys(errorCatalog) as readonly ErrorCode[];

export function isErrorCode(value: string): value is ErrorCode {
  return Object.hasOwn(errorCatalog, value);
}

export function errorSpec(code: ErrorCode): ErrorSpec {
  return errorCatalog[code];
}

export function toGrpcStatus(code: ErrorCode): number {
  return GrpcStatus[errorCatalog[code].grpc];
}

export function toHttpStatus(code: ErrorCode): number {
  return errorCatalog[code].http;
}

/** The close code for ending a connection with this error (4000 when it has none). */
export function toCloseCode(code: ErrorCode): number {
  return errorCatalog[code].close ?? 4000;
}

/** The catalog code whose close code this is, if any. */
export function errorCodeForCloseCode(closeCode: number): ErrorCode | undefined {
  return errorCodes.find((code) => errorCatalog[code].close === closeCode);
}
