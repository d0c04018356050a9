/**
 * `fanout.json.v1`: JSON text frames, each an object with exactly one key,
 * the frame's name (protobuf JSON mapping, positions as text); the envelope
 * is `@fanout/shared`'s, read the same way by the edge.
 */
import {
  FanoutError,
  isJsonObject,
  readJsonFrame,
  writeJsonFrame,
  type CloseAction,
  type JsonObject,
} from '@fanout/shared/portable-core';
import { eventFromJson } from './fanout-event.js';
import type { ClientMessage, ServerMessage, SubscriptionState, WireFormat } from './wire-format.js';

const serverFrameNames = [
  'event',
  'connected',
  'subscribed',
  'unsubscribed',
  'error',
  'reset',
  'pong',
  'tokenRefreshed',
  'disconnect',
] as const satisfies readonly ServerMessage['kind'][];

const str = (body: JsonObject, key: string): string => {
  const value = body[key];
  return typeof value === 'string' ? value : '';
};
const num = (body: JsonObject, key: string): number => {
  const value = body[key];
  return typeof value === 'number' ? value : 0;
};
const optionalStr = (body: JsonObject, key: string): Record<string, string> => {
  const value = body[key];
  return typeof value === 'string' && value !== '' ? { [key]: value } : {};
};
function millis(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const parsed = Date.parse(value);
  return Number.isNaN(parsed) ? undefined : parsed;
}
function states(value: unknown): SubscriptionState[] {
  if (!Array.isArray(value)) return [];
  return value.filter(isJsonObject).map((state) => ({
    channel: str(state, 'channel'),
    ...optionalStr(state, 'position'),
    ...optionalStr(state, 'hint'),
    ...optionalStr(state, 'cursor'),
  }));
}
function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item) => typeof item === 'string') : [];
}
const actions: readonly CloseAction[] = ['resume', 'resume_elsewhere', 'stop'];

export function encodeJsonFrame(message: ClientMessage): string {
  const { kind, ...body } = message;
  return writeJsonFrame(kind, body);
}

export function decodeJsonFrame(text: string): ServerMessage {
  const { name, body } = readJsonFrame(text, serverFrameNames, 'the frame from the edge');
  const requestId = num(body, 'requestId');
  switch (name) {
    case 'event':
      return { kind: 'event', event: eventFromJson(body) };
    case 'connected': {
      const expires = millis(body['tokenExpiresAt']);
      return {
        kind: 'connected',
        requestId,
        edgeId: str(body, 'edgeId'),
        pingIntervalSeconds: num(body, 'pingIntervalSeconds'),
        ...(expires === undefined ? {} : { tokenExpiresAt: expires }),
      };
    }
    case 'subscribed':
      return { kind: 'subscribed', requestId, subscriptions: states(body['subscriptions']) };
    case 'unsubscribed':
      return { kind: 'unsubscribed', requestId, channels: strings(body['channels']) };
    case 'error':
      return {
        kind: 'error',
        requestId,
        code: str(body, 'code'),
        message: str(body, 'message'),
        ...optionalStr(body, 'channel'),
      };
    case 'reset':
      return {
        kind: 'reset',
        requestId,
        channel: str(body, 'channel'),
        requested: str(body, 'requested'),
        earliest: str(body, 'earliest'),
        code: str(body, 'code'),
      };
    case 'pong':
      return { kind: 'pong', requestId };
    case 'tokenRefreshed': {
      const expires = millis(body['expiresAt']);
      return {
        kind: 'tokenRefreshed',
        requestId,
        ...(expires === undefined ? {} : { expiresAt: expires }),
      };
    }
    case 'disconnect': {
      const action = actions.find((known) => known === body['action']) ?? 'resume';
      return {
        kind: 'disconnect',
        closeCode: num(body, 'closeCode'),
        code: str(body, 'code'),
        message: str(body, 'message'),
        action,
        ...optionalStr(body, 'hint'),
        positions: states(body['positions']),
      };
    }
  }
}

/** The default wire format. */
export const jsonWireFormat: WireFormat = Object.freeze({
  subprotocol: 'fanout.json.v1',
  binary: false,
  encode: encodeJsonFrame,
  decode(data: string | Uint8Array): ServerMessage {
    if (typeof data !== 'string') {
      throw new FanoutError(
        'frame_invalid',
        'frame from the edge: fanout.json.v1 sends text frames',
      );
    }
    return decodeJsonFrame(data);
  },
});
