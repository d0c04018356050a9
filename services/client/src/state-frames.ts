/**
 * What the edge sends a state subscription, whatever the transport: the
 * snapshot of a document, one patch per change, and the changes the fold
 * refused — read here from their JSON forms (WebSocket `fanout.json.v1`
 * frames, SSE event data, `GET /v1/state/{channel}` answers), checked as
 * hostile input: a malformed message is FanoutError `frame_invalid` (or
 * `position_invalid`), never a half-read one. The protobuf forms are read in
 * `proto-wire-format.ts`, so protobufjs stays out of the JSON bundle.
 */
import {
  FanoutError,
  formatPosition,
  isJsonObject,
  parsePosition,
  writeJsonFrame,
  type JsonObject,
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

/** A WebSocket state frame: a snapshot or patch outside `subscribed`, or a refusal. */
export type StateFrame =
  | { readonly kind: 'snapshot'; readonly snapshot: StateSnapshotMessage }
  | { readonly kind: 'patch'; readonly patch: StatePatchMessage }
  | { readonly kind: 'refused'; readonly refused: StateRefusedMessage };

/** A state subscription of a WebSocket `subscribe` frame. */
export interface StateSubscriptionRequest {
  readonly channel: string;
  readonly since?: string;
  readonly delta: StateDeltaKind;
}

export const stateDeltaKinds: readonly StateDeltaKind[] = ['json-patch', 'merge-patch', 'full'];

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

/** A `delta` name; absent is `json-patch`. */
export function deltaField(value: unknown, subject: string): StateDeltaKind {
  if (value === undefined || value === null) return 'json-patch';
  const kind = stateDeltaKinds.find((known) => known === value);
  if (kind === undefined) throw invalid(subject, 'delta', stateDeltaKinds.join(', '));
  return kind;
}

/**
 * A snapshot: `{"channel","state","exists","position"[,"reset"]}` (SSE,
 * GET, and WebSocket JSON where `requestId` rides along); `channel` is the
 * subscription's when the body has none.
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
 * A patch: the WebSocket JSON form `{"channel","position","base","delta",
 * "patch","exists"}`, or the SSE / GET form `{"position"[,"base"],"op":[...]}`
 * (JSON Patch operations, whose root `remove` makes the document absent).
 */
export function patchFromJson(
  value: unknown,
  channel: string,
  subject = 'patch',
): StatePatchMessage {
  const body = objectOf(value, subject);
  const base = optionalPosition(body, subject, 'base');
  const position = positionField(body, subject, 'position');
  const named = stringField(body, subject, 'channel', channel);
  if ('op' in body) {
    return {
      channel: named,
      position,
      ...(base === undefined ? {} : { base }),
      delta: 'json-patch',
      patch: body['op'] as JsonValue,
    };
  }
  const exists = booleanField(body, subject, 'exists');
  const patch = body['patch'];
  if (patch === undefined) throw invalid(subject, 'patch', 'present');
  return {
    channel: named,
    position,
    ...(base === undefined ? {} : { base }),
    delta: deltaField(body['delta'], subject),
    patch: patch as JsonValue,
    ...(exists === undefined ? {} : { exists }),
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

/** The `subscribe` frame of state subscriptions in `fanout.json.v1`. */
export function encodeJsonStateSubscribe(
  requestId: number,
  subscriptions: readonly StateSubscriptionRequest[],
): string {
  return writeJsonFrame('subscribe', {
    requestId,
    subscriptions: subscriptions.map((subscription) => ({
      channel: subscription.channel,
      snapshot: true,
      delta: subscription.delta,
      ...(subscription.since === undefined ? {} : { since: subscription.since }),
    })),
  });
}

const jsonStateFrame = /^\s*\{\s*"(snapshot|patch|stateChangeRefused|subscribed)"\s*:/;

/**
 * The state part of a `fanout.json.v1` frame: a state frame, or the
 * snapshots a `subscribed` frame carries (then the frame is also read as a
 * control frame); `undefined` for any other frame, recognised by its first
 * key without parsing it.
 */
export function decodeJsonStateFrame(
  text: string,
):
  | StateFrame
  | { readonly kind: 'snapshots'; readonly snapshots: StateSnapshotMessage[] }
  | undefined {
  const name = jsonStateFrame.exec(text)?.[1];
  if (name === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new FanoutError('frame_invalid', 'the frame from the edge is not JSON');
  }
  const body = objectOf(objectOf(parsed, 'the frame from the edge')[name], name);
  switch (name) {
    case 'snapshot':
      return { kind: 'snapshot', snapshot: snapshotFromJson(body, '') };
    case 'patch':
      return { kind: 'patch', patch: patchFromJson(body, '') };
    case 'stateChangeRefused':
      return { kind: 'refused', refused: refusedFromJson(body, '') };
    default: {
      const states = body['subscriptions'] ?? [];
      if (!Array.isArray(states)) throw invalid('subscribed', 'subscriptions', 'an array');
      const snapshots: StateSnapshotMessage[] = [];
      states.forEach((state: unknown, index) => {
        const subject = `subscribed.subscriptions[${index}]`;
        const snapshot = objectOf(state, subject)['snapshot'] ?? undefined;
        if (snapshot !== undefined) {
          const channel = stringField(objectOf(state, subject), subject, 'channel', '');
          snapshots.push(snapshotFromJson(snapshot, channel, `${subject}.snapshot`));
        }
      });
      return { kind: 'snapshots', snapshots };
    }
  }
}
