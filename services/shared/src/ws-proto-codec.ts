/**
 * The codec of `fanout.proto.v1`, both directions: one binary frame holding a
 * `ClientFrame` or a `ServerFrame` of proto/fanout/v1/websocket.proto. The
 * edge decodes client frames and encodes server frames with it, the client
 * the other way round. Bytes that are not a frame (truncated, wrong wire
 * types, lengths past the end) and an empty frame are `frame_invalid`; a
 * position is checked as strictly as its text form (`position_invalid`);
 * absent fields take their protobuf defaults, unknown fields are skipped. An
 * event frame is built from the Kafka record by `encodeEventFrame`, once per
 * event, not here, and a batch of events from those frames by
 * `encodeEventBatchFrame`. Browser-safe: only `protobufjs/minimal` underneath.
 */
import { fanout } from '../generated/fanout.js';
import type { CloseAction } from './close-codes.js';
import { isJsonContentType, type FanoutEvent } from './fanout-event.js';
import { FanoutError } from './fanout-error.js';
import { isChannelPattern } from './channel.js';
import { formatPosition, parsePosition, type PositionValue } from './position.js';
import { positionFromProto } from './proto-position.js';
import { stateOperationOf } from './state-operation.js';
import type { JsonValue } from './state/json-value.js';
import type { StateDeltaKind } from './state/state-delta.js';
import { formatStreamCursor, parseStreamCursor } from './stream-cursor.js';
import type {
  ClientMessage,
  ControlMessage,
  ReceivedClientMessage,
  ReceivedSubscriptionRequest,
  ServerMessage,
  StateSnapshotFrame,
  SubscriptionState,
  WsFrameCodec,
} from './ws-messages.js';

const { ClientFrame, DisconnectAction, ServerFrame, StateDelta } = fanout.v1;

const protoDeltas: Readonly<Record<StateDeltaKind, fanout.v1.StateDelta>> = {
  'json-patch': StateDelta.STATE_DELTA_JSON_PATCH,
  'merge-patch': StateDelta.STATE_DELTA_MERGE_PATCH,
  full: StateDelta.STATE_DELTA_FULL,
};

const deltasByValue = new Map<number, StateDeltaKind>([
  // UNSPECIFIED is JSON_PATCH.
  [StateDelta.STATE_DELTA_UNSPECIFIED, 'json-patch'],
  [StateDelta.STATE_DELTA_JSON_PATCH, 'json-patch'],
  [StateDelta.STATE_DELTA_MERGE_PATCH, 'merge-patch'],
  [StateDelta.STATE_DELTA_FULL, 'full'],
]);

/** The delta of its enum value; an unknown value `undefined`. */
function deltaOf(value: number | null | undefined): StateDeltaKind | undefined {
  return deltasByValue.get(value ?? 0);
}

const utf8Encoder = new TextEncoder();

type Timestamp = fanout.v1.Connected['tokenExpiresAt'];

/** The largest distance from the epoch a Date holds, in milliseconds. */
const maxDateMillis = 8.64e15;

function undecodable(subject: string, error: unknown): FanoutError {
  return new FanoutError(
    'frame_invalid',
    `${subject}: ${error instanceof Error ? error.message : String(error)}`,
  );
}

/** Epoch milliseconds of a Timestamp; undefined when absent or beyond what a Date holds. */
function millisOf(timestamp: Timestamp | undefined): number | undefined {
  if (!timestamp) return undefined;
  const value = (timestamp.seconds ?? 0) * 1000 + Math.floor((timestamp.nanos ?? 0) / 1e6);
  return Number.isFinite(value) && Math.abs(value) <= maxDateMillis ? value : undefined;
}

/** The Timestamp of epoch milliseconds; null when absent or beyond what a Date holds. */
function timestampOf(millis: number | undefined): { seconds: number; nanos: number } | null {
  if (millis === undefined || !(Math.abs(millis) <= maxDateMillis)) return null;
  const seconds = Math.floor(millis / 1000);
  // Nanos count forward from the second, also before 1970.
  return { seconds, nanos: (millis - seconds * 1000) * 1e6 };
}

