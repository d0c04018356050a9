/**
 * What the edge sends a state subscription, whatever the transport: the
 * snapshot of a document, one patch per change, and the changes the fold
 * refused. Read here from the forms of SSE event data and
 * `GET /v1/state/{channel}` answers, checked as hostile input: a malformed
 * message is FanoutError `frame_invalid` (or `position_invalid`), never a
 * half-read one. WebSocket frames (both subprotocols) are read by the codec
 * of the wire format, `@fanout/shared`'s, the edge's own, and turned into
 * these messages by `fromSnapshotFrame` and `fromPatchFrame`.
 */
import {
  FanoutError,
  formatPosition,
  isJsonObject,
  parsePosition,
  type JsonObject,
  type StatePatchFrame,
  type StateSnapshotFrame,
} from '@fanout/shared/portable-core';
import type { JsonValue, StateDeltaKind, StateDocument } from '@fanout/shared/portable-state';

/** The whole document at a position: the first answer, or a fresh start (`reset`). */
export interface StateSnapshotMessage {
  readonly channel: string;
  readonly position: string;
  /** The document; `undefined` when the channel has none (never set, or deleted). */
  readonly state: StateDocument;
  /** True when it replaces everything before: the position asked for could not be served. */
  readonly reset: boolean;
}

/** One change of the document. */
export interface StatePatchMessage {
  readonly channel: string;
  /** The position of the state after the patch. */
  readonly position: string;
  /** The position of the state the patch applies to, when the edge says. */
  readonly base?: string;
  readonly delta: StateDeltaKind;
  /** The RFC 6902 operations (unchecked), the merge patch, or the whole document. */
  readonly patch: JsonValue;
  /** Whether the document exists after the patch, when the edge says. */
  readonly exists?: boolean;
}

/** A change of the channel's log the edge's fold refused: the document stays as it was. */
export interface StateRefusedMessage {
  readonly channel: string;
  readonly position: string;
  /** `invalid-json`, `forbidden-key`, `too-deep`, `too-large` or `unknown-operation`. */
  readonly reason: string;
  readonly message: string;
}

function invalid(subject: string, key: string, what: string): FanoutError {
  return new FanoutError('frame_invalid', `${subject}.${key} must be ${what}`);
}

function stringField(body: JsonObject, subject: string, key: string, fallback?: string): string {
  const value = body[key] ?? fallback;
  if (typeof value !== 'string') throw invalid(subject, key, 'a string');
  return value;
}

function booleanField(body: JsonObject, subject: string, key: string): boolean | undefined {
  const value = body[key] ?? undefined;
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') throw invalid(subject, key, 'true or false');
  return value;
}

/** A position text, checked, in its canonical form. */
function positionField(body: JsonObject, subject: string, key: string): string {
  return formatPosition(parsePosition(stringField(body, subject, key)));
}

function optionalPosition(body: JsonObject, subject: string, key: string): string | undefined {
  const value = body[key] ?? undefined;
  if (value === undefined || value === '') return undefined;
  return positionField(body, subject, key);
}

function objectOf(value: unknown, subject: string): JsonObject {
  if (!isJsonObject(value)) throw new FanoutError('frame_invalid', `${subject} must be an object`);
  return value;
}

/**
 * A snapshot of SSE and GET: `{"channel","state","exists","position"[,"reset"]}`;
 * `channel` is the subscription's when the body has none.
 */
export function snapshotFromJson(
  value: unknown,
  channel: string,
  subject = 'snapshot',
): StateSnapshotMessage {
  const body = objectOf(value, subject);
  const exists = booleanField(body, subject, 'exists');
  if (exists === undefined) throw invalid(subject, 'exists', 'true or false');
  const state = body['state'];
  if (exists && state === undefined) throw invalid(subject, 'state', 'present when exists');
  return {
    channel: stringField(body, subject, 'channel', channel),
    position: positionField(body, subject, 'position'),
    state: exists ? (state as JsonValue) : undefined,
    reset: booleanField(body, subject, 'reset') ?? false,
  };
}

/**
 * A patch of SSE and GET, `{"position"[,"base"],"op":[...]}`: JSON Patch
 * operations (unchecked here), whose root `remove` makes the document absent.
 */
export function patchFromJson(
  value: unknown,
  channel: string,
  subject = 'patch',
): StatePatchMessage {
  const body = objectOf(value, subject);
  const base = optionalPosition(body, subject, 'base');
  const op = body['op'];
  if (!Array.isArray(op)) throw invalid(subject, 'op', 'an array');
  return {
    channel: stringField(body, subject, 'channel', channel),
    position: positionField(body, subject, 'position'),
    ...(base === undefined ? {} : { base }),
    delta: 'json-patch',
    patch: op as JsonValue,
  };
}

/** `{"position","reason","message"[,"channel","code"]}`: SSE `state_change_refused`, WebSocket `stateChangeRefused`. */
export function refusedFromJson(
  value: unknown,
  channel: string,
  subject = 'stateChangeRefused',
): StateRefusedMessage {
  const body = objectOf(value, subject);
  return {
    channel: stringField(body, subject, 'channel', channel),
    position: positionField(body, subject, 'position'),
    reason: stringField(body, subject, 'reason', ''),
    message: stringField(body, subject, 'message', ''),
  };
}

/** The `patches` of a `GET /v1/state/{channel}?since=` answer, and the position to ask after next. */
export function patchesFromJson(
  body: JsonObject,
  channel: string,
): { readonly patches: StatePatchMessage[]; readonly position: string } {
  const patches = body['patches'];
  if (!Array.isArray(patches)) throw invalid('answer', 'patches', 'an array');
  return {
    patches: patches.map((patch, index) => patchFromJson(patch, channel, `patches[${index}]`)),
    position: positionField(body, 'answer', 'position'),
  };
}

/** A WebSocket state snapshot (in `subscribed` or alone), named after `channel` when it has no name. */
export function fromSnapshotFrame(
  frame: StateSnapshotFrame<JsonValue>,
  channel = '',
): StateSnapshotMessage {
  return {
    channel: frame.channel === '' ? channel : frame.channel,
    position: frame.position,
    state: frame.exists ? frame.state : undefined,
    reset: frame.reset,
  };
}

/** A WebSocket state patch. */
export function fromPatchFrame(frame: StatePatchFrame<JsonValue>): StatePatchMessage {
  return {
    channel: frame.channel,
    position: frame.position,
    ...(frame.base === '' ? {} : { base: frame.base }),
    delta: frame.delta,
    // A full delta of an absent document carries none.
    patch: frame.patch ?? null,
    exists: frame.exists,
  };
}
