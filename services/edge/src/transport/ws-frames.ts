/**
 * The two WebSocket subprotocols as one frame model: `fanout.json.v1` (JSON
 * text, positions as text) and `fanout.proto.v1` (binary ClientFrame /
 * ServerFrame from proto/fanout/v1/websocket.proto). Client frames are
 * decoded into `ClientMessage`; server frames are built as `ServerMessage`
 * and encoded for the connection's format. A frame that does not decode is
 * a `frame_invalid` error naming what is wrong. The JSON envelope (one key,
 * the frame's name) is `@fanout/shared`'s, which the client reads too.
 */
import {
  ClientFrame,
  DisconnectAction,
  FanoutError,
  formatPosition,
  formatStreamCursor,
  isChannelPattern,
  isJsonObject,
  parsePosition,
  parseStreamCursor,
  positionFromProto,
  readJsonFrame,
  ServerFrame,
  writeJsonFrame,
  type ClientMessage as SharedClientMessage,
  type CloseAction,
  type ControlMessage,
  type fanout,
  type JsonObject,
  type SubscriptionRequest as SharedSubscriptionRequest,
  type SubscriptionState,
} from '@fanout/shared';
import type { WireFormat } from '../subscriptions/channel-hub.js';

export const subprotocols: Readonly<Record<string, WireFormat>> = {
  'fanout.json.v1': 'json',
  'fanout.proto.v1': 'proto',
};

/** A subscription as the edge decoded it: position validated, types always listed. */
export interface SubscriptionRequest extends SharedSubscriptionRequest {
  readonly types: readonly string[];
}

/** A client frame as the edge decoded it. */
export type ClientMessage = SharedClientMessage<SubscriptionRequest>;

/** A frame the edge builds: every server frame but events, which go out pre-encoded. */
export type ServerMessage = ControlMessage;

export type { SubscriptionState };

function invalid(message: string): FanoutError {
  return new FanoutError('frame_invalid', message);
}

function requestIdOf(body: JsonObject, frame: string): number {
  const value = body['requestId'] ?? 0;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw invalid(`${frame}.requestId must be an integer from 0 to 4294967295`);
  }
  return value;
}

function stringOf(body: JsonObject, key: string, frame: string): string {
  const value = body[key];
  if (typeof value !== 'string') throw invalid(`${frame}.${key} must be a string`);
  return value;
}

function stringsOf(value: unknown, field: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) {
    throw invalid(`${field} must be an array of strings`);
  }
  return value;
}

const clientFrameNames = [
  'connect',
  'subscribe',
  'unsubscribe',
  'ping',
  'refreshToken',
] as const satisfies readonly ClientMessage['kind'][];

function decodeJson(text: string): ClientMessage {
  const { name, body } = readJsonFrame(text, clientFrameNames);
  switch (name) {
    case 'connect':
      return {
        kind: 'connect',
        requestId: requestIdOf(body, name),
        token: stringOf(body, 'token', name),
      };
    case 'refreshToken':
      return {
        kind: 'refreshToken',
        requestId: requestIdOf(body, name),
        token: stringOf(body, 'token', name),
      };
    case 'ping':
      return { kind: 'ping', requestId: requestIdOf(body, name) };
    case 'unsubscribe':
      return {
        kind: 'unsubscribe',
        requestId: requestIdOf(body, name),
        channels: stringsOf(body['channels'], 'unsubscribe.channels'),
      };
    case 'subscribe': {
      const list = body['subscriptions'];
      if (!Array.isArray(list)) throw invalid('subscribe.subscriptions must be an array');
      const subscriptions = list.map((item: unknown, index): SubscriptionRequest => {
        const field = `subscribe.subscriptions[${index}]`;
        if (!isJsonObject(item)) throw invalid(`${field} must be an object`);
        const channel = stringOf(item, 'channel', field);
        const since = item['since'];
        if (since !== undefined && since !== null && typeof since !== 'string') {
          throw invalid(`${field}.since must be a position string`);
        }
        const types = stringsOf(item['types'], `${field}.types`);
        if (typeof since === 'string' && since !== '') {
          // A pattern resumes from a stream cursor, a channel from a position.
          return isChannelPattern(channel)
            ? { channel, since: formatStreamCursor(parseStreamCursor(since)), types }
            : { channel, since: formatPosition(parsePosition(since)), types };
        }
        return { channel, types };
      });
      return { kind: 'subscribe', requestId: requestIdOf(body, name), subscriptions };
    }
  }
}

