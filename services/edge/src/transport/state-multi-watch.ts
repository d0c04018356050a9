/**
 * An SSE stream of many state channels (`GET /v1/stream?channels=a,b&snapshot=true`,
 * `GET /v1/state?channels=a,b&watch=true`): a snapshot of each channel, then
 * their `patch` and `state_change_refused` events multiplexed, each with the
 * channel in its data. Every `id:` is a stream cursor
 * (`<epoch>:<partition>:<offset>[,<partition>:<offset>...]`) that resumes
 * all of the channels.
 *
 * Channels share a partition, and their trackers fold it independently (one
 * may be a few records ahead of another, and the hub gives a fetch to one
 * tracker, then the next). So a change is not written when its tracker
 * folds it: it waits until every tracker of its partition in the stream has
 * folded through it, and the changes of a partition are written in offset
 * order, each with the cursor at its own offset. The cursor sent thus never
 * passes a change of the stream that was not sent before it, and never
 * stays behind one that was.
 *
 * The opening is one group of snapshots, only the last of them with an
 * `id:` (a client cut off inside the group starts afresh), read in one
 * synchronous step once the trackers of each partition agree on an offset
 * that every snapshot includes and none goes past (`settledOffsets`). A
 * resume (`Last-Event-ID`, `since`) gives the patches after the cursor's
 * offset of each partition; when the tracker of one channel no longer holds
 * them (or the cursor does not name the partition), every channel of that
 * partition in the stream gets a fresh snapshot marked `reset`, since one
 * offset per partition cannot describe documents at different positions.
 */
import {
  formatStreamCursor,
  type ErrorCode,
  type FanoutError,
  type StreamCursor,
} from '@fanout/shared';
import type { EdgeMetrics } from '../edge-metrics.js';
import type { Session, SessionRegistry } from '../subscriptions/session-registry.js';
import type {
  StateListener,
  StateSnapshot,
  StateTracker,
} from '../subscriptions/state/state-tracker.js';
import type { RefusedChange, StateStep } from '../subscriptions/state/state-step.js';
import type { SseStream, SseWatch } from './sse-stream.js';
import { snapshotJson } from './state-watch.js';

/** A change waiting for the other trackers of its partition. */
interface PendingChange {
  readonly offset: number;
  readonly event: 'patch' | 'state_change_refused';
  /** The event's data, the channel added. */
  readonly data: string;
}

/** How often a stream whose changes wait for a lagging tracker looks again. */
const lagRetryMs = 20;

/** `{"channel":..., <the fields of json>}`. */
function withChannel(channel: string, json: string): string {
  return `{"channel":${JSON.stringify(channel)},${json.slice(1)}`;
}

export class StateMultiWatch implements Session, SseWatch {
  readonly stream: SseStream;
  readonly transport = 'sse';
  readonly #trackers: readonly StateTracker[];
  readonly #byPartition = new Map<number, StateTracker[]>();
  readonly #sessions: SessionRegistry;
  readonly #metrics: EdgeMetrics;
  readonly #listeners = new Map<StateTracker, StateListener>();
  #epoch = '';
  /** The stream cursor as sent: per partition, every change up to it was written. */
  readonly #cursor = new Map<number, number>();
  readonly #pending = new Map<number, PendingChange[]>();
  #flushQueued = false;
  #retry: NodeJS.Timeout | undefined;

  constructor(
    stream: SseStream,
    trackers: readonly StateTracker[],
    sessions: SessionRegistry,
    metrics: EdgeMetrics,
  ) {
    this.stream = stream;
    this.#trackers = trackers;
    this.#sessions = sessions;
    this.#metrics = metrics;
    for (const tracker of trackers) {
      const list = this.#byPartition.get(tracker.partition) ?? [];
      list.push(tracker);
      this.#byPartition.set(tracker.partition, list);
      this.#listeners.set(tracker, this.#listenerOf(tracker));
    }
  }

  get key(): string {
    return this.stream.key;
  }

  get closed(): boolean {
    return this.stream.closed;
  }

