/**
 * Every client session that follows subscriptions (WebSocket connections and
 * SSE streams), in one place: the drain on shutdown or a Kafka outage and the
 * rebalance of clients whose partitions moved are written once, for all
 * transports.
 */
import type { ErrorCode } from '@fanout/shared';
import type { HintFor } from '../cluster/cluster-routing.js';
import type { TransportName } from './subscriber.js';

/** A client session as the drain and the rebalance see it. */
export interface Session {
  /** Spreads the clients of one partition over its owners. */
  readonly key: string;
  readonly transport: TransportName;
  readonly closed: boolean;
  /** The partitions of its channel subscriptions; `undefined` when it follows a pattern. */
  partitions(): ReadonlySet<number> | undefined;
  /** Ends the session with a catalog code and its positions (and where to go). */
  close(code: ErrorCode, message: string, hint?: string): void;
}

export class SessionRegistry {
  readonly #sessions = new Set<Session>();

  get size(): number {
    return this.#sessions.size;
  }

  /** Sessions of one transport. */
  count(transport: TransportName): number {
    let count = 0;
    for (const session of this.#sessions) if (session.transport === transport) count++;
    return count;
  }

  add(session: Session): void {
    this.#sessions.add(session);
  }

  delete(session: Session): void {
    this.#sessions.delete(session);
  }

  /** Closes every session. */
  drainAll(code: ErrorCode, message: string): void {
    for (const session of [...this.#sessions]) session.close(code, message);
  }

  /** Closes up to `count` sessions, each told where to go by `hint` when it names one. */
  drainSome(count: number, code: ErrorCode, message: string, hint?: HintFor): void {
    let left = count;
    for (const session of [...this.#sessions]) {
      if (left-- <= 0) break;
      const partitions = hint ? session.partitions() : undefined;
      session.close(
        code,
        message,
        partitions === undefined ? undefined : hint?.(partitions, session.key),
      );
    }
  }

  /**
   * Closes with `rebalance` up to `limit` sessions of `transport` that
   * `select` names another edge for; returns how many it closed.
   */
  rebalance(select: HintFor, limit: number, transport: TransportName): number {
    let closed = 0;
    for (const session of [...this.#sessions]) {
      if (closed >= limit) break;
      if (session.closed || session.transport !== transport) continue;
      const partitions = session.partitions();
      if (partitions === undefined) continue;
      const hint = select(partitions, session.key);
      if (hint === undefined) continue;
      session.close(
        'rebalance',
        'the partitions of this connection moved to another edge; resume there',
        hint,
      );
      closed++;
    }
    return closed;
  }
}
