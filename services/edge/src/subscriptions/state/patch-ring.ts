/**
 * The last changes of a tracker's document, for readers that resume: every
 * change after `base` is held, so a reader whose document is at a position
 * at or after `base` is brought up to date by the patches after it; an
 * older one needs a snapshot.
 *
 * Bounded by count (`edge.state.patchRing`) and by bytes: once the held
 * patches add up to more than `ratio` × the document's canonical JSON (at
 * least {@link patchRingFloorBytes}), a resume from before them costs more
 * than a fresh snapshot, so the oldest are dropped. The newest change is
 * always held: a reader one change behind (a long-poll, a brief reconnect)
 * gets its patch. A held step keeps only its encoded patch
 * (`StateStep.release`): an older one since the next push, the newest once
 * the tracker told its readers (`releaseNewest`).
 */
import type { StateDeltaKind } from '@fanout/shared';
import type { StateStep } from './state-step.js';

/** The bytes of patches a ring may hold whatever the document's size (a small document's patches are larger than it). */
export const patchRingFloorBytes = 1024;

export class PatchRing {
  readonly #capacity: number;
  readonly #ratio: number;
  #steps: StateStep[] = [];
  /** Held bytes of `#steps` (`StateStep.heldBytes`). */
  #bytes = 0;
  /** The offset whose document the first held step applies to. */
  #base: number;

  constructor(capacity: number, base: number, ratio = Number.POSITIVE_INFINITY) {
    this.#capacity = Math.max(1, capacity);
    this.#ratio = ratio;
    this.#base = base;
  }

  get base(): number {
    return this.#base;
  }

  get size(): number {
    return this.#steps.length;
  }

  /** What the held steps weigh (`StateStep.heldBytes`). */
  get bytes(): number {
    return this.#bytes;
  }

  /** The newest step, if one is held. */
  get newest(): StateStep | undefined {
    return this.#steps.at(-1);
  }

  /** Holds `step`, the newest change of a document whose canonical JSON is `documentLength` long. */
  push(step: StateStep, documentLength: number): void {
    const previous = this.#steps.at(-1);
    if (previous !== undefined) {
      this.#bytes -= previous.heldBytes;
      previous.release();
      this.#bytes += previous.heldBytes;
    }
    this.#bytes += step.heldBytes;
    const maxBytes = Math.max(patchRingFloorBytes, this.#ratio * documentLength);
    let drop = 0;
    const held = this.#steps.length + 1;
    while (held - drop > 1 && (held - drop > this.#capacity || this.#bytes > maxBytes)) {
      const dropped = this.#steps[drop++];
      if (dropped === undefined) break;
      this.#bytes -= dropped.heldBytes;
      this.#base = dropped.offset;
    }
    // A new array of exactly the steps held (one grown by push keeps room for 16 more).
    this.#steps = (drop === 0 ? this.#steps : this.#steps.slice(drop)).concat(step);
  }

  /** The newest step keeps only its encoded patch too (the tracker told its readers). */
  releaseNewest(): void {
    const newest = this.#steps.at(-1);
    if (newest === undefined) return;
    this.#bytes -= newest.heldBytes;
    newest.release();
    this.#bytes += newest.heldBytes;
  }

  /** Forgets every step: the document at `offset` is where patches start again. */
  rebase(offset: number): void {
    this.#steps = [];
    this.#bytes = 0;
    this.#base = offset;
  }

  /**
   * The steps after `offset`, or `undefined` when some of them are not held
   * any more, or (with `delta`) cannot be sent as that kind: a released step
   * is sent as JSON Patch only.
   */
  after(offset: number, delta?: StateDeltaKind): StateStep[] | undefined {
    if (offset < this.#base) return undefined;
    const steps = this.#steps.filter((step) => step.offset > offset);
    if (delta !== undefined && !steps.every((step) => step.canEncode(delta))) return undefined;
    return steps;
  }
}
