/**
 * `fanout.proto.v1` (with batch frames `fanout.proto.v2`): binary ClientFrame / ServerFrame of
 * proto/fanout/v1/websocket.proto, with the codec the edge uses too
 * (`@fanout/shared/portable`). Imported from `@fanout/client/proto`, so that
 * protobufjs is only in the bundles of applications that choose it.
 */
import {
  FanoutError,
  fanout,
  formatPosition,
  parsePosition,
  positionFromProto,
  wsProtoCodec,
} from '@fanout/shared/portable';
import type { JsonValue, StateDeltaKind } from '@fanout/shared/portable-state';
import type {
  StateFrame,
  StatePatchMessage,
  StateSnapshotMessage,
  StateSubscriptionRequest,
} from './state-frames.js';
import type { ClientMessage, ServerMessage, WireFormat } from './wire-format.js';

const { ClientFrame, ServerFrame, StateDelta } = fanout.v1;

const deltaNumbers: Readonly<Record<StateDeltaKind, fanout.v1.StateDelta>> = {
  'json-patch': StateDelta.STATE_DELTA_JSON_PATCH,
  'merge-patch': StateDelta.STATE_DELTA_MERGE_PATCH,
  full: StateDelta.STATE_DELTA_FULL,
};

/** The `subscribe` frame of state subscriptions in `fanout.proto.v1`. */
export function encodeProtoStateSubscribe(
  requestId: number,
  subscriptions: readonly StateSubscriptionRequest[],
): Uint8Array {
  return ClientFrame.encode({
    subscribe: {
      requestId,
      subscriptions: subscriptions.map((subscription) => ({
        channel: subscription.channel,
        snapshot: true,
        delta: deltaNumbers[subscription.delta],
        since: subscription.since === undefined ? null : parsePosition(subscription.since),
      })),
    },
  }).finish();
}

function positionOf(
  position: fanout.v1.Position.$Properties | null | undefined,
  subject: string,
): string {
  if (!position) throw new FanoutError('frame_invalid', `${subject}.position is missing`);
  return formatPosition(positionFromProto(position));
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** UTF-8 JSON bytes of a state frame. */
function jsonOf(bytes: Uint8Array | null | undefined, subject: string): JsonValue {
  try {
    return JSON.parse(utf8.decode(bytes ?? new Uint8Array())) as JsonValue;
  } catch {
    throw new FanoutError('frame_invalid', `${subject} is not UTF-8 JSON`);
  }
}

function snapshotOf(
  snapshot: fanout.v1.StateSnapshot.$Properties,
  subject: string,
): StateSnapshotMessage {
  return {
    channel: snapshot.channel ?? '',
    position: positionOf(snapshot.position, subject),
    state: snapshot.exists === true ? jsonOf(snapshot.state, `${subject}.state`) : undefined,
    reset: snapshot.reset === true,
  };
}

function deltaOf(delta: fanout.v1.StateDelta | null | undefined): StateDeltaKind {
  switch (delta) {
    case StateDelta.STATE_DELTA_MERGE_PATCH:
      return 'merge-patch';
    case StateDelta.STATE_DELTA_FULL:
      return 'full';
    case StateDelta.STATE_DELTA_JSON_PATCH:
    case StateDelta.STATE_DELTA_UNSPECIFIED:
    case null:
    case undefined:
      return 'json-patch';
    default:
      throw new FanoutError('frame_invalid', `patch.delta ${String(delta)} is unknown`);
  }
}

function patchOf(patch: fanout.v1.StatePatch.$Properties): StatePatchMessage {
  const exists = patch.exists === true;
  const delta = deltaOf(patch.delta);
  return {
    channel: patch.channel ?? '',
    position: positionOf(patch.position, 'patch'),
    ...(patch.base ? { base: formatPosition(positionFromProto(patch.base)) } : {}),
    delta,
    // A full delta of an absent document carries no bytes.
    patch: delta === 'full' && !exists ? null : jsonOf(patch.patch, 'patch.patch'),
    exists,
  };
}

/** The first byte of a ServerFrame holding one field of its oneof: the field's key. */
const stateKeys: ReadonlySet<number> = new Set([
  (2 << 3) | 2, // subscribed
  (11 << 3) | 2, // snapshot
  (12 << 3) | 2, // patch
  (13 << 3) | 2, // state_change_refused
]);

/** The state part of a `fanout.proto.v1` frame (see `StateWireFormat.decode`). */
export function decodeProtoStateFrame(
  bytes: Uint8Array,
):
  | StateFrame
  | { readonly kind: 'snapshots'; readonly snapshots: StateSnapshotMessage[] }
  | undefined {
  const key = bytes[0];
  if (key === undefined || !stateKeys.has(key)) return undefined;
  let frame: fanout.v1.ServerFrame;
  try {
    frame = ServerFrame.decode(bytes);
  } catch (error) {
    throw new FanoutError(
      'frame_invalid',
      `the frame is not a ServerFrame: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  if (frame.snapshot) {
    return { kind: 'snapshot', snapshot: snapshotOf(frame.snapshot, 'snapshot') };
  }
  if (frame.patch) return { kind: 'patch', patch: patchOf(frame.patch) };
  if (frame.stateChangeRefused) {
    const refused = frame.stateChangeRefused;
    return {
      kind: 'refused',
      refused: {
        channel: refused.channel ?? '',
        position: positionOf(refused.position, 'stateChangeRefused'),
        reason: refused.reason ?? '',
        message: refused.message ?? '',
      },
    };
  }
  const snapshots: StateSnapshotMessage[] = [];
  (frame.subscribed?.subscriptions ?? []).forEach((state, index) => {
    if (state.snapshot) {
      const snapshot = snapshotOf(state.snapshot, `subscribed.subscriptions[${index}].snapshot`);
      snapshots.push(
        snapshot.channel === '' ? { ...snapshot, channel: state.channel ?? '' } : snapshot,
      );
    }
  });
  return { kind: 'snapshots', snapshots };
}

/** Reads a frame from the edge; throws FanoutError('frame_invalid') when it does not decode. */
export function decodeProtoFrame(bytes: Uint8Array): ServerMessage {
  return wsProtoCodec.decodeServerFrame(bytes);
}

export function encodeProtoFrame(message: ClientMessage): Uint8Array {
  return wsProtoCodec.encodeClientFrame(message);
}

/** `fanout.proto.v1`; pass as `wireFormat` to `createClient`. */
export const protoWireFormat: WireFormat = Object.freeze({
  subprotocol: wsProtoCodec.subprotocol,
  batchSubprotocol: wsProtoCodec.batchSubprotocol,
  binary: true,
  encode: encodeProtoFrame,
  decode(data: string | Uint8Array): ServerMessage {
    if (typeof data === 'string') {
      throw new FanoutError('frame_invalid', 'fanout.proto.v1 sends binary frames');
    }
    return decodeProtoFrame(data);
  },
  state: Object.freeze({
    encodeSubscribe: encodeProtoStateSubscribe,
    decode: (data: string | Uint8Array) =>
      typeof data === 'string' ? undefined : decodeProtoStateFrame(data),
  }),
});
