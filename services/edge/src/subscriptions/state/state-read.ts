/**
 * A channel's state without a stream (`GET /v1/state/{channel}`): after the
 * tracker folded up to the partition's high watermark as it was when the
 * request arrived (read-your-writes), the snapshot; with a position the
 * reader holds (`since`, or `If-None-Match` when waiting), the patches
 * after it — waiting up to `wait` seconds for one — or a snapshot marked
 * `reset` when the tracker no longer holds every change after it.
 */
import { FanoutError, parsePosition, type PositionValue } from '@fanout/shared';
import type { StateSnapshot } from './state-tracker.js';
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
