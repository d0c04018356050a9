/**
 * An event as a client application sees it, whatever the transport: the
 * envelope with its position. JSON payloads are parsed into `data`; other
 * content types arrive as bytes in `bytes`. Read from the event JSON of the
 * edge here, and from `ServerFrame.event` by the protobuf frame codec
 * (`ws-proto-codec.ts`). Browser-safe.
 */
import { FanoutError } from './fanout-error.js';
import { parsePosition } from './position.js';
import { isStateOperation, type StateOperation } from './state-operation.js';

export interface FanoutEvent {
  /** Producer-assigned or generated id; equal ids are the same event. */
  readonly id: string;
  readonly channel: string;
  readonly type: string;
  /**
   * Set when the event changes its channel's state document: `put` (the
   * payload is the whole new document), `merge` (an RFC 7396 merge patch) or
   * `delete` (no payload). Absent for an ordinary event.
   */
  readonly state?: StateOperation;
  /**
   * The payload parsed, when the content type is JSON (`application/json`,
   * `…+json`) and the payload is JSON; neither this nor `bytes` when the
   * payload is empty.
   */
  readonly data?: unknown;
  /** The payload bytes, when the content type is not JSON or the payload does not parse. */
  readonly bytes?: Uint8Array;
  readonly contentType: string;
  /** When ingest accepted the event (ISO 8601), empty when unknown. */
  readonly time: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly producer: string;
  /** W3C trace context of the producer, when recorded. */
  readonly trace?: { readonly traceparent: string; readonly tracestate: string };
  /** `<epoch>:<partition>:<offset>`: where the event sits in the log. */
  readonly position: string;
}

export function isJsonContentType(contentType: string): boolean {
  const media = (contentType.split(';')[0] ?? '').trim().toLowerCase();
  return media === 'application/json' || media.endsWith('+json');
}

function base64ToBytes(text: string): Uint8Array {
  let binary: string;
  try {
    binary = atob(text);
  } catch {
    throw invalid('dataBase64 is not base64');
  }
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function invalid(message: string): FanoutError {
  return new FanoutError('frame_invalid', `event from the edge: ${message}`);
}

function text(body: Record<string, unknown>, key: string, required: boolean): string {
  const value = body[key];
  if (value === undefined || value === null) {
    if (required) throw invalid(`${key} is missing`);
    return '';
  }
  if (typeof value !== 'string') throw invalid(`${key} must be a string`);
  return value;
}

/** The event JSON of the edge (WebSocket `event`, SSE `data:`, GET results). */
export function eventFromJson(value: unknown): FanoutEvent {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid('not an object');
  }
  const body = value as Record<string, unknown>;
  const headers: Record<string, string> = {};
  const rawHeaders = body['headers'];
  if (typeof rawHeaders === 'object' && rawHeaders !== null) {
    for (const [name, header] of Object.entries(rawHeaders)) {
      if (typeof header === 'string') headers[name] = header;
    }
  }
  const trace = body['trace'];
  const base64 = body['dataBase64'];
  // Checked as strictly as a position of the binary protocol: the cursor is built from it.
  const position = text(body, 'position', true);
  parsePosition(position);
  const contentType = text(body, 'contentType', false);
  const state = body['state'];
  // A change this client cannot fold is refused, never read as an ordinary event.
  if (state !== undefined && state !== null && !isStateOperation(state)) {
    throw invalid('state must be "put", "merge" or "delete"');
  }
  return {
    id: text(body, 'id', true),
    channel: text(body, 'channel', true),
    type: text(body, 'type', false),
    ...(isStateOperation(state) ? { state } : {}),
    ...(typeof base64 === 'string'
      ? { bytes: base64ToBytes(base64) }
      : 'data' in body
        ? { data: body['data'] }
        : {}),
    contentType,
    time: text(body, 'time', false),
    headers,
    producer: text(body, 'producer', false),
    ...(typeof trace === 'object' && trace !== null
      ? {
          trace: {
            traceparent: text(trace as Record<string, unknown>, 'traceparent', false),
            tracestate: text(trace as Record<string, unknown>, 'tracestate', false),
          },
        }
      : {}),
    position,
  };
}
