/**
 * Remembers the position of recently written events by (channel, the
 * publisher's event id), so a retried publish within the window returns the first write's
 * position instead of writing a second event. Bounded by time and count;
 * oldest entries go first. Per process: see docs/reference/ingest.md for the
 * exact guarantee.
 */
import type { PositionValue } from '@fanout/shared';

interface Entry {
  readonly position: PositionValue;
  readonly expiresAt: number;
}

export class IdempotencyWindow {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly windowMs: number,
    private readonly maxEntries: number,
    private readonly now: () => number = Date.now,
  ) {}

  private static key(channel: string, id: string): string {
    return `${channel}\u0000${id}`;
  }

  get size(): number {
    return this.entries.size;
  }

  lookup(channel: string, id: string): PositionValue | undefined {
    if (this.windowMs === 0) return undefined;
    const key = IdempotencyWindow.key(channel, id);
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.position;
  }

  remember(channel: string, id: string, position: PositionValue): void {
    if (this.windowMs === 0 || this.maxEntries === 0) return;
    const key = IdempotencyWindow.key(channel, id);
    this.entries.delete(key);
    this.entries.set(key, { position, expiresAt: this.now() + this.windowMs });
    this.evict();
  }

  private evict(): void {
    const now = this.now();
    for (const [key, entry] of this.entries) {
      if (this.entries.size <= this.maxEntries && entry.expiresAt > now) break;
      this.entries.delete(key);
    }
  }
}
