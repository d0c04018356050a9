/**
 * The error catalog: every error fanout reports, with its stable code and how
 * it maps onto each transport. `docs/reference/errors.md` is generated from
 * this table (`npm run docs:generate`) and a test keeps the two equal.
 *
 * Codes are public API: never rename or reuse one; add new ones.
 * Browser-safe.
 */
import { CloseCode, type ClientAction } from './close-codes.js';

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
  /** What the error means and what to do about it; the default message. */
  readonly message: string;
  /** gRPC status of a failed call. */
  readonly grpc: GrpcStatusName;
  /** HTTP status of a failed request (and of a refused WebSocket upgrade or SSE stream). */
  readonly http: number;
  /**
   * WebSocket close code when the error ends a connection; `null` when it is
   * only ever reported as an error frame and the connection stays open.
   */
  readonly close: number | null;
  /** What a client does next. */
  readonly action: ClientAction;
}

export const errorCatalog = {
  // ---- the request is wrong: fix it, do not retry it as is ----------------
  invalid_argument: {
    message: 'A field of the request is invalid; the message names it.',
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
    message:
      'The event, or the request carrying it, is larger than the configured maximum (event size, request size, or the memory one connection may hold).',
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
  state_invalid: {
    message:
      'The state change is malformed: its document or merge patch is not one well-formed UTF-8 JSON value (a byte order mark or anything after the value is refused), nests deeper than state.maxDepth, or a delete carries a body.',
    grpc: 'INVALID_ARGUMENT',
    http: 400,
    close: null,
    action: 'stop',
  },
  state_too_large: {
    message:
      'The state document is larger than state.maxDocumentBytes, or the merge patch larger than state.maxPatchBytes.',
    grpc: 'INVALID_ARGUMENT',
    http: 413,
    close: null,
    action: 'stop',
  },
  state_change_refused: {
    message:
      "A state change in the log could not be folded into the document (not JSON, too deep, the document would exceed state.maxDocumentBytes, or an operation this edge does not know); the document stays as it was before it. Reported to readers of the state with the change's position in details; nothing to retry.",
    grpc: 'FAILED_PRECONDITION',
    http: 422,
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
    close: CloseCode.frameInvalid,
    action: 'stop',
  },
  message_too_large: {
    message: 'A client message is larger than the configured maximum.',
    grpc: 'INVALID_ARGUMENT',
    http: 413,
    close: CloseCode.messageTooLarge,
    action: 'stop',
  },
  subprotocol_unsupported: {
    message: 'The WebSocket subprotocol is not fanout.json.v1 or fanout.proto.v1.',
    grpc: 'INVALID_ARGUMENT',
    http: 400,
    close: CloseCode.subprotocolUnsupported,
    action: 'stop',
  },
  subscription_limit: {
    message: 'The connection has reached the maximum number of subscriptions.',
    grpc: 'RESOURCE_EXHAUSTED',
    http: 400,
    close: null,
    action: 'stop',
  },
  not_found: {
    message: 'No such route or resource.',
    grpc: 'NOT_FOUND',
    http: 404,
    close: null,
    action: 'stop',
  },
  method_not_allowed: {
    message: 'The route exists but does not accept this HTTP method.',
    grpc: 'UNIMPLEMENTED',
    http: 405,
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
    close: CloseCode.unauthenticated,
    action: 'stop',
  },
  token_expired: {
    message:
      'The token expired; connect again with a fresh token and resume from the positions held.',
    grpc: 'UNAUTHENTICATED',
    http: 401,
    close: CloseCode.tokenExpired,
    action: 'resume',
  },
  permission_denied: {
    message: 'The credentials do not allow this channel or operation.',
    grpc: 'PERMISSION_DENIED',
    http: 403,
    close: CloseCode.permissionDenied,
    action: 'stop',
  },
  origin_not_allowed: {
    message: 'The Origin of the request is not in the configured list of allowed origins.',
    grpc: 'PERMISSION_DENIED',
    http: 403,
    close: CloseCode.originNotAllowed,
    action: 'stop',
  },
  upstream_refused: {
    message:
      'The bridge refuses the upstream URL: its origin is not in bridge.origins, it is not http(s), it carries a user name or password, or it (or a redirect it gave) resolves to a private, loopback, link-local or otherwise non-public address its origin does not allow; details.reason says which. Nothing was sent to it.',
    grpc: 'PERMISSION_DENIED',
    http: 403,
    close: null,
    action: 'stop',
  },
  // ---- limits: slow down ------------------------------------------------------
  rate_limited: {
    message:
      'Too many requests, or too many bytes of requests pending; retry after the delay in details.retryAfterMs.',
    grpc: 'RESOURCE_EXHAUSTED',
    http: 429,
    close: null,
    action: 'retry',
  },
  connection_limit: {
    message: 'Too many connections on this edge or for this client; reconnect after a backoff.',
    grpc: 'RESOURCE_EXHAUSTED',
    http: 429,
    close: CloseCode.connectionLimit,
    action: 'resume',
  },
  backpressure: {
    message:
      'The client did not read fast enough and was disconnected; resume from the positions given.',
    grpc: 'RESOURCE_EXHAUSTED',
    http: 503,
    close: CloseCode.backpressure,
    action: 'resume',
  },
  idle_timeout: {
    message: 'The connection was idle for longer than allowed; reconnect and resume.',
    grpc: 'DEADLINE_EXCEEDED',
    http: 408,
    close: CloseCode.idleTimeout,
    action: 'resume',
  },
  // ---- positions: Kubernetes-like 410 Gone, never a silent skip -------------
  position_too_old: {
    message:
      'The position is older than the log still holds; refetch the state, then subscribe again.',
    grpc: 'OUT_OF_RANGE',
    http: 410,
    close: null,
    action: 'reset',
  },
  position_epoch_mismatch: {
    message:
      'The position belongs to another epoch of the topic (it was recreated); refetch the state, then subscribe again.',
    grpc: 'OUT_OF_RANGE',
    http: 410,
    close: null,
    action: 'reset',
  },
  position_partition_mismatch: {
    message:
      "The position is of another partition than the channel's (the topic's partition count changed); refetch the state, then subscribe again.",
    grpc: 'OUT_OF_RANGE',
    http: 410,
    close: null,
    action: 'reset',
  },
  position_ahead: {
    message:
      'The position is beyond the end of the log this edge reads; retry shortly, and if it persists the log lost events: refetch the state.',
    grpc: 'OUT_OF_RANGE',
    http: 503,
    close: null,
    action: 'retry',
  },
  // ---- the server side: transient, try again or elsewhere ------------------
  kafka_unavailable: {
    message:
      'Kafka cannot be reached, or an edge has not read it far enough in time; nothing was acknowledged. Retry, or resume from the positions held, with backoff.',
    grpc: 'UNAVAILABLE',
    http: 503,
    close: CloseCode.kafkaUnavailable,
    action: 'resume',
  },
  unavailable: {
    message:
      'The service cannot serve right now (starting, overloaded, or the key server of its token keys cannot be reached); retry with backoff.',
    grpc: 'UNAVAILABLE',
    http: 503,
    close: CloseCode.unavailable,
    action: 'resume',
  },
  state_unavailable: {
    message:
      'The state of the channel cannot be served: the log no longer holds its history from a put or delete on (retention deleted the base), this edge holds as many state channels as edge.state.maxChannels allows, or its fold was interrupted; details.reason says which. Retry with backoff; a put or delete of the channel makes it available again.',
    grpc: 'UNAVAILABLE',
    http: 503,
    close: null,
    action: 'resume',
  },
  deadline_exceeded: {
    message:
      'The deadline passed before the operation completed; it was not acknowledged. Retry with the same event ids.',
    grpc: 'DEADLINE_EXCEEDED',
    http: 504,
    close: null,
    action: 'retry',
  },
  cancelled: {
    message:
      'The caller cancelled the request; what was not acknowledged may or may not have been written.',
    grpc: 'CANCELLED',
    http: 499,
    close: null,
    action: 'retry',
  },
  draining: {
    message: 'This instance is shutting down; reconnect (elsewhere) and resume.',
    grpc: 'UNAVAILABLE',
    http: 503,
    close: CloseCode.draining,
    action: 'resume_elsewhere',
  },
  not_owner: {
    message:
      'This edge does not serve the channel; reconnect to the edge in details.hint and resume there.',
    grpc: 'FAILED_PRECONDITION',
    http: 307,
    close: CloseCode.notOwner,
    action: 'resume_elsewhere',
  },
  rebalance: {
    message:
      'Channel ownership moved to another edge; reconnect to the edge in details.hint and resume.',
    grpc: 'UNAVAILABLE',
    http: 503,
    close: CloseCode.rebalance,
    action: 'resume_elsewhere',
  },
  internal: {
    message: 'An unexpected error; it was logged with a trace id.',
    grpc: 'INTERNAL',
    http: 500,
    close: CloseCode.internal,
    action: 'resume',
  },
  server_refused: {
    message:
      'The server refuses this client for good (for example, its protocol version is no longer supported).',
    grpc: 'FAILED_PRECONDITION',
    http: 400,
    close: CloseCode.serverRefused,
    action: 'stop',
  },
  resource_limit: {
    message:
      'This bridge already polls bridge.onDemand.maxResources leased resources, or (details.scope edge) this edge already holds edge.resources.maxLeases resource leases; no new lease until one ends. Retry later.',
    grpc: 'RESOURCE_EXHAUSTED',
    http: 503,
    close: null,
    action: 'retry',
  },
  resource_elsewhere: {
    message:
      'Another bridge owns this resource; ask the bridge in details.owner (its member id and URL).',
    grpc: 'FAILED_PRECONDITION',
    http: 421,
    close: null,
    action: 'resume_elsewhere',
  },
  upstream_unreachable: {
    message:
      'The bridge could not reach the upstream: its name does not resolve, or the connection was refused, reset or failed TLS verification. The last good state stays; the bridge retries with backoff.',
    grpc: 'UNAVAILABLE',
    http: 502,
    close: null,
    action: 'retry',
  },
  upstream_timeout: {
    message:
      'The upstream did not answer in time (connection and response headers within bridge.responseTimeoutMs, the whole answer within bridge.requestTimeoutMs). The last good state stays; the bridge retries with backoff.',
    grpc: 'DEADLINE_EXCEEDED',
    http: 504,
    close: null,
    action: 'retry',
  },
  upstream_status: {
    message:
      'The upstream answered with an HTTP status other than 200, 203 or 304 (details.httpStatus), or a redirect without a usable Location. The last good state stays; the bridge retries with backoff, not before a Retry-After it sent.',
    grpc: 'UNAVAILABLE',
    http: 502,
    close: null,
    action: 'retry',
  },
  upstream_too_large: {
    message:
      'The answer of the upstream is larger than bridge.maxBodyBytes, or its document larger than state.maxDocumentBytes; it was not read further. The last good state stays; the bridge retries with backoff.',
    grpc: 'UNAVAILABLE',
    http: 502,
    close: null,
    action: 'retry',
  },
  upstream_not_json: {
    message:
      'The answer of the upstream is not one JSON document: its content type is not application/json or *+json, it is compressed, or its body does not parse, nests deeper than state.maxDepth or has a __proto__ member; details.reason says which. The last good state stays; the bridge retries with backoff.',
    grpc: 'UNAVAILABLE',
    http: 502,
    close: null,
    action: 'retry',
  },
  upstream_invalid_utf8: {
    message:
      'The body of the upstream answer is not valid UTF-8. The last good state stays; the bridge retries with backoff.',
    grpc: 'UNAVAILABLE',
    http: 502,
    close: null,
    action: 'retry',
  },
  upstream_redirect_loop: {
    message:
      'The redirects of the upstream come back to a URL already visited, or are more than bridge.maxRedirects. The last good state stays; the bridge retries with backoff.',
    grpc: 'UNAVAILABLE',
    http: 502,
    close: null,
    action: 'retry',
  },
} as const satisfies Record<string, ErrorSpec>;

for (const spec of Object.values(errorCatalog)) Object.freeze(spec);
Object.freeze(errorCatalog);

export type ErrorCode = keyof typeof errorCatalog;

export const errorCodes: readonly ErrorCode[] = Object.freeze(
  Object.keys(errorCatalog) as ErrorCode[],
);

export function isErrorCode(value: string): value is ErrorCode {
  return Object.hasOwn(errorCatalog, value);
}

export function errorSpec(code: ErrorCode): ErrorSpec {
  return errorCatalog[code];
}

/** The numeric gRPC status of an error. */
export function toGrpcStatus(code: ErrorCode): number {
  return GrpcStatus[errorCatalog[code].grpc];
}

export function toHttpStatus(code: ErrorCode): number {
  return errorCatalog[code].http;
}

/**
 * The close code for ending a connection with this error. Errors without a
 * close code of their own get the generic code of the range their action
 * implies, so a client never resumes after a terminal error or stops after a
 * transient one: 4000 (resume), 4200 (resume elsewhere), 4400 (a client
 * error) or 4500 (a server-side refusal).
 */
export function toCloseCode(code: ErrorCode): number {
  const spec: ErrorSpec = errorCatalog[code];
  if (spec.close !== null) return spec.close;
  switch (spec.action) {
    case 'resume':
    case 'retry':
      return CloseCode.internal;
    case 'resume_elsewhere':
      return CloseCode.draining;
    case 'reset':
    case 'stop':
      return spec.http >= 500 ? CloseCode.serverRefused : CloseCode.frameInvalid;
  }
}

/** The catalog code that owns this close code, if any. */
export function errorCodeForCloseCode(closeCode: number): ErrorCode | undefined {
  return errorCodes.find((code) => errorCatalog[code].close === closeCode);
}
