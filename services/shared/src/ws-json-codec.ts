/**
 * The codec of `fanout.json.v1`, both directions: JSON text frames, each an
 * object with exactly one key, the frame's name (`json-frame.ts`), whose
 * value is the protobuf JSON mapping of the `ClientFrame` / `ServerFrame`
 * field, positions in their text form and times as RFC 3339 text. The edge
 * decodes client frames and encodes server frames with it, the client the
 * other way round. One set of rules for every field: an absent (or null)
 * field takes its protobuf default, except the few a client request cannot do
 * without (a token, the subscriptions, a subscription's channel); a field of
 * the wrong type, out of bounds, or a malformed time is `frame_invalid`; a
 * malformed position is `position_invalid`. Browser-safe, without protobufjs.
 */
import type { CloseAction } from './close-codes.js';
import { eventFromJson } from './fanout-event.js';
import { FanoutError } from './fanout-error.js';
import { isJsonObject, readJsonFrame, writeJsonFrame, type JsonObject } from './json-frame.js';
import { isChannelPattern } from './channel.js';
import { formatPosition, parsePosition } from './position.js';
import type { JsonValue } from './state/json-value.js';
import type { StateDeltaKind } from './state/state-delta.js';
import { formatStreamCursor, parseStreamCursor } from './stream-cursor.js';
import type {
  ClientMessage,
  ControlMessage,
  ReceivedClientMessage,
  ReceivedSubscriptionRequest,
  RewindResult,
  ServerMessage,
  StateSnapshotFrame,
  SubscriptionState,
  WsFrameCodec,
} from './ws-messages.js';

const clientFrameNames = [
  'connect',
  'subscribe',
  'unsubscribe',
  'ping',
  'refreshToken',
] as const satisfies readonly ClientMessage['kind'][];

const serverFrameNames = [
  'event',
  'batch',
  'connected',
  'subscribed',
  'unsubscribed',
  'error',
  'reset',
  'pong',
  'tokenRefreshed',
  'disconnect',
  'snapshot',
  'patch',
  'stateChangeRefused',
] as const satisfies readonly ServerMessage['kind'][];

/** How a state subscription receives changes, by its JSON name. */
export const stateDeltaKinds: readonly StateDeltaKind[] = ['json-patch', 'merge-patch', 'full'];

const closeActions: readonly CloseAction[] = ['resume', 'resume_elsewhere', 'stop'];

/** The largest distance from the epoch a Date holds, in milliseconds. */
const maxDateMillis = 8.64e15;

/**
 * Reads the fields of one frame body; `prefix` says whose frame it is in
 * error messages, `path` names the body (`subscribe.subscriptions[0]`).
 */
class Fields {
  constructor(
    readonly body: JsonObject,
    readonly path: string,
    readonly prefix: string,
  ) {}

  invalid(key: string, what: string): FanoutError {
    return new FanoutError('frame_invalid', `${this.prefix}${this.path}.${key} must be ${what}`);
  }

