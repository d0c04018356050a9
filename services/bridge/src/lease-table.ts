/**
 * The leases edges hold on on-demand resources: one entry per resource
 * channel, its expiry extended by each renewal (never shortened), bounded in
 * number. A resource stays polled until `idleMs` after its lease expired.
 */
import { FanoutError } from '@fanout/shared';

export interface LeaseEntry<T> {
  readonly channel: string;
  readonly value: T;
  /** When the last lease expires (clock milliseconds). */
  expiresAt: number;
}

export interface LeaseRenewal {
  /** True when the resource was not leased before: it must be started. */
  readonly created: boolean;
  readonly expiresAt: number;
}

export class LeaseTable<T> {
  readonly #entries = new Map<string, LeaseEntry<T>>();
  readonly #maxEntries: number;

  constructor(maxEntries: number) {
    this.#maxEntries = maxEntries;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(channel: string): LeaseEntry<T> | undefined {
    return this.#entries.get(channel);
  }

  channels(): string[] {
    return [...this.#entries.keys()];
  }

  /**
   * Leases `channel` until `now + leaseMs` (a later expiry already held
   * stays). Throws resource_limit when it is new and the table is full.
   */
  renew(channel: string, leaseMs: number, now: number, create: () => T): LeaseRenewal {
    const entry = this.#entries.get(channel);
    if (entry !== undefined) {
      entry.expiresAt = Math.max(entry.expiresAt, now + leaseMs);
      return { created: false, expiresAt: entry.expiresAt };
    }
    if (this.#entries.size >= this.#maxEntries) {
      throw new FanoutError(
        'resource_limit',
        `this bridge already polls ${this.#maxEntries} leased resources (bridge.onDemand.maxResources)`,
        { details: { limit: this.#maxEntries } },
      );
    }
    const created: LeaseEntry<T> = { channel, value: create(), expiresAt: now + leaseMs };
    this.#entries.set(channel, created);
    return { created: true, expiresAt: created.expiresAt };
  }

  /** Removes and returns the entries whose lease expired more than `idleMs` ago. */
  takeIdle(now: number, idleMs: number): LeaseEntry<T>[] {
    const idle: LeaseEntry<T>[] = [];
    for (const entry of this.#entries.values()) {
      if (entry.expiresAt + idleMs <= now) idle.push(entry);
    }
    for (const entry of idle) this.#entries.delete(entry.channel);
    return idle;
  }

  delete(channel: string): LeaseEntry<T> | undefined {
    const entry = this.#entries.get(channel);
    this.#entries.delete(channel);
    return entry;
  }
}
