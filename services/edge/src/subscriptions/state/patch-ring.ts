/**
 * The last changes of a tracker's document, for readers that resume: every
 * change after `base` is held, so a reader whose document is at a position
 * at or after `base` is brought up to date by the patches after it; an
 * older one needs a snapshot.
 */
import type { StateStep } from './state-step.js';

export class PatchRing {
  readonly #capacity: number;
  #steps: StateStep[] = [];
  /** The offset whose document the first held step applies to. */
  #base: number;

  constructor(capacity: number, base: number) {
    this.#capacity = Math.max(1, capacity);
    this.#base = base;
  }

  get base(): number {
    return this.#base;
  }

  get size(): number {
    return this.#steps.length;
  }

  push(step: StateStep): void {
    this.#steps.at(-1)?.superseded();
    this.#steps.push(step);
    if (this.#steps.length > this.#capacity) {
      const dropped = this.#steps.shift();
      if (dropped) this.#base = dropped.offset;
    }
  }

  /** Forgets every step: the document at `offset` is where patches start again. */
  rebase(offset: number): void {
    this.#steps = [];
    this.#base = offset;
  }

  /** The steps after `offset`, or `undefined` when some of them are not held any more. */
  after(offset: number): StateStep[] | undefined {
    if (offset < this.#base) return undefined;
    return this.#steps.filter((step) => step.offset > offset);
  }
}