function decodeProto(bytes: Uint8Array): ClientMessage {
  let frame;
  try {
    frame = ClientFrame.decode(bytes);
  } catch (error) {
    throw invalid(
      `the frame is not a ClientFrame: ${error instanceof Error ? error.message : String(error)}`,
    );
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
      subscriptions: (frame.subscribe.subscriptions ?? []).map((item): SubscriptionRequest => {
        const channel = item.channel ?? '';
        const types = item.types ?? [];
        if (item.sinceCursor) {
          return { channel, since: formatStreamCursor(parseStreamCursor(item.sinceCursor)), types };
        }
        return item.since
          ? { channel, since: formatPosition(positionFromProto(item.since)), types }
          : { channel, types };
      }),
    };
  }
  throw invalid('the ClientFrame is empty');
}

export function decodeClientFrame(
  format: WireFormat,
  message: ArrayBuffer,
  isBinary: boolean,
): ClientMessage {
  if (format === 'json') {
    if (isBinary) throw invalid('fanout.json.v1 takes text frames');
    return decodeJson(Buffer.from(message).toString('utf8'));
  }
  if (!isBinary) throw invalid('fanout.proto.v1 takes binary frames');
  return decodeProto(new Uint8Array(message));
}

function protoPosition(text: string | undefined): ReturnType<typeof parsePosition> | null {
  return text === undefined ? null : parsePosition(text);
}

function protoTimestamp(millis: number | undefined): { seconds: number; nanos: number } | null {
  if (millis === undefined) return null;
  const seconds = Math.floor(millis / 1000);
  // Nanos count forward from the second, also before 1970.
  return { seconds, nanos: (millis - seconds * 1000) * 1e6 };
}

const protoActions: Readonly<Record<CloseAction, fanout.v1.DisconnectAction>> = {
  resume: DisconnectAction.DISCONNECT_ACTION_RESUME,
  resume_elsewhere: DisconnectAction.DISCONNECT_ACTION_RESUME_ELSEWHERE,
  stop: DisconnectAction.DISCONNECT_ACTION_STOP,
};

function toProto(message: ServerMessage): Uint8Array {
  const states = (list: readonly SubscriptionState[]): object[] =>
    list.map((state) => ({
      channel: state.channel,
      position: protoPosition(state.position),
      hint: state.hint ?? '',
      cursor: state.cursor ?? '',
    }));
  switch (message.kind) {
    case 'connected':
      return ServerFrame.encode({
        connected: {
          requestId: message.requestId,
          edgeId: message.edgeId,
          tokenExpiresAt: protoTimestamp(message.tokenExpiresAt),
          pingIntervalSeconds: message.pingIntervalSeconds,
        },
      }).finish();
    case 'subscribed':
      return ServerFrame.encode({
        subscribed: { requestId: message.requestId, subscriptions: states(message.subscriptions) },
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
          requested: protoPosition(message.requested),
          earliest: protoPosition(message.earliest),
          code: message.code,
        },
      }).finish();
    case 'pong':
      return ServerFrame.encode({ pong: { requestId: message.requestId } }).finish();
    case 'tokenRefreshed':
      return ServerFrame.encode({
        tokenRefreshed: {
          requestId: message.requestId,
          expiresAt: protoTimestamp(message.expiresAt),
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
          positions: states(message.positions),
        },
      }).finish();
  }
}

function toJson(message: ServerMessage): string {
  const { kind, ...body } = message;
  const out: Record<string, unknown> = { ...body };
  if (message.kind === 'connected' && message.tokenExpiresAt !== undefined) {
    out['tokenExpiresAt'] = new Date(message.tokenExpiresAt).toISOString();
  }
  if (message.kind === 'tokenRefreshed' && message.expiresAt !== undefined) {
    out['expiresAt'] = new Date(message.expiresAt).toISOString();
  }
  return writeJsonFrame(kind, out);
}

export function encodeServerFrame(format: WireFormat, message: ServerMessage): string | Uint8Array {
  return format === 'json' ? toJson(message) : toProto(message);
}