  partitions(): ReadonlySet<number> {
    return new Set(this.#byPartition.keys());
  }

  close(code: ErrorCode, message: string, hint?: string): void {
    this.stream.end(code, message, hint);
  }

  #listenerOf(tracker: StateTracker): StateListener {
    const channel = tracker.channel;
    return {
      changed: (step: StateStep) => {
        this.#hold(tracker.partition, {
          offset: step.offset,
          event: 'patch',
          data: withChannel(channel, step.json),
        });
      },
      refused: (change: RefusedChange) => {
        this.#hold(tracker.partition, {
          offset: change.offset,
          event: 'state_change_refused',
          data: withChannel(channel, change.json),
        });
      },
      ended: (error: FanoutError) => {
        this.stream.end(error.code, error.message);
      },
    };
  }

  /**
   * Joins every tracker and writes the opening, in one synchronous step;
   * `offsets` are the settled offsets of the trackers' partitions (see the
   * module comment). A failure leaves the trackers joined so far.
   */
  open(offsets: ReadonlyMap<number, number>, since: StreamCursor | undefined): void {
    this.#epoch = this.#trackers[0]?.epoch ?? '';
    const resume = since?.epoch === this.#epoch ? since : undefined;
    const snapshots: { snapshot: StateSnapshot; reset: boolean }[] = [];
    const joined: StateTracker[] = [];
    try {
      for (const [partition, trackers] of this.#byPartition) {
        const settled = offsets.get(partition) ?? -1;
        const from = resume?.offsets.get(partition);
        const steps: PendingChange[] = [];
        let reset = since !== undefined;
        if (from !== undefined) {
          const text = formatStreamCursor({
            epoch: this.#epoch,
            offsets: new Map([[partition, from]]),
          });
          reset = false;
          for (const tracker of trackers) {
            const listener = this.#listeners.get(tracker);
            if (listener === undefined) continue;
            const opening = tracker.join(listener, {
              value: { epoch: this.#epoch, partition, offset: from },
              text,
            });
            joined.push(tracker);
            if (opening.kind === 'snapshot') reset = true;
            else {
              for (const step of opening.steps) {
                steps.push({
                  offset: step.offset,
                  event: 'patch',
                  data: withChannel(tracker.channel, step.json),
                });
              }
            }
          }
        } else {
          for (const tracker of trackers) {
            const listener = this.#listeners.get(tracker);
            if (listener === undefined) continue;
            tracker.join(listener);
            joined.push(tracker);
          }
        }
        if (from === undefined || reset) {
          // Every channel of the partition starts from its document now.
          for (const tracker of trackers) snapshots.push({ snapshot: tracker.snapshot(), reset });
          this.#cursor.set(partition, settled);
        } else {
          this.#cursor.set(partition, from);
          this.#pending.set(partition, steps);
        }
      }
    } catch (error) {
      for (const tracker of joined) {
        const listener = this.#listeners.get(tracker);
        if (listener) tracker.leave(listener);
      }
      throw error;
    }
    this.#sessions.add(this);
    this.stream.start();
    const parts: string[] = [];
    snapshots.forEach(({ snapshot, reset }, index) => {
      const data = snapshotJson(snapshot, reset);
      this.#metrics.stateSnapshotBytes.inc({ transport: 'sse' }, data.length);
      const id = index === snapshots.length - 1 ? `id: ${this.#cursorText()}\n` : '';
      parts.push(`event: snapshot\n${id}data: ${data}\n\n`);
    });
    if (parts.length > 0) this.stream.send(parts.join(''));
    this.#flush();
  }

  #cursorText(): string {
    return formatStreamCursor({ epoch: this.#epoch, offsets: this.#cursor });
  }

  /** A change of `partition`: written once every tracker of it folded through it. */
  #hold(partition: number, change: PendingChange): void {
    if (this.stream.closed) return;
    const pending = this.#pending.get(partition) ?? [];
    pending.push(change);
    this.#pending.set(partition, pending);
    // After the fetch being delivered reached every tracker.
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    queueMicrotask(() => {
      this.#flushQueued = false;
      this.#flushGuarded();
    });
  }

  #flushGuarded(): void {
    try {
      this.#flush();
    } catch (error) {
      this.stream.end('internal', `the state stream failed: ${String(error)}`);
    }
  }

  /** Writes, in offset order, the changes every tracker of their partition folded through. */
  #flush(): void {
    if (this.stream.closed) return;
    const parts: string[] = [];
    let waiting = false;
    for (const [partition, pending] of this.#pending) {
      if (pending.length === 0) continue;
      const trackers = this.#byPartition.get(partition) ?? [];
      const through = Math.min(...trackers.map((tracker) => tracker.foldedThrough()));
      const ready = pending.filter((change) => change.offset <= through);
      if (ready.length === 0) {
        waiting = true;
        continue;
      }
      const rest = pending.filter((change) => change.offset > through);
      this.#pending.set(partition, rest);
      if (rest.length > 0) waiting = true;
      ready.sort((a, b) => a.offset - b.offset);
      for (const change of ready) {
        this.#cursor.set(partition, Math.max(this.#cursor.get(partition) ?? -1, change.offset));
        const text = `event: ${change.event}\nid: ${this.#cursorText()}\ndata: ${change.data}\n\n`;
        if (change.event === 'patch') {
          this.#metrics.statePatchBytes.inc({ transport: 'sse' }, text.length);
        }
        parts.push(text);
      }
    }
    if (parts.length > 0) this.stream.send(parts.join(''));
    if (waiting && this.#retry === undefined && !this.closed) {
      this.#retry = setTimeout(() => {
        this.#retry = undefined;
        this.#flushGuarded();
      }, lagRetryMs);
      this.#retry.unref();
    }
  }

  position(): string | undefined {
    return this.#cursor.size === 0 ? undefined : this.#cursorText();
  }

  /** The stream closed: the reader leaves the trackers and the registry. */
  end(): void {
    clearTimeout(this.#retry);
    this.#retry = undefined;
    for (const [tracker, listener] of this.#listeners) tracker.leave(listener);
    this.#sessions.delete(this);
  }
}