  #value(key: string): unknown {
    return this.body[key] ?? undefined;
  }

  uint32(key: string): number {
    const value = this.#value(key) ?? 0;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xffffffff) {
      throw this.invalid(key, 'an integer from 0 to 4294967295');
    }
    return value;
  }

  string(key: string, required = false): string {
    const value = this.#value(key);
    if (value === undefined && !required) return '';
    if (typeof value !== 'string') throw this.invalid(key, 'a string');
    return value;
  }

  boolean(key: string): boolean {
    const value = this.#value(key) ?? false;
    if (typeof value !== 'boolean') throw this.invalid(key, 'true or false');
    return value;
  }

  /** A state delta name; undefined when absent. */
  delta(key: string): StateDeltaKind | undefined {
    const value = this.#value(key);
    if (value === undefined) return undefined;
    const known = stateDeltaKinds.find((kind) => kind === value);
    if (known === undefined) throw this.invalid(key, `one of ${stateDeltaKinds.join(', ')}`);
    return known;
  }

  /** A JSON value as it is (null included); undefined when the key is absent. */
  json(key: string): JsonValue | undefined {
    return Object.hasOwn(this.body, key) ? (this.body[key] as JsonValue) : undefined;
  }

  /** A state snapshot: its document present when it exists. */
  snapshot(): StateSnapshotFrame<JsonValue> {
    const exists = this.boolean('exists');
    const state = this.json('state');
    if (exists && state === undefined) throw this.invalid('state', 'the document');
    return {
      requestId: this.uint32('requestId'),
      channel: this.string('channel'),
      position: this.position('position') ?? '',
      exists,
      ...(exists ? { state: state ?? null } : {}),
      reset: this.boolean('reset'),
    };
  }

  strings(key: string): string[] {
    const value = this.#value(key);
    if (value === undefined) return [];
    if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) {
      throw this.invalid(key, 'an array of strings');
    }
    return value;
  }

  /** A position text, checked and in its canonical form; undefined when absent or empty. */
  position(key: string): string | undefined {
    const value = this.#value(key);
    if (value === undefined || value === '') return undefined;
    if (typeof value !== 'string') throw this.invalid(key, 'a position string');
    return formatPosition(parsePosition(value));
  }

  /** A stream cursor text, checked and in its canonical form; undefined when absent or empty. */
  cursor(key: string): string | undefined {
    const value = this.#value(key);
    if (value === undefined || value === '') return undefined;
    if (typeof value !== 'string') throw this.invalid(key, 'a stream cursor string');
    return formatStreamCursor(parseStreamCursor(value));
  }

  /** Epoch milliseconds of an RFC 3339 time; undefined when absent. */
  time(key: string): number | undefined {
    const value = this.#value(key);
    if (value === undefined) return undefined;
    const millis = typeof value === 'string' ? Date.parse(value) : Number.NaN;
    if (Number.isNaN(millis)) throw this.invalid(key, 'an RFC 3339 time');
    return millis;
  }

  objects(key: string, required = false): Fields[] {
    const value = this.#value(key);
    if (value === undefined && !required) return [];
    if (!Array.isArray(value)) throw this.invalid(key, 'an array');
    return value.map((item: unknown, index) => {
      const path = `${this.path}.${key}[${index}]`;
      if (!isJsonObject(item)) {
        throw new FanoutError('frame_invalid', `${this.prefix}${path} must be an object`);
      }
      return new Fields(item, path, this.prefix);
    });
  }

  /** What a rewind's scan found. */
  rewindResult(): RewindResult {
    return {
      requested: this.uint32('requested'),
      found: this.uint32('found'),
      truncated: this.boolean('truncated'),
    };
  }

  states(key: string): SubscriptionState<JsonValue>[] {
    return this.objects(key).map((state) => {
      const position = state.position('position');
      const cursor = state.cursor('cursor');
      const hint = state.string('hint');
      const snapshot = state.body['snapshot'] ?? undefined;
      if (snapshot !== undefined && !isJsonObject(snapshot)) {
        throw state.invalid('snapshot', 'an object');
      }
      const rewind = state.body['rewind'] ?? undefined;
      if (rewind !== undefined && !isJsonObject(rewind)) {
        throw state.invalid('rewind', 'an object');
      }
      const resource = state.string('resource');
      const statusChannel = state.string('statusChannel');
      return {
        channel: state.string('channel'),
        ...(resource === '' ? {} : { resource }),
        ...(statusChannel === '' ? {} : { statusChannel }),
        ...(position === undefined ? {} : { position }),
        ...(cursor === undefined ? {} : { cursor }),
        ...(hint === '' ? {} : { hint }),
        ...(snapshot === undefined
          ? {}
          : {
              snapshot: new Fields(snapshot, `${state.path}.snapshot`, state.prefix).snapshot(),
            }),
        ...(rewind === undefined
          ? {}
          : { rewind: new Fields(rewind, `${state.path}.rewind`, state.prefix).rewindResult() }),
      };
    });
  }

  action(key: string): CloseAction {
    const value = this.#value(key);
    if (value === undefined) return 'resume';
    if (typeof value !== 'string') throw this.invalid(key, 'a string');
    // As DISCONNECT_ACTION_UNSPECIFIED: an action this client does not know resumes.
    return closeActions.find((known) => known === value) ?? 'resume';
  }
}

export function encodeClientFrame(message: ClientMessage): string {
  const { kind, ...body } = message;
  return writeJsonFrame(kind, body);
}

