/**
 * One event as the edge holds it: decoded once from its Kafka record, then
 * encoded at most once per wire format (binary WebSocket frame, JSON object
 * shared by JSON WebSocket frames, SSE and GET), whatever the number of
 * subscribers.
 */
import {
  decodeEvent,
  encodeEventFrame,
  formatPositionOf,
  stateOperationOf,
  type fanout,
  type PositionValue,
  type StateOperation,
} from '@fanout/shared';
import type { LogRecord } from './event-log.js';

export class EdgeEvent {
  readonly partition: number;
  readonly offset: number;
  readonly position: string;
  readonly channel: string;
  readonly type: string;
  /**
   * What the event does to its channel's state document (`Event.state`):
   * undefined for an ordinary event, null for an operation this edge does
   * not know (a newer ingest's).
   */
  readonly state: StateOperation | undefined | null;
  /** Kafka record timestamp, epoch milliseconds (delivery latency is measured from it). */
  readonly timestamp: number;
  readonly #epoch: string;
  readonly #value: Buffer;
  readonly #event: fanout.v1.Event;
  #protoFrame: Uint8Array | undefined;
  #json: string | undefined;
  #jsonFrame: string | undefined;
  #jsonFrameBytes: number | undefined;

  constructor(epoch: string, partition: number, record: LogRecord) {
    this.#epoch = epoch;
    this.partition = partition;
    this.offset = record.offset;
    this.position = formatPositionOf(epoch, partition, record.offset);
    this.timestamp = record.timestamp;
    this.#value = record.value;
    this.#event = decodeEvent(record.value);
    this.channel = this.#event.channel;
    this.type = this.#event.type;
    this.state = stateOperationOf(this.#event.state);
  }

  get positionValue(): PositionValue {
    return { epoch: this.#epoch, partition: this.partition, offset: this.offset };
  }

  /** The event's payload (for a state change: the document or the merge patch). */
  get data(): Uint8Array {
    return this.#event.data;
  }

  /** A state PUT's arrayKey (`Event.array_key`), a JSON Pointer; empty for none. */
  get arrayKey(): string {
    return this.#event.arrayKey;
  }

  /** The W3C traceparent the producer's span left on the event. */
  get traceparent(): string {
    return this.#event.trace?.traceparent ?? '';
  }

  /** The W3C tracestate that goes with `traceparent`. */
  get tracestate(): string {
    return this.#event.trace?.tracestate ?? '';
  }

  /** `ServerFrame { event }` bytes for `fanout.proto.v1`. */
  get protoFrame(): Uint8Array {
    this.#protoFrame ??= encodeEventFrame(this.#value, this.positionValue);
    return this.#protoFrame;
  }

  /** The event as the JSON object text of the protocol reference. */
  get json(): string {
    this.#json ??= eventJsonText(this.#event, this.position);
    return this.#json;
  }

  /** UTF-8 length of `jsonFrame`. */
  get jsonFrameBytes(): number {
    this.#jsonFrameBytes ??= Buffer.byteLength(this.jsonFrame);
    return this.#jsonFrameBytes;
  }

  /** `{"event": ...}` text frame for `fanout.json.v1`. */
  get jsonFrame(): string {
    this.#jsonFrame ??= `{"event":${this.json}}`;
    return this.#jsonFrame;
  }
}

/** Content types seen, and whether they are JSON; bounded, since producers choose them. */
const jsonContentTypes = new Map<string, boolean>();
const jsonContentTypesMax = 256;

function isJsonContentType(contentType: string): boolean {
  let known = jsonContentTypes.get(contentType);
  if (known === undefined) {
    const base = contentType.split(';', 1)[0]?.trim().toLowerCase() ?? '';
    known = base === 'application/json' || base.endsWith('+json');
    if (jsonContentTypes.size < jsonContentTypesMax) jsonContentTypes.set(contentType, known);
  }
  return known;
}

function timestampText(time: fanout.v1.Event['time']): string | undefined {
  if (!time) return undefined;
  const millis = Number(time.seconds) * 1000 + Math.floor((time.nanos ?? 0) / 1e6);
  // A Date holds 8.64e15 ms either side of the epoch; beyond, toISOString throws.
  return Number.isFinite(millis) && Math.abs(millis) <= 8.64e15
    ? new Date(millis).toISOString()
    : undefined;
}

/**
 * The event's data as a JSON value text, or undefined when it is not JSON.
 * Valid JSON without line breaks is used as it is (it cannot break an SSE
 * `data:` line); other valid JSON is written again on one line.
 */
function jsonDataText(event: fanout.v1.Event, data: Buffer): string | undefined {
  if (data.length === 0 || !isJsonContentType(event.contentType)) return undefined;
  const text = data.toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  return text.includes('\n') || text.includes('\r') ? JSON.stringify(parsed) : text.trim();
}

/**
 * The JSON text of an event (see docs/reference/protocol.md): written
 * field by field, the data spliced in as it came when it is JSON.
 */
export function eventJsonText(event: fanout.v1.Event, position: string): string {
  const data = Buffer.from(event.data.buffer, event.data.byteOffset, event.data.byteLength);
  let text = `{"id":${JSON.stringify(event.id)},"channel":${JSON.stringify(event.channel)},"type":${JSON.stringify(event.type)}`;
  // An operation this edge does not know goes out as its number, which a client refuses.
  const state = stateOperationOf(event.state);
  if (state !== undefined) text += `,"state":${state === null ? event.state : `"${state}"`}`;
  const json = jsonDataText(event, data);
  if (json !== undefined) text += `,"data":${json}`;
  else if (data.length > 0) text += `,"dataBase64":"${data.toString('base64')}"`;
  text += `,"contentType":${JSON.stringify(event.contentType)}`;
  const time = timestampText(event.time);
  if (time !== undefined) text += `,"time":"${time}"`;
  text += `,"headers":${JSON.stringify(event.headers)},"producer":${JSON.stringify(event.producer)}`;
  if (event.trace && (event.trace.traceparent || event.trace.tracestate)) {
    text += `,"trace":${JSON.stringify({ traceparent: event.trace.traceparent, tracestate: event.trace.tracestate })}`;
  }
  return `${text},"position":${JSON.stringify(position)}}`;
}
