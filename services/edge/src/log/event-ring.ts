/**
 * The bounded in-memory buffer of one partition's most recent events, for
 * hot replay. Offsets in it are contiguous from `firstOffset` except for
 * records the edge could not decode; lookups are by offset. A per-channel
 * index lets a catch-up of one channel visit only that channel's events
 * (a partition carries many channels: a storm of resumes would otherwise
 * look at every other channel's events once per client).
 */
import type { EdgeEvent } from './edge-event.js';

/** One channel's events in the ring, oldest first: `events[start]` onwards. */
interface ChannelRun {
  /** Slots before `start` are dropped (undefined). */
  events: (EdgeEvent | undefined)[];
  start: number;
}

/** Dropped slots at the front of a run that are reclaimed once they are half of it. */
const compactFrom = 8;

export class EventRing {
  readonly capacity: number;
  readonly #slots: (EdgeEvent | undefined)[];
  #start = 0;
  #size = 0;
  /** Every event of the partition below this offset has been appended or skipped. */
  #coveredFrom = -1;
  /** channel → its events in the ring, oldest first. */
  readonly #byChannel = new Map<string, ChannelRun>();

  constructor(capacity: number) {
    this.capacity = capacity;
    this.#slots = new Array<EdgeEvent | undefined>(capacity);
  }

  get size(): number {
    return this.#size;
  }

  /**
   * The lowest offset from which the ring holds every event up to the
   * partition's read head; -1 when the ring holds nothing.
   */
  get coveredFrom(): number {
    return this.#size === 0 ? -1 : this.#coveredFrom;
  }