export function decodeClientFrame(text: string): ReceivedClientMessage {
  const { name, body } = readJsonFrame(text, clientFrameNames);
  const fields = new Fields(body, name, '');
  const requestId = fields.uint32('requestId');
  switch (name) {
    case 'connect':
    case 'refreshToken':
      return { kind: name, requestId, token: fields.string('token', true) };
    case 'ping':
      return { kind: 'ping', requestId };
    case 'unsubscribe':
      return { kind: 'unsubscribe', requestId, channels: fields.strings('channels') };
    case 'subscribe': {
      const subscriptions = fields
        .objects('subscriptions', true)
        .map((item): ReceivedSubscriptionRequest => {
          const resource = item.string('resource');
          // A resource names no channel; anything else must.
          const channel = item.string('channel', resource === '');
          // A pattern resumes from a stream cursor, a channel from a position.
          const since = isChannelPattern(channel) ? item.cursor('since') : item.position('since');
          const types = item.strings('types');
          const snapshot = item.boolean('snapshot');
          const delta = item.delta('delta');
          const rewind = item.uint32('rewind');
          return {
            channel,
            ...(resource === '' ? {} : { resource }),
            ...(since === undefined ? {} : { since }),
            types,
            ...(snapshot ? { snapshot } : {}),
            ...(delta === undefined ? {} : { delta }),
            ...(rewind === 0 ? {} : { rewind }),
          };
        });
      return { kind: 'subscribe', requestId, subscriptions };
    }
  }
}

/** RFC 3339 text of epoch milliseconds; undefined when absent or beyond what a Date holds. */
function timeText(millis: number | undefined): string | undefined {
  return millis === undefined || !(Math.abs(millis) <= maxDateMillis)
    ? undefined
    : new Date(millis).toISOString();
}

/** The body of a snapshot, its document (JSON text) written as is. */
function snapshotBody(snapshot: StateSnapshotFrame): string {
  return `{"requestId":${snapshot.requestId},"channel":${JSON.stringify(snapshot.channel)},"position":${JSON.stringify(snapshot.position)},"exists":${String(snapshot.exists)},"state":${snapshot.exists ? (snapshot.state ?? 'null') : 'null'},"reset":${String(snapshot.reset)}}`;
}

/** A subscription state; a state subscription's snapshot written as is. */
function stateBody(state: SubscriptionState): string {
  const { snapshot, ...rest } = state;
  const text = JSON.stringify(rest);
  return snapshot === undefined
    ? text
    : `${text.slice(0, -1)},"snapshot":${snapshotBody(snapshot)}}`;
}

/** The state frames, their documents and patches (JSON text) written as they are. */
function encodeStateFrame(
  message: Extract<ControlMessage, { kind: 'snapshot' | 'patch' | 'subscribed' }>,
): string {
  switch (message.kind) {
    case 'snapshot':
      return `{"snapshot":${snapshotBody(message)}}`;
    case 'patch':
      return `{"patch":{"channel":${JSON.stringify(message.channel)},"position":${JSON.stringify(message.position)},"base":${JSON.stringify(message.base)},"delta":${JSON.stringify(message.delta)},"patch":${message.patch ?? 'null'},"exists":${String(message.exists)}}}`;
    case 'subscribed':
      return `{"subscribed":{"requestId":${message.requestId},"subscriptions":[${message.subscriptions.map(stateBody).join(',')}]}}`;
  }
}

export function encodeServerFrame(message: ControlMessage): string {
  if (message.kind === 'snapshot' || message.kind === 'patch') return encodeStateFrame(message);
  if (message.kind === 'subscribed' && message.subscriptions.some((state) => state.snapshot)) {
    return encodeStateFrame(message);
  }
  const { kind, ...body } = message;
  const out: Record<string, unknown> = { ...body };
  if (message.kind === 'connected' && message.tokenExpiresAt !== undefined) {
    out['tokenExpiresAt'] = timeText(message.tokenExpiresAt);
  }
  if (message.kind === 'tokenRefreshed' && message.expiresAt !== undefined) {
    out['expiresAt'] = timeText(message.expiresAt);
  }
  return writeJsonFrame(kind, out);
}

const fromEdge = 'frame from the edge: ';

