/**
 * A channel's state without a stream (`GET /v1/state/{channel}`): after the
 * tracker folded up to the partition's high watermark as it was when the
 * request arrived (read-your-writes), the snapshot; with a position the
 * reader holds (`since`, or `If-None-Match` when waiting), the patches
 * after it — waiting up to `wait` seconds for one — or a snapshot marked
 * `reset` when the tracker no longer holds every change after it.
 *
 * Many channels at once (`readStates`): their snapshots read in one
 * synchronous step once every tracker folded up to the high watermark, with
 * one stream cursor that continues them all (`settledOffsets`).
 */
import { FanoutError, formatStreamCursor, parsePosition, type PositionValue } from '@fanout/shared';
import { kafkaUnavailable } from '../../log/kafka-wait.js';
import { StateTracker, type StateSnapshot } from './state-tracker.js';
import type { StateStep } from './state-step.js';
import type { StateTrackers } from './state-trackers.js';

export interface StateReadRequest {
  readonly channel: string;
  /** `since`: answer the patches after this position. */
  readonly since?: string;
  /** The position of `If-None-Match` (quotes removed). */
  readonly ifNoneMatch?: string;
  /** Seconds to wait for a change after `since` / `If-None-Match`. */
  readonly wait: number;
  readonly kafkaWaitMs: number;
}

export type StateReadResult =
  | { readonly kind: 'snapshot'; readonly snapshot: StateSnapshot; readonly reset: boolean }
  | { readonly kind: 'patches'; readonly steps: readonly StateStep[]; readonly position: string }
  | { readonly kind: 'not_modified'; readonly position: string };

/** The ETag of a position: `"<position>"`. */
export function positionTag(position: string): string {
  return `"${position}"`;
}

/** The position named by an `If-None-Match` header (its first tag), if any. */
export function taggedPosition(header: string): string | undefined {
  const first = header.split(',')[0]?.trim() ?? '';
  const tag = first.startsWith('W/') ? first.slice(2) : first;
  if (tag.length < 2 || !tag.startsWith('"') || !tag.endsWith('"')) return undefined;
  return tag.slice(1, -1);
}

/** Reads the state; `undefined` when the client went away while it waited. */
export async function readState(
  trackers: StateTrackers,
  request: StateReadRequest,
  aborted: () => boolean,
  signal: AbortSignal,
): Promise<StateReadResult | undefined> {
  const deadline = Date.now() + request.kafkaWaitMs;
  const sinceValue = request.since === undefined ? undefined : parsePosition(request.since);
  const tracker = trackers.acquire(request.channel);
  try {
    await tracker.caughtUp(deadline);
    tracker.assertServable();
    const heldText = request.since ?? request.ifNoneMatch;
    let held: PositionValue | undefined = sinceValue;
    if (held === undefined && request.ifNoneMatch !== undefined) {
      try {
        held = parsePosition(request.ifNoneMatch);
      } catch {
        held = undefined;
      }
    }
    if (held === undefined || heldText === undefined) {
      return { kind: 'snapshot', snapshot: tracker.snapshot(), reset: false };
    }
    if (request.since === undefined && request.wait === 0) {
      // A conditional GET: the document unchanged since the tag, or a snapshot.
      const current = tracker.snapshot();
      return current.position === heldText
        ? { kind: 'not_modified', position: current.position }
        : { kind: 'snapshot', snapshot: current, reset: false };
    }
    let steps = stepsOrAhead(tracker, held, heldText, request.since !== undefined);
    if (steps?.length === 0 && request.wait > 0) {
      await tracker.changedAfter(
        Math.max(held.offset, tracker.offset),
        request.wait * 1000,
        signal,
      );
      if (aborted()) return undefined;
      tracker.assertServable();
      steps = tracker.stepsAfter(held, heldText);
    }
    if (steps === undefined) {
      return { kind: 'snapshot', snapshot: tracker.snapshot(), reset: true };
    }
    const last = steps[steps.length - 1];
    if (last === undefined && request.since === undefined) {
      return { kind: 'not_modified', position: heldText };
    }
    return { kind: 'patches', steps, position: last?.position ?? heldText };
  } finally {
    tracker.pins--;
  }
}

/**
 * The steps after the held position; a position ahead of the log is an
 * error for `since` and, for a tag this edge does not know, a snapshot.
 */
function stepsOrAhead(
  tracker: ReturnType<StateTrackers['acquire']>,
  held: PositionValue,
  heldText: string,
  since: boolean,
): StateStep[] | undefined {
  try {
    return tracker.stepsAfter(held, heldText);
  } catch (error) {
    if (!since && error instanceof FanoutError && error.code === 'position_ahead') {
      return undefined;
    }
    throw error;
  }
}

