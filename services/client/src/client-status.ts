/**
 * The connection status a UI shows: `connecting` (first connection),
 * `connected`, `resuming` (reconnecting with positions), `disconnected`
 * (waiting `retryInMs` before the next attempt), `closed` (by `close()` or a
 * terminal error, in `error`).
 */
import type { FanoutError } from '@fanout/shared/portable-core';
import type { TransportName } from './transport.js';

export type ConnectionState = 'connecting' | 'connected' | 'resuming' | 'disconnected' | 'closed';

export interface ClientStatus {
  readonly state: ConnectionState;
  /** The transport of the current or last connection. */
  readonly transport?: TransportName;
  /** The edge of the current or last connection. */
  readonly edge?: string;
  /** The edge's name (WebSocket only). */
  readonly edgeId?: string;
  /** Failed attempts since the last good connection. */
  readonly attempt: number;
  /** When disconnected: the delay before the next attempt. */
  readonly retryInMs?: number;
  /** Why the last connection ended (or, when closed, the terminal error). */
  readonly error?: FanoutError;
}
