/**
 * Connection limits over the WebSockets and SSE streams of one edge: in
 * all, per client address and per token subject. A connection takes a lease when
 * it is admitted (its subject may join later, with a Connect frame) and
 * gives it back when it closes. Zero turns a limit off.
 *
 * The address is the socket's peer, or the last entry of a configured
 * header (`X-Forwarded-For` appended by the proxy in front of the edge),
 * over every line of that header.
 * Anonymous clients have no subject and only count against their address.
 *
 * The lease is taken synchronously when the connection is accepted, after
 * its token was checked, so clients whose tokens are verified at the same
 * time cannot together pass the limit in all.
 */
import { FanoutError } from '@fanout/shared';

export interface ConnectionLimitSettings {
  /** Most connections in all (`edge.maxConnections`); 0 is no limit. */
  readonly total: number;
  /** Most connections from one client address; 0 is no limit. */
  readonly perAddress: number;
  /** Most connections with one token subject; 0 is no limit. */
  readonly perSubject: number;
}

export class ConnectionLease {
  readonly #limits: ConnectionLimits;
  readonly address: string;
  #subject: string | undefined;
  #released = false;

  constructor(limits: ConnectionLimits, address: string) {
    this.#limits = limits;
    this.address = address;
  }

  get subject(): string | undefined {
    return this.#subject;
  }

  /** Counts the connection against `subject` too; throws connection_limit over it. */
  identify(subject: string | undefined): void {
    if (this.#released || subject === undefined || subject === this.#subject) return;
    this.#limits.takeSubject(subject);
    if (this.#subject !== undefined) this.#limits.giveSubject(this.#subject);
    this.#subject = subject;
  }

  /** Gives the connection's places back; later calls do nothing. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#limits.giveAddress(this.address);
    if (this.#subject !== undefined) this.#limits.giveSubject(this.#subject);
  }
}

export class ConnectionLimits {
  readonly #settings: ConnectionLimitSettings;
  readonly #byAddress = new Map<string, number>();
  readonly #bySubject = new Map<string, number>();
  #total = 0;

  constructor(settings: ConnectionLimitSettings) {
    this.#settings = settings;
  }

  /** A lease for a connection from `address` (and `subject`, when known); throws over a limit. */
  acquire(address: string, subject?: string): ConnectionLease {
    if (this.full()) throw this.totalLimitError();
    const count = this.#byAddress.get(address) ?? 0;
    if (this.#settings.perAddress > 0 && count >= this.#settings.perAddress) {
      throw new FanoutError(
        'connection_limit',
        `address ${address} has ${count} connections on this edge (limit ${this.#settings.perAddress})`,
        { details: { limit: 'perAddress' } },
      );
    }
    this.#byAddress.set(address, count + 1);
    this.#total += 1;
    const lease = new ConnectionLease(this, address);
    try {
      lease.identify(subject);
    } catch (error) {
      lease.release();
      throw error;
    }
    return lease;
  }

  /** Connections holding a lease: open, or accepted and being set up. */
  get total(): number {
    return this.#total;
  }

  /** True when no further connection may be accepted in all. */
  full(): boolean {
    return this.#settings.total > 0 && this.#total >= this.#settings.total;
  }

  /** The error of a connection refused because the edge is full. */
  totalLimitError(): FanoutError {
    return new FanoutError(
      'connection_limit',
      `this edge serves at most ${this.#settings.total} connections`,
      { details: { limit: 'total' } },
    );
  }

  connectionsOf(address: string): number {
    return this.#byAddress.get(address) ?? 0;
  }

  connectionsWith(subject: string): number {
    return this.#bySubject.get(subject) ?? 0;
  }

  /** @internal for ConnectionLease */
  takeSubject(subject: string): void {
    const count = this.#bySubject.get(subject) ?? 0;
    if (this.#settings.perSubject > 0 && count >= this.#settings.perSubject) {
      throw new FanoutError(
        'connection_limit',
        `subject ${subject} has ${count} connections on this edge (limit ${this.#settings.perSubject})`,
        { details: { limit: 'perSubject' } },
      );
    }
    this.#bySubject.set(subject, count + 1);
  }

  /** @internal for ConnectionLease */
  giveSubject(subject: string): void {
    decrement(this.#bySubject, subject);
  }

  /** @internal for ConnectionLease */
  giveAddress(address: string): void {
    this.#total -= 1;
    decrement(this.#byAddress, address);
  }
}

function decrement(counts: Map<string, number>, key: string): void {
  const count = (counts.get(key) ?? 0) - 1;
  if (count <= 0) counts.delete(key);
  else counts.set(key, count);
}

/** The header lines of a request, in order (uWS `HttpRequest.forEach`; names lowercased). */
export interface HeaderLines {
  forEach(visit: (name: string, value: string) => void): void;
}

/**
 * The client address of a request: the last entry of `header` (lowercase)
 * when one is configured and present, else the socket's peer address.
 * Repeated lines of the header are one list, joined in order (RFC 9110
 * 5.3), so a line a client sends before the one its proxy appends does not
 * choose the address.
 */
export function clientAddress(peer: string, header: string, request: HeaderLines): string {
  if (header === '') return peer;
  let value = '';
  let present = false;
  request.forEach((name, line) => {
    if (name !== header) return;
    value = present ? `${value}, ${line}` : line;
    present = true;
  });
  if (value === '') return peer;
  const last = value.slice(value.lastIndexOf(',') + 1).trim();
  return last === '' ? peer : last;
}
