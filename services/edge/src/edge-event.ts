/**
 * One event as the edge holds it: decoded once from its Kafka record, then
 * encoded at most once per wire format (binary WebSocket frame, JSON object
 * shared by JSON WebSocket frames, SSE and GET), whatever the number of
 * subscribers.
 */
import {
  decodeEvent,
  encodeEventFrame,
  formatPosition,
  type fanout,
  type PositionValue,
} from '@fanout/shared';
import type { LogRecord } from './kafka-log.js';

export class EdgeEvent {
  readonly partition: number;
  readonly offset: number;
  readonly position: string;
  readonly channel: string;
  readonly type: string;
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
    this.position = `${epoch}:${partition}:${record.offset}`;
    this.timestamp = record.timestamp;
    this.#value = record.value;
    this.#event = decodeEvent(record.value);
    this.channel = this.#event.channel;
    this.type = this.#event.type;
  }

  get positionValue(): PositionValue {
    return { epoch: this.#epoch, partition: this.partition, offset: this.offset };
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
    this.#json ??= JSON.stringify(eventJson(this.#event, this.position));
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

function isJsonContentType(contentType: string): boolean {
  const base = contentType.split(';', 1)[0]?.trim().toLowerCase() ?? '';
  return base === 'application/json' || base.endsWith('+json');
}

function timestampText(time: fanout.v1.Event['time']): string | undefined {
  if (!time) return undefined;
  const millis = Number(time.seconds) * 1000 + Math.floor((time.nanos ?? 0) / 1e6);
  return Number.isFinite(millis) ? new Date(millis).toISOString() : undefined;
}

/** The JSON form of an event (see docs/reference/protocol.md). */
export function eventJson(event: fanout.v1.Event, position: string): Record<string, unknown> {
  const json: Record<string, unknown> = {
    id: event.id,
    channel: event.channel,
    type: event.type,
  };
  const data = Buffer.from(event.data.buffer, event.data.byteOffset, event.data.byteLength);
  let parsed: unknown;
  let isJson = false;
  if (isJsonContentType(event.contentType) && data.length > 0) {
    try {
      parsed = JSON.parse(data.toString('utf8'));
      isJson = true;
    } catch {
      isJson = false;
    }
  }
  if (isJson) json['data'] = parsed;
  else if (data.length > 0) json['dataBase64'] = data.toString('base64');
  json['contentType'] = event.contentType;
  const time = timestampText(event.time);
  if (time !== undefined) json['time'] = time;
  json['headers'] = event.headers;
  json['producer'] = event.producer;
  if (event.trace && (event.trace.traceparent || event.trace.tracestate)) {
    json['trace'] = { traceparent: event.trace.traceparent, tracestate: event.trace.tracestate };
  }
  json['position'] = position;
  return json;
}

/** A position of the topic's current epoch. */
export function positionText(epoch: string, partition: number, offset: number): string {
  return formatPosition({ epoch, partition, offset });
}