// ---- many channels in one request --------------------------------------------

/** Per-channel failures of a many-channel read that the answer carries instead of failing. */
const perChannelCodes: ReadonlySet<string> = new Set(['state_unavailable', 'permission_denied']);

/** One channel of a many-channel read: its snapshot, or why it has none. */
export type StatesEntry =
  | { readonly kind: 'snapshot'; readonly snapshot: StateSnapshot }
  | { readonly kind: 'error'; readonly channel: string; readonly error: FanoutError };

export interface StatesReadResult {
  readonly entries: readonly StatesEntry[];
  /**
   * The stream cursor of the channels answered with a snapshot (per
   * partition, a position every snapshot of it includes and none goes past);
   * undefined when none was.
   */
  readonly cursor: string | undefined;
}

/**
 * Per partition of `trackers`, the offset a stream cursor may carry for
 * their documents as they are now: the lowest offset they all folded
 * through, when no tracker's last change is past it (every change up to it
 * is in the documents, none after it); `undefined` while a tracker of a
 * shared partition is ahead of another by a change.
 */
export function settledOffsets(trackers: readonly StateTracker[]): Map<number, number> | undefined {
  const lowest = new Map<number, number>();
  const newest = new Map<number, number>();
  for (const tracker of trackers) {
    const folded = tracker.foldedThrough();
    lowest.set(tracker.partition, Math.min(lowest.get(tracker.partition) ?? folded, folded));
    newest.set(
      tracker.partition,
      Math.max(newest.get(tracker.partition) ?? tracker.offset, tracker.offset),
    );
  }
  for (const [partition, offset] of newest) {
    if (offset > (lowest.get(partition) ?? -2)) return undefined;
  }
  return lowest;
}

/**
 * Runs `read` in one synchronous step as soon as `settledOffsets` holds for
 * `trackers` (at once, normally: caught-up trackers of one partition fold
 * the same records), until `deadline`: then `kafka_unavailable`.
 */
export async function whenSettled<T>(
  trackers: readonly StateTracker[],
  deadline: number,
  kafkaWaitMs: number,
  read: (offsets: Map<number, number>) => T,
): Promise<T> {
  for (;;) {
    for (const tracker of trackers) {
      if (tracker.failure) throw tracker.failure;
      if (tracker.closed) throw new FanoutError('state_unavailable', 'the state tracker stopped');
    }
    const offsets = settledOffsets(trackers);
    if (offsets !== undefined) return read(offsets);
    if (Date.now() > deadline) {
      throw kafkaUnavailable(
        'the state trackers of the channels did not reach the same offset',
        kafkaWaitMs,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * The snapshots of many channels (`GET /v1/state?channels=`), each read
 * after its tracker folded up to the high watermark its partition had when
 * the request arrived (all trackers at once), and one stream cursor from
 * which an SSE stream of the same channels continues all of them. A channel
 * the identity may not read, or whose state is unavailable, is an `error`
 * entry; other failures (Kafka) fail the request.
 */
export async function readStates(
  trackers: StateTrackers,
  channels: readonly string[],
  authorize: (channel: string) => void,
  kafkaWaitMs: number,
): Promise<StatesReadResult> {
  const deadline = Date.now() + kafkaWaitMs;
  const slots: (StateTracker | FanoutError)[] = [];
  try {
    for (const channel of channels) {
      try {
        authorize(channel);
        slots.push(trackers.acquire(channel));
      } catch (error) {
        slots.push(perChannel(error));
      }
    }
    const caughtUp = await Promise.all(
      slots.map(async (slot) => {
        if (!(slot instanceof StateTracker)) return slot;
        try {
          await slot.caughtUp(deadline);
          slot.assertServable();
          return slot;
        } catch (error) {
          return perChannel(error);
        }
      }),
    );
    const served = caughtUp.filter((slot): slot is StateTracker => slot instanceof StateTracker);
    return await whenSettled(served, deadline, kafkaWaitMs, (offsets) => ({
      entries: caughtUp.map((slot, index): StatesEntry => {
        if (slot instanceof StateTracker) return { kind: 'snapshot', snapshot: slot.snapshot() };
        return { kind: 'error', channel: channels[index] ?? '', error: slot };
      }),
      cursor:
        served.length === 0
          ? undefined
          : formatStreamCursor({ epoch: served[0]?.epoch ?? '', offsets }),
    }));
  } finally {
    for (const slot of slots) if (slot instanceof StateTracker) slot.pins--;
  }
}

/** A per-channel failure as an entry; any other failure fails the request. */
function perChannel(error: unknown): FanoutError {
  if (error instanceof FanoutError && perChannelCodes.has(error.code)) return error;
  throw error;
}