export function decodeServerFrame(text: string): ServerMessage {
  const { name, body } = readJsonFrame(text, serverFrameNames, 'the frame from the edge');
  if (name === 'event') return { kind: 'event', event: eventFromJson(body) };
  const fields = new Fields(body, name, fromEdge);
  if (name === 'batch') {
    return {
      kind: 'batch',
      events: fields.objects('events').map((item) => eventFromJson(item.body)),
    };
  }
  switch (name) {
    case 'connected': {
      const expires = fields.time('tokenExpiresAt');
      return {
        kind: 'connected',
        requestId: fields.uint32('requestId'),
        edgeId: fields.string('edgeId'),
        pingIntervalSeconds: fields.uint32('pingIntervalSeconds'),
        ...(expires === undefined ? {} : { tokenExpiresAt: expires }),
      };
    }
    case 'subscribed':
      return {
        kind: 'subscribed',
        requestId: fields.uint32('requestId'),
        subscriptions: fields.states('subscriptions'),
      };
    case 'unsubscribed':
      return {
        kind: 'unsubscribed',
        requestId: fields.uint32('requestId'),
        channels: fields.strings('channels'),
      };
    case 'error': {
      const channel = fields.string('channel');
      return {
        kind: 'error',
        requestId: fields.uint32('requestId'),
        code: fields.string('code'),
        message: fields.string('message'),
        ...(channel === '' ? {} : { channel }),
      };
    }
    case 'reset':
      return {
        kind: 'reset',
        requestId: fields.uint32('requestId'),
        channel: fields.string('channel'),
        requested: fields.position('requested') ?? '',
        earliest: fields.position('earliest') ?? '',
        code: fields.string('code'),
      };
    case 'pong':
      return { kind: 'pong', requestId: fields.uint32('requestId') };
    case 'snapshot':
      return { kind: 'snapshot', ...fields.snapshot() };
    case 'patch': {
      const exists = fields.boolean('exists');
      const delta = fields.delta('delta') ?? 'json-patch';
      const patch = fields.json('patch');
      // Only a full document may be left out: when there is none after the patch.
      const absent = delta === 'full' && !exists;
      if (patch === undefined && !absent) throw fields.invalid('patch', 'a JSON value');
      return {
        kind: 'patch',
        channel: fields.string('channel'),
        position: fields.position('position') ?? '',
        base: fields.position('base') ?? '',
        delta,
        ...(absent ? {} : { patch: patch ?? null }),
        exists,
      };
    }
    case 'stateChangeRefused':
      return {
        kind: 'stateChangeRefused',
        channel: fields.string('channel'),
        position: fields.position('position') ?? '',
        reason: fields.string('reason'),
        message: fields.string('message'),
      };
    case 'tokenRefreshed': {
      const expires = fields.time('expiresAt');
      return {
        kind: 'tokenRefreshed',
        requestId: fields.uint32('requestId'),
        ...(expires === undefined ? {} : { expiresAt: expires }),
      };
    }
    case 'disconnect': {
      const hint = fields.string('hint');
      return {
        kind: 'disconnect',
        closeCode: fields.uint32('closeCode'),
        code: fields.string('code'),
        message: fields.string('message'),
        action: fields.action('action'),
        ...(hint === '' ? {} : { hint }),
        positions: fields.states('positions'),
      };
    }
  }
}

/**
 * Bytes a batch frame adds to the event frames of its events, at most: in
 * JSON `{"batch":{"events":[`, the commas and `]}}`, less the events' own
 * `{"event":` and `}` (22 bytes for two events, fewer for more); in protobuf
 * the `batch` field's key and length (at most 6).
 */
export const batchFrameOverhead = 22;

/**
 * The text of a `batch` frame of events given as their JSON object texts
 * (the text of each `event` frame's body), in order: built by concatenation,
 * without parsing or encoding an event again.
 */
export function encodeJsonBatchFrame(eventTexts: readonly string[]): string {
  return `{"batch":{"events":[${eventTexts.join(',')}]}}`;
}

/** `fanout.json.v1` (and with batch frames `fanout.json.v2`), both directions. */
export const wsJsonCodec: WsFrameCodec<string> = Object.freeze({
  subprotocol: 'fanout.json.v1',
  batchSubprotocol: 'fanout.json.v2',
  encodeClientFrame,
  decodeClientFrame,
  encodeServerFrame,
  decodeServerFrame,
});