function positionText(
  position: fanout.v1.Position.$Properties | null | undefined,
): string | undefined {
  return position ? formatPosition(positionFromProto(position)) : undefined;
}

function positionValue(text: string | undefined): PositionValue | null {
  return text === undefined ? null : parsePosition(text);
}

export function encodeClientFrame(message: ClientMessage): Uint8Array {
  switch (message.kind) {
    case 'connect':
      return ClientFrame.encode({
        connect: { requestId: message.requestId, token: message.token },
      }).finish();
    case 'refreshToken':
      return ClientFrame.encode({
        refreshToken: { requestId: message.requestId, token: message.token },
      }).finish();
    case 'ping':
      return ClientFrame.encode({ ping: { requestId: message.requestId } }).finish();
    case 'unsubscribe':
      return ClientFrame.encode({
        unsubscribe: { requestId: message.requestId, channels: [...message.channels] },
      }).finish();
    case 'subscribe':
      return ClientFrame.encode({
        subscribe: {
          requestId: message.requestId,
          subscriptions: message.subscriptions.map((request) => ({
            channel: request.channel,
            // A pattern resumes from a stream cursor, which one Position cannot hold.
            ...(request.since !== undefined && isChannelPattern(request.channel)
              ? { sinceCursor: request.since }
              : { since: positionValue(request.since) }),
            types: [...(request.types ?? [])],
            snapshot: request.snapshot ?? false,
            delta:
              request.delta === undefined
                ? StateDelta.STATE_DELTA_UNSPECIFIED
                : protoDeltas[request.delta],
            rewind: request.rewind ?? 0,
            resource: request.resource ?? '',
          })),
        },
      }).finish();
  }
}

export function decodeClientFrame(bytes: Uint8Array): ReceivedClientMessage {
  let frame: fanout.v1.ClientFrame;
  try {
    frame = ClientFrame.decode(bytes);
  } catch (error) {
    throw undecodable('the frame is not a ClientFrame', error);
  }
  if (frame.connect) {
    const { requestId, token } = frame.connect;
    return { kind: 'connect', requestId: requestId ?? 0, token: token ?? '' };
  }
  if (frame.refreshToken) {
    const { requestId, token } = frame.refreshToken;
    return { kind: 'refreshToken', requestId: requestId ?? 0, token: token ?? '' };
  }
  if (frame.ping) return { kind: 'ping', requestId: frame.ping.requestId ?? 0 };
  if (frame.unsubscribe) {
    return {
      kind: 'unsubscribe',
      requestId: frame.unsubscribe.requestId ?? 0,
      channels: frame.unsubscribe.channels ?? [],
    };
  }
  if (frame.subscribe) {
    return {
      kind: 'subscribe',
      requestId: frame.subscribe.requestId ?? 0,
      subscriptions: (frame.subscribe.subscriptions ?? []).map(
        (item): ReceivedSubscriptionRequest => {
          const channel = item.channel ?? '';
          const types = item.types ?? [];
          const since =
            item.sinceCursor !== undefined && item.sinceCursor !== null && item.sinceCursor !== ''
              ? formatStreamCursor(parseStreamCursor(item.sinceCursor))
              : positionText(item.since);
          const snapshot = item.snapshot === true;
          const deltaValue = item.delta ?? 0;
          const delta = deltaOf(deltaValue);
          if (delta === undefined) {
            throw new FanoutError(
              'frame_invalid',
              `subscribe.subscriptions.delta ${deltaValue} is not a StateDelta`,
            );
          }
          const rewind = item.rewind ?? 0;
          const resource = item.resource ?? '';
          return {
            channel,
            ...(resource === '' ? {} : { resource }),
            ...(since === undefined ? {} : { since }),
            types,
            ...(snapshot ? { snapshot } : {}),
            // UNSPECIFIED is absent, as an absent JSON `delta`.
            ...(deltaValue === 0 ? {} : { delta }),
            ...(rewind === 0 ? {} : { rewind }),
          };
        },
      ),
    };
  }
  throw new FanoutError('frame_invalid', 'the ClientFrame is empty');
}

