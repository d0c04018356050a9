/**
 * The ids of the most recent events of a subscription, so that an event
 * delivered again across a reconnect (same id) is dropped. Bounded: the
 * oldest id leaves when the window is full.
 */
export class DedupeWindow {
  readonly size: number;
  readonly #ids = new Set<string>();

  constructor(size: number) {
    this.size = size;
  }

  /** True when `id` was seen (a duplicate); otherwise remembers it. */
  seen(id: string): boolean {
    if (this.#ids.has(id)) return true;
    this.#ids.add(id);
    if (this.#ids.size > this.size) {
      const oldest = this.#ids.values().next().value;
      if (oldest !== undefined) this.#ids.delete(oldest);
    }
    return false;
  }
}
