/**
 * `fanout.proto.v1`: binary ClientFrame / ServerFrame of
 * proto/fanout/v1/websocket.proto. Imported from `@fanout/client/proto`, so
 * that protobufjs is only in the bundles of applications that choose it.
 */
import {
  ClientFrame,
  DisconnectAction,
  FanoutError,
  formatPosition,
  isChannelPattern,
  parsePosition,
  positionFromProto,
  ServerFrame,
  type CloseAction,
  type fanout,
} from '@fanout/shared/portable';
import { isJsonContentType, type FanoutEvent } from './fanout-event.js';
import type { ClientMessage, ServerMessage, SubscriptionState, WireFormat } from './wire-format.js';

type Timestamp = { seconds?: number | null; nanos?: number | null } | null | undefined;

/** The largest distance from the epoch a Date holds, in milliseconds. */
const maxDateMillis = 8.64e15;

/** Epoch milliseconds of a Timestamp; undefined when absent or beyond what a Date holds. */
function millis(timestamp: Timestamp): number | undefined {
  if (!timestamp) return undefined;
  const value = (timestamp.seconds ?? 0) * 1000 + Math.floor((timestamp.nanos ?? 0) / 1e6);
  return Number.isFinite(value) && Math.abs(value) <= maxDateMillis ? value : undefined;
}

function positionText(
  position: fanout.v1.Position.$Properties | null | undefined,
): string | undefined {
  return position ? formatPosition(positionFromProto(position)) : undefined;
}

function states(
  list: fanout.v1.SubscriptionState.$Properties[] | null | undefined,
): SubscriptionState[] {
  return (list ?? []).map((state) => {
    const position = positionText(state.position);
    const hint = state.hint ?? '';
    const cursor = state.cursor ?? '';
    return {
      channel: state.channel ?? '',
      ...(position === undefined ? {} : { position }),
      ...(hint === '' ? {} : { hint }),
      ...(cursor === '' ? {} : { cursor }),
    };
  });
}

/** Keeps a byte order mark, which makes the payload not JSON, as the edge reads it. */
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });

function eventOf(event: fanout.v1.Event.$Properties): FanoutEvent {
  const contentType = event.contentType ?? '';
  const bytes = event.data ?? new Uint8Array(0);
  // As in the JSON event: no payload field for an empty payload.
  let payload: { data: unknown } | { bytes: Uint8Array } | Record<string, never>;
  if (bytes.length === 0) {
    payload = {};
  } else if (isJsonContentType(contentType)) {
    try {
      payload = { data: JSON.parse(decoder.decode(bytes)) as unknown };
    } catch {
      payload = { bytes };
    }
  } else {
    payload = { bytes };
  }
  const time = millis(event.time);
  const position = positionText(event.position);
  if (position === undefined) {
    throw new FanoutError('frame_invalid', 'frame from the edge: event without a position');
  }
  return {
    id: event.id ?? '',
    channel: event.channel ?? '',
    type: event.type ?? '',
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

const actions = new Map<number, CloseAction>([
  [DisconnectAction.DISCONNECT_ACTION_RESUME, 'resume'],
  [DisconnectAction.DISCONNECT_ACTION_RESUME_ELSEWHERE, 'resume_elsewhere'],
  [DisconnectAction.DISCONNECT_ACTION_STOP, 'stop'],
]);

export function decodeProtoFrame(bytes: Uint8Array): ServerMessage {
  let frame: fanout.v1.ServerFrame;
  try {
    frame = ServerFrame.decode(bytes);
  } catch (error) {
    throw new FanoutError(
      'frame_invalid',
      `frame from the edge is not a ServerFrame: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  if (frame.event) return { kind: 'event', event: eventOf(frame.event) };
  if (frame.connected) {
    const expires = millis(frame.connected.tokenExpiresAt);
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
      subscriptions: states(frame.subscribed.subscriptions),
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
  if (frame.tokenRefreshed) {
    const expires = millis(frame.tokenRefreshed.expiresAt);
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
      action: actions.get(frame.disconnect.action ?? 0) ?? 'resume',
      ...(hint === '' ? {} : { hint }),
      positions: states(frame.disconnect.positions),
    };
  }
  throw new FanoutError('frame_invalid', 'frame from the edge: empty ServerFrame');
}

export function encodeProtoFrame(message: ClientMessage): Uint8Array {
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
              : { since: request.since === undefined ? null : parsePosition(request.since) }),
            types: [...(request.types ?? [])],
          })),
        },
      }).finish();
  }
}

/** `fanout.proto.v1`; pass as `wireFormat` to `createClient`. */
export const protoWireFormat: WireFormat = Object.freeze({
  subprotocol: 'fanout.proto.v1',
  binary: true,
  encode: encodeProtoFrame,
  decode(data: string | Uint8Array): ServerMessage {
    if (typeof data === 'string') {
      throw new FanoutError('frame_invalid', 'fanout.proto.v1 sends binary frames');
    }
    return decodeProtoFrame(data);
  },
});