function snapshotOf(snapshot: StateSnapshotFrame): fanout.v1.StateSnapshot.$Properties {
  return {
    requestId: snapshot.requestId,
    channel: snapshot.channel,
    position: positionValue(snapshot.position),
    exists: snapshot.exists,
    state:
      snapshot.exists && snapshot.state !== undefined
        ? utf8Encoder.encode(snapshot.state)
        : new Uint8Array(0),
    reset: snapshot.reset,
  };
}

function statesOf(list: readonly SubscriptionState[]): fanout.v1.SubscriptionState.$Properties[] {
  return list.map((state) => ({
    channel: state.channel,
    position: positionValue(state.position),
    hint: state.hint ?? '',
    cursor: state.cursor ?? '',
    snapshot: state.snapshot === undefined ? null : snapshotOf(state.snapshot),
    rewind: state.rewind === undefined ? null : { ...state.rewind },
    resource: state.resource ?? '',
    statusChannel: state.statusChannel ?? '',
  }));
}

const protoActions: Readonly<Record<CloseAction, fanout.v1.DisconnectAction>> = {
  resume: DisconnectAction.DISCONNECT_ACTION_RESUME,
  resume_elsewhere: DisconnectAction.DISCONNECT_ACTION_RESUME_ELSEWHERE,
  stop: DisconnectAction.DISCONNECT_ACTION_STOP,
};

export function encodeServerFrame(message: ControlMessage): Uint8Array {
  switch (message.kind) {
    case 'connected':
      return ServerFrame.encode({
        connected: {
          requestId: message.requestId,
          edgeId: message.edgeId,
          tokenExpiresAt: timestampOf(message.tokenExpiresAt),
          pingIntervalSeconds: message.pingIntervalSeconds,
        },
      }).finish();
    case 'subscribed':
      return ServerFrame.encode({
        subscribed: {
          requestId: message.requestId,
          subscriptions: statesOf(message.subscriptions),
        },
      }).finish();
    case 'unsubscribed':
      return ServerFrame.encode({
        unsubscribed: { requestId: message.requestId, channels: [...message.channels] },
      }).finish();
    case 'error':
      return ServerFrame.encode({
        error: {
          requestId: message.requestId,
          code: message.code,
          message: message.message,
          channel: message.channel ?? '',
        },
      }).finish();
    case 'reset':
      return ServerFrame.encode({
        reset: {
          requestId: message.requestId,
          channel: message.channel,
          requested: positionValue(message.requested),
          earliest: positionValue(message.earliest),
          code: message.code,
        },
      }).finish();
    case 'pong':
      return ServerFrame.encode({ pong: { requestId: message.requestId } }).finish();
    case 'tokenRefreshed':
      return ServerFrame.encode({
        tokenRefreshed: {
          requestId: message.requestId,
          expiresAt: timestampOf(message.expiresAt),
        },
      }).finish();
    case 'disconnect':
      return ServerFrame.encode({
        disconnect: {
          closeCode: message.closeCode,
          code: message.code,
          message: message.message,
          action: protoActions[message.action],
          hint: message.hint ?? '',
          positions: statesOf(message.positions),
        },
      }).finish();
    case 'snapshot':
      return ServerFrame.encode({ snapshot: snapshotOf(message) }).finish();
    case 'patch':
      return ServerFrame.encode({
        patch: {
          channel: message.channel,
          position: positionValue(message.position),
          base: positionValue(message.base),
          delta: protoDeltas[message.delta],
          patch:
            message.patch === undefined ? new Uint8Array(0) : utf8Encoder.encode(message.patch),
          exists: message.exists,
        },
      }).finish();
    case 'stateChangeRefused':
      return ServerFrame.encode({
        stateChangeRefused: {
          channel: message.channel,
          position: positionValue(message.position),
          reason: message.reason,
          message: message.message,
        },
      }).finish();
  }
}

/** The JSON value of UTF-8 JSON bytes from the edge (`what` names them in the error). */
function jsonFrom(bytes: Uint8Array, what: string): JsonValue {
  try {
    return JSON.parse(utf8.decode(bytes)) as JsonValue;
  } catch {
    throw new FanoutError('frame_invalid', `frame from the edge: ${what} is not UTF-8 JSON`);
  }
}