  /** Appends events read contiguously from `fromOffset` (the read head before them). */
  append(fromOffset: number, events: readonly EdgeEvent[]): void {
    if (this.capacity === 0) return;
    if (this.#size === 0) this.#coveredFrom = fromOffset;
    for (const event of events) {
      const at = (this.#start + this.#size) % this.capacity;
      if (this.#size === this.capacity) {
        const dropped = this.#slots[this.#start];
        this.#start = (this.#start + 1) % this.capacity;
        this.#size--;
        if (dropped) {
          this.#coveredFrom = dropped.offset + 1;
          this.#dropOldest(dropped);
        }
      }
      this.#slots[at] = event;
      this.#size++;
      const run = this.#byChannel.get(event.channel);
      if (run === undefined) this.#byChannel.set(event.channel, { events: [event], start: 0 });
      else run.events.push(event);
    }
  }

  /** `dropped` left the ring: it was the oldest of its channel's events. */
  #dropOldest(dropped: EdgeEvent): void {
    const run = this.#byChannel.get(dropped.channel);
    if (run === undefined) return;
    if (run.events[run.start] !== dropped) return;
    run.events[run.start] = undefined;
    run.start++;
    if (run.start === run.events.length) this.#byChannel.delete(dropped.channel);
    else if (run.start >= compactFrom && run.start * 2 >= run.events.length) {
      run.events = run.events.slice(run.start);
      run.start = 0;
    }
  }

  /**
   * Adds older events in front of the ring: `events` are every event of the
   * partition from `fromOffset` through `throughOffset`, in order, and reach
   * the ring (`throughOffset` is at least the offset before `coveredFrom`). Only free slots are filled, newest first, so nothing the
   * ring holds is ever dropped for older events. An empty ring takes them
   * only when they reach `head` (the read head: they are the newest events).
   * Returns how many events were added.
   */
  prepend(
    fromOffset: number,
    throughOffset: number,
    events: readonly EdgeEvent[],
    head: number,
  ): number {
    if (this.capacity === 0) return 0;
    const reach = this.#size === 0 ? head : this.#coveredFrom;
    // A hole between what was read and what the ring holds: nothing to add.
    if (fromOffset >= reach || throughOffset + 1 < reach) return 0;
    // The events below what the ring already covers.
    let end = events.length;
    while (end > 0 && (events[end - 1]?.offset ?? reach) >= reach) end--;
    const free = this.capacity - this.#size;
    const begin = Math.max(0, end - free);
    /** The added events per channel, oldest first, to go in front of each channel's run. */
    const older = new Map<string, EdgeEvent[]>();
    for (let i = begin; i < end; i++) {
      const event = events[i];
      if (event === undefined) continue;
      const list = older.get(event.channel);
      if (list === undefined) older.set(event.channel, [event]);
      else list.push(event);
    }
    for (let i = end - 1; i >= begin; i--) {
      this.#start = (this.#start - 1 + this.capacity) % this.capacity;
      this.#slots[this.#start] = events[i];
      this.#size++;
    }
    for (const [channel, list] of older) {
      const run = this.#byChannel.get(channel);
      if (run === undefined) this.#byChannel.set(channel, { events: list, start: 0 });
      else {
        run.events = [...list, ...run.events.slice(run.start)];
        run.start = 0;
      }
    }
    // Everything from `fromOffset` when all of it fit, else from the oldest taken.
    const taken = end - begin;
    if (begin === 0) this.#coveredFrom = fromOffset;
    else this.#coveredFrom = events[begin]?.offset ?? this.#coveredFrom;
    if (this.#size === 0) this.#coveredFrom = -1;
    return taken;
  }

  clear(): void {
    this.#slots.fill(undefined);
    this.#start = 0;
    this.#size = 0;
    this.#coveredFrom = -1;
    this.#byChannel.clear();
  }

  /** Whether every event with an offset of at least `offset` is in the ring. */
  covers(offset: number): boolean {
    return this.#size > 0 && offset >= this.#coveredFrom;
  }

  /** Events with offset > `after`, oldest first, at most `limit`. */
  after(after: number, limit = Number.POSITIVE_INFINITY): EdgeEvent[] {
    const out: EdgeEvent[] = [];
    this.forEachAfter(after, (event) => {
      out.push(event);
      return out.length >= limit;
    });
    return out;
  }

  /**
   * Visits the events with offset > `after`, oldest first, without copying
   * them (a storm of resumes reads the same ring once per client); stops
   * when `visit` answers true. Answers whether it was stopped.
   */
  forEachAfter(after: number, visit: (event: EdgeEvent) => boolean): boolean {
    // Binary search for the first slot with offset > after.
    let low = 0;
    let high = this.#size;
    while (low < high) {
      const middle = (low + high) >>> 1;
      const event = this.#slots[(this.#start + middle) % this.capacity];
      if (event !== undefined && event.offset <= after) low = middle + 1;
      else high = middle;
    }
    for (let i = low; i < this.#size; i++) {
      const event = this.#slots[(this.#start + i) % this.capacity];
      if (event && visit(event)) return true;
    }
    return false;
  }

  /**
   * Visits the events of `channel` with offset > `after`, oldest first, as
   * `forEachAfter` does for every channel (the same events, less those of
   * other channels), looking at no other channel's events.
   */
  forEachOfChannelAfter(
    channel: string,
    after: number,
    visit: (event: EdgeEvent) => boolean,
  ): boolean {
    const run = this.#byChannel.get(channel);
    if (run === undefined) return false;
    const events = run.events;
    let low = run.start;
    let high = events.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((events[middle]?.offset ?? after + 1) <= after) low = middle + 1;
      else high = middle;
    }
    for (let i = low; i < events.length; i++) {
      const event = events[i];
      if (event && visit(event)) return true;
    }
    return false;
  }

  /** The newest `limit` events, oldest first. */
  latest(limit: number): EdgeEvent[] {
    const out: EdgeEvent[] = [];
    const from = Math.max(0, this.#size - limit);
    for (let i = from; i < this.#size; i++) {
      const event = this.#slots[(this.#start + i) % this.capacity];
      if (event) out.push(event);
    }
    return out;
  }
}
