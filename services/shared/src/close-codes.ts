/**
 * WebSocket close codes, in ranges that tell a client what to do without
 * knowing every code — the same information SSE clients get as a final typed
 * event, and the `action` of the Disconnect frame sent before the close:
 *
 * | range      | action             | meaning                                                   |
 * | ---------- | ------------------ | --------------------------------------------------------- |
 * | 1000–2999  | resume             | RFC 6455 closes, except those listed as `stop` below      |
 * | 4000–4199  | resume             | reconnect with backoff (to any edge), resume from positions |
 * | 4200–4299  | resume_elsewhere   | reconnect to the edge named in the hint, resume there     |
 * | 4400–4499  | stop               | the client is wrong: request, credentials, origin         |
 * | 4500–4599  | stop               | the server refuses this client; reconnecting will not help |
 * | other      | resume             | unassigned codes: reconnect with backoff                  |
 *
 * RFC 6455 closes that will not fix themselves on reconnect — 1002 protocol
 * error, 1003 unsupported data, 1007 invalid payload, 1008 policy violation,
 * 1009 message too big, 1010 missing extension — mean `stop`.
 *
 * Each fanout close code belongs to exactly one error of the error catalog;
 * the Disconnect frame names that error. 4000, 4400 and 4500 double as the
 * generic code of their range for errors that have no close code of their own.
 * Browser-safe.
 */

/**
 * What a client does after an error:
 * - `resume`: reconnect with backoff (any edge) and resume from its positions;
 *   for a single request (gRPC, HTTP), retry it with backoff.
 * - `resume_elsewhere`: reconnect to the edge named in the hint and resume.
 * - `retry`: the connection is fine; the request may be sent again after a delay.
 * - `reset`: the requested position cannot be served; refetch the channel's
 *   state, then subscribe again without a position (or from `earliest`).
 * - `stop`: terminal; do not retry or reconnect until the request,
 *   credentials or configuration are fixed.
 */
export type ClientAction = 'resume' | 'resume_elsewhere' | 'retry' | 'reset' | 'stop';

/** The actions a close code can carry (a close never means `retry` or `reset`). */
export type CloseAction = Extract<ClientAction, 'resume' | 'resume_elsewhere' | 'stop'>;

export const CloseCodeRange = {
  resume: { from: 4000, to: 4199 },
  resumeElsewhere: { from: 4200, to: 4299 },
  stopClient: { from: 4400, to: 4499 },
  stopServer: { from: 4500, to: 4599 },
} as const;

/** The close codes fanout sends, each owned by one error of the catalog. */
export const CloseCode = {
  // ---- 4000–4199: reconnect with backoff and resume -----------------------
  /** `internal`: an unexpected server error; also the generic resumable close. */
  internal: 4000,
  /** `idle_timeout`: nothing received from the client for too long. */
  idleTimeout: 4001,
  /** `unavailable`: the edge cannot serve right now (starting, overloaded). */
  unavailable: 4003,
  /** `backpressure`: the client read too slowly; resume from the positions sent. */
  backpressure: 4008,
  /** `token_expired`: reconnect with a fresh token. */
  tokenExpired: 4010,
  /** `kafka_unavailable`: the edge lost Kafka. */
  kafkaUnavailable: 4011,
  /** `connection_limit`: too many connections; back off before reconnecting. */
  connectionLimit: 4029,
  // ---- 4200–4299: reconnect to the edge in the hint and resume ------------
  /** `draining`: the edge is shutting down. */
  draining: 4200,
  /** `not_owner`: the channel's partition is served by another edge. */
  notOwner: 4201,
  /** `rebalance`: partition ownership moved while connected. */
  rebalance: 4202,
  // ---- 4400–4499: the client is wrong; do not reconnect --------------------
  /** `frame_invalid`: undecodable or out-of-order frame; also the generic client-error close. */
  frameInvalid: 4400,
  /** `unauthenticated`: no valid credentials. */
  unauthenticated: 4401,
  /** `permission_denied`: the credentials do not allow this connection. */
  permissionDenied: 4403,
  /** `message_too_large`: a client frame exceeded the maximum size. */
  messageTooLarge: 4413,
  /** `subprotocol_unsupported`: no supported WebSocket subprotocol was offered. */
  subprotocolUnsupported: 4415,
  /** `origin_not_allowed`: the Origin is not allowed. */
  originNotAllowed: 4420,
  // ---- 4500–4599: the server refuses; do not reconnect ---------------------
  /** `server_refused`: the server will never serve this client; also the generic server-refusal close. */
  serverRefused: 4500,
} as const;

export type CloseCodeName = keyof typeof CloseCode;

/** RFC 6455 close codes that a reconnect will not fix. */
const terminalProtocolCloses: ReadonlySet<number> = new Set([1002, 1003, 1007, 1008, 1009, 1010]);

function within(code: number, range: { readonly from: number; readonly to: number }): boolean {
  return code >= range.from && code <= range.to;
}

/** The action a client takes after a WebSocket close with this code. */
export function actionForCloseCode(closeCode: number): CloseAction {
  const { resumeElsewhere, stopClient, stopServer } = CloseCodeRange;
  if (within(closeCode, resumeElsewhere)) return 'resume_elsewhere';
  if (within(closeCode, stopClient) || within(closeCode, stopServer)) return 'stop';
  if (terminalProtocolCloses.has(closeCode)) return 'stop';
  // 4000–4199, 1000/1001/1005/1006/1011/1012/1013 and codes nobody assigned:
  // a network or server hiccup; reconnecting with backoff is safe.
  return 'resume';
}