function snapshotFrom(
  snapshot: fanout.v1.StateSnapshot.$Properties,
): StateSnapshotFrame<JsonValue> {
  const exists = snapshot.exists === true;
  return {
    requestId: snapshot.requestId ?? 0,
    channel: snapshot.channel ?? '',
    position: positionText(snapshot.position) ?? '',
    exists,
    ...(exists
      ? { state: jsonFrom(snapshot.state ?? new Uint8Array(0), "the snapshot's state") }
      : {}),
    reset: snapshot.reset === true,
  };
}

function statesFrom(
  list: fanout.v1.SubscriptionState.$Properties[] | null | undefined,
): SubscriptionState<JsonValue>[] {
  return (list ?? []).map((state) => {
    const position = positionText(state.position);
    const cursor = state.cursor ?? '';
    const hint = state.hint ?? '';
    const resource = state.resource ?? '';
    const statusChannel = state.statusChannel ?? '';
    return {
      channel: state.channel ?? '',
      ...(resource === '' ? {} : { resource }),
      ...(statusChannel === '' ? {} : { statusChannel }),
      ...(position === undefined ? {} : { position }),
      ...(cursor === '' ? {} : { cursor: formatStreamCursor(parseStreamCursor(cursor)) }),
      ...(hint === '' ? {} : { hint }),
      ...(state.snapshot ? { snapshot: snapshotFrom(state.snapshot) } : {}),
      ...(state.rewind
        ? {
            rewind: {
              requested: state.rewind.requested ?? 0,
              found: state.rewind.found ?? 0,
              truncated: state.rewind.truncated === true,
            },
          }
        : {}),
    };
  });
}

/** Keeps a byte order mark, which makes the payload not JSON, as the edge reads it. */
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

function eventFrom(event: fanout.v1.Event.$Properties): FanoutEvent {
  const position = positionText(event.position);
  if (position === undefined) {
    throw new FanoutError('frame_invalid', 'frame from the edge: event without a position');
  }
  const contentType = event.contentType ?? '';
  const bytes = event.data ?? new Uint8Array(0);
  // As in the JSON event: no payload field for an empty payload.
  let payload: { data: unknown } | { bytes: Uint8Array } | Record<string, never>;
  if (bytes.length === 0) {
    payload = {};
  } else if (isJsonContentType(contentType)) {
    try {
      payload = { data: JSON.parse(utf8.decode(bytes)) as unknown };
    } catch {
      payload = { bytes };
    }
  } else {
    payload = { bytes };
  }
  const time = millisOf(event.time);
  const state = stateOperationOf(event.state);
  // A change this client cannot fold is refused, never read as an ordinary event.
  if (state === null) {
    throw new FanoutError(
      'frame_invalid',
      `frame from the edge: unknown state operation ${String(event.state)}`,
    );
  }
  return {
    id: event.id ?? '',
    channel: event.channel ?? '',
    type: event.type ?? '',
    ...(state === undefined ? {} : { state }),
    ...payload,
    contentType,
    time: time === undefined ? '' : new Date(time).toISOString(),
    headers: { ...(event.headers ?? {}) },
    producer: event.producer ?? '',
    // As in the JSON event: a trace context only when one was recorded.
    ...(event.trace && (event.trace.traceparent || event.trace.tracestate)
      ? {
          trace: {
            traceparent: event.trace.traceparent ?? '',
            tracestate: event.trace.tracestate ?? '',
          },
        }
      : {}),
    position,
  };
}

const closeActions = new Map<number, CloseAction>([
  [DisconnectAction.DISCONNECT_ACTION_RESUME, 'resume'],
  [DisconnectAction.DISCONNECT_ACTION_RESUME_ELSEWHERE, 'resume_elsewhere'],
  [DisconnectAction.DISCONNECT_ACTION_STOP, 'stop'],
]);

