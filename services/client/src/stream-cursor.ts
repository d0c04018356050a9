/**
 * Where a subscription stands: the last offset received per partition, in
 * one epoch of the topic. Text form `<epoch>:<p>:<o>[,<p>:<o>...]`; a
 * cursor of one partition is exactly a position. Pure.
 */
import { parsePosition, parseStreamCursor } from '@fanout/shared/portable-core';

export class StreamCursor {
  #epoch: string | undefined;
  readonly #offsets = new Map<number, number>();

  get empty(): boolean {
    return this.#offsets.size === 0;
  }

  /** The text form, or undefined before anything was received. */
  text(): string | undefined {
    if (this.#epoch === undefined || this.#offsets.size === 0) return undefined;
    const entries = [...this.#offsets.entries()].sort((a, b) => a[0] - b[0]);
    return `${this.#epoch}:${entries.map(([partition, offset]) => `${partition}:${offset}`).join(',')}`;
  }

  clear(): void {
    this.#epoch = undefined;
    this.#offsets.clear();
  }

  /** Replaces the cursor with a text cursor or position; throws FanoutError('position_invalid'). */
  set(text: string): void {
    // The edge's parser: a cursor the edge would refuse is refused here.
    const { epoch, offsets } = parseStreamCursor(text);
    this.#epoch = epoch;
    this.#offsets.clear();
    for (const [partition, offset] of offsets) this.#offsets.set(partition, offset);
  }

  /**
   * Moves past an event's position. False when the cursor is already at or
   * past it (the event was received before: a duplicate).
   */
  advance(position: string): boolean {
    const { epoch, partition, offset } = parsePosition(position);
    if (epoch !== this.#epoch) {
      // A new epoch of the topic (the edge resets old ones): start over in it.
      this.#epoch = epoch;
      this.#offsets.clear();
    }
    const known = this.#offsets.get(partition);
    if (known !== undefined && offset <= known) return false;
    this.#offsets.set(partition, offset);
    return true;
  }
}