export function decodeServerFrame(bytes: Uint8Array): ServerMessage {
  let frame: fanout.v1.ServerFrame;
  try {
    frame = ServerFrame.decode(bytes);
  } catch (error) {
    throw undecodable('frame from the edge is not a ServerFrame', error);
  }
  if (frame.event) return { kind: 'event', event: eventFrom(frame.event) };
  if (frame.batch) return { kind: 'batch', events: (frame.batch.events ?? []).map(eventFrom) };
  if (frame.connected) {
    const expires = millisOf(frame.connected.tokenExpiresAt);
    return {
      kind: 'connected',
      requestId: frame.connected.requestId ?? 0,
      edgeId: frame.connected.edgeId ?? '',
      pingIntervalSeconds: frame.connected.pingIntervalSeconds ?? 0,
      ...(expires === undefined ? {} : { tokenExpiresAt: expires }),
    };
  }
  if (frame.subscribed) {
    return {
      kind: 'subscribed',
      requestId: frame.subscribed.requestId ?? 0,
      subscriptions: statesFrom(frame.subscribed.subscriptions),
    };
  }
  if (frame.unsubscribed) {
    return {
      kind: 'unsubscribed',
      requestId: frame.unsubscribed.requestId ?? 0,
      channels: frame.unsubscribed.channels ?? [],
    };
  }
  if (frame.error) {
    const channel = frame.error.channel ?? '';
    return {
      kind: 'error',
      requestId: frame.error.requestId ?? 0,
      code: frame.error.code ?? '',
      message: frame.error.message ?? '',
      ...(channel === '' ? {} : { channel }),
    };
  }
  if (frame.reset) {
    return {
      kind: 'reset',
      requestId: frame.reset.requestId ?? 0,
      channel: frame.reset.channel ?? '',
      requested: positionText(frame.reset.requested) ?? '',
      earliest: positionText(frame.reset.earliest) ?? '',
      code: frame.reset.code ?? '',
    };
  }
  if (frame.pong) return { kind: 'pong', requestId: frame.pong.requestId ?? 0 };
  if (frame.snapshot) return { kind: 'snapshot', ...snapshotFrom(frame.snapshot) };
  if (frame.patch) {
    const { patch } = frame;
    const delta = deltaOf(patch.delta);
    if (delta === undefined) {
      throw new FanoutError(
        'frame_invalid',
        `frame from the edge: patch.delta ${String(patch.delta)} is not a StateDelta`,
      );
    }
    const exists = patch.exists === true;
    return {
      kind: 'patch',
      channel: patch.channel ?? '',
      position: positionText(patch.position) ?? '',
      base: positionText(patch.base) ?? '',
      delta,
      // A full patch without a document after it has no bytes.
      ...(delta === 'full' && !exists
        ? {}
        : { patch: jsonFrom(patch.patch ?? new Uint8Array(0), 'the patch') }),
      exists,
    };
  }
  if (frame.stateChangeRefused) {
    const refused = frame.stateChangeRefused;
    return {
      kind: 'stateChangeRefused',
      channel: refused.channel ?? '',
      position: positionText(refused.position) ?? '',
      reason: refused.reason ?? '',
      message: refused.message ?? '',
    };
  }
  if (frame.tokenRefreshed) {
    const expires = millisOf(frame.tokenRefreshed.expiresAt);
    return {
      kind: 'tokenRefreshed',
      requestId: frame.tokenRefreshed.requestId ?? 0,
      ...(expires === undefined ? {} : { expiresAt: expires }),
    };
  }
  if (frame.disconnect) {
    const hint = frame.disconnect.hint ?? '';
    return {
      kind: 'disconnect',
      closeCode: frame.disconnect.closeCode ?? 0,
      code: frame.disconnect.code ?? '',
      message: frame.disconnect.message ?? '',
      // DISCONNECT_ACTION_UNSPECIFIED, or an action this client does not know: resume.
      action: closeActions.get(frame.disconnect.action ?? 0) ?? 'resume',
      ...(hint === '' ? {} : { hint }),
      positions: statesFrom(frame.disconnect.positions),
    };
  }
  throw new FanoutError('frame_invalid', 'frame from the edge: empty ServerFrame');
}

/** `fanout.proto.v1` (and with batch frames `fanout.proto.v2`), both directions. */
export const wsProtoCodec: WsFrameCodec<Uint8Array> = Object.freeze({
  subprotocol: 'fanout.proto.v1',
  batchSubprotocol: 'fanout.proto.v2',
  encodeClientFrame,
  decodeClientFrame,
  encodeServerFrame,
  decodeServerFrame,
});
