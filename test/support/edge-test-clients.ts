/**
 * Clients for edge integration tests: publishing through an ingest with the
 * positions Kafka acknowledged, an SSE reader that parses the stream into
 * events, a raw HTTP stream that can stop reading (to make the edge buffer),
 * the status of a refused WebSocket handshake, JSON frames of a TestSocket,
 * and metric values.
 */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { formatPosition, positionFromProto } from '@fanout/shared';
import type { Registry } from 'prom-client';
import type { TestSocket, WsFrame } from './edge-harness.js';
import type { IngestHarness } from './ingest-harness.js';

export interface PublishSpec {
  readonly channel: string;
  /** Event type; `tick` when absent. */
  readonly type?: string;
  /** Random payload bytes; 16 when absent. */
  readonly bytes?: number;
}

/** Publishes the events in one gRPC call; their positions, in request order. */
export async function publishEvents(
  ingest: IngestHarness,
  events: readonly PublishSpec[],
): Promise<string[]> {
  const response = await ingest.client.publish({
    events: events.map((event) => ({
      channel: event.channel,
      type: event.type ?? 'tick',
      data: randomBytes(event.bytes ?? 16),
    })),
  });
  if (response.results.length !== events.length) {
    throw new Error(
      `publish answered ${response.results.length} results for ${events.length} events`,
    );
  }
  return response.results.map((result) => formatPosition(positionFromProto(result.position ?? {})));
}

/** Publishes one event; its position. */
export async function publishEvent(
  ingest: IngestHarness,
  channel: string,
  type = 'tick',
  bytes = 16,
): Promise<string> {
  const [position] = await publishEvents(ingest, [{ channel, type, bytes }]);
  if (position === undefined) throw new Error('no position');
  return position;
}

/** `<name>.<6 hex>`: a channel (or namespace) no other test uses. */
export function uniqueChannel(name: string): string {
  return `${name}.${randomBytes(3).toString('hex')}`;
}

/** The offset of a one-partition position `<epoch>:<p>:<o>`. */
export function offsetOf(position: string): number {
  return Number(position.split(':')[2]);
}

/** The HTTP status of a refused WebSocket handshake, or 101 when it opened. */
export async function handshakeStatus(socket: TestSocket): Promise<number> {
  try {
    await socket.opened;
    return 101;
  } catch (error) {
    const status = /HTTP (\d+)/.exec(String(error))?.[1];
    if (status === undefined) throw error;
    return Number(status);
  }
}

/** A JSON frame `{ "<kind>": body }` of fanout.json.v1, as [kind, body]. */
export function jsonFrame(frame: WsFrame): [string, Record<string, unknown>] {
  const parsed = JSON.parse(frame.data.toString('utf8')) as Record<string, Record<string, unknown>>;
  const [kind] = Object.keys(parsed);
  if (kind === undefined) throw new Error('empty frame');
  return [kind, parsed[kind] ?? {}];
}

/** The value of a counter or gauge with exactly these labels; 0 when absent. */
export async function metricValue(
  registry: Registry,
  name: string,
  labels: Readonly<Record<string, string>> = {},
): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return 0;
  const data = await metric.get();
  const wanted = Object.entries(labels);
  for (const value of data.values) {
    const have = value.labels as Readonly<Record<string, string | number | undefined>>;
    if (Object.keys(have).length !== wanted.length) continue;
    if (wanted.every(([key, expected]) => String(have[key]) === expected)) return value.value;
  }
  return 0;
}

/** Polls until `accept` holds; rejects with `what` after `timeoutMs`. */
export async function waitFor(
  accept: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await accept())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** One event of a text/event-stream (comments and `retry:`-only blocks are skipped). */
export interface SseEvent {
  /** `message` unless an `event:` field named it. */
  readonly event: string;
  readonly id: string | undefined;
  readonly data: string;
}

/** Parses complete blocks off `text`; returns the events and the incomplete rest. */
export function parseSse(text: string): { events: SseEvent[]; rest: string } {
  const events: SseEvent[] = [];
  let rest = text;
  for (;;) {
    const end = rest.indexOf('\n\n');
    if (end < 0) break;
    const block = rest.slice(0, end);
    rest = rest.slice(end + 2);
    let event = 'message';
    let id: string | undefined;
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') event = value;
      else if (field === 'id') id = value;
      else if (field === 'data') data.push(value);
    }
    if (data.length === 0 && event === 'message') continue;
    events.push({ event, id, data: data.join('\n') });
  }
  return { events, rest };
}

/** An SSE response read with fetch; its events wait in a queue. */
export class SseClient {
  readonly response: Response;
  readonly events: SseEvent[] = [];
  ended = false;
  readonly #reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  readonly #decoder = new TextDecoder();
  #text = '';

  private constructor(response: Response) {
    this.response = response;
    this.#reader = response.body?.getReader();
  }

  /** Opens the stream; the response may be an error (check `status`). */
  static async open(
    url: string,
    headers: Readonly<Record<string, string>> = {},
  ): Promise<SseClient> {
    return new SseClient(
      await fetch(url, { headers: { accept: 'text/event-stream', ...headers } }),
    );
  }

  get status(): number {
    return this.response.status;
  }

  /** Takes queued or arriving events until `count` satisfied `accept`; returns those. */
  async take(
    count: number,
    accept: (event: SseEvent) => boolean = (event) => event.event === 'message',
    timeoutMs = 10_000,
  ): Promise<SseEvent[]> {
    const taken: SseEvent[] = [];
    const deadline = Date.now() + timeoutMs;
    while (taken.length < count) {
      const event = this.events.shift();
      if (event) {
        if (accept(event)) taken.push(event);
        continue;
      }
      if (this.ended) throw new Error(`SSE stream ended after ${taken.length} of ${count}`);
      await this.#read(deadline - Date.now(), `${taken.length} of ${count} SSE events`);
    }
    return taken;
  }

  /** Reads until the edge ends the stream; returns every event not taken yet. */
  async rest(timeoutMs = 10_000): Promise<SseEvent[]> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended) await this.#read(deadline - Date.now(), 'the end of the SSE stream');
    return this.events.splice(0);
  }

  async #read(left: number, what: string): Promise<void> {
    if (left <= 0 || !this.#reader) throw new Error(`timed out waiting for ${what}`);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => {
        resolve('timeout');
      }, left);
    });
    const chunk = await Promise.race([this.#reader.read(), timeout]).finally(() => {
      clearTimeout(timer);
    });
    if (chunk === 'timeout') throw new Error(`timed out waiting for ${what}`);
    if (chunk.done) {
      this.ended = true;
      return;
    }
    this.#text += this.#decoder.decode(chunk.value, { stream: true });
    const parsed = parseSse(this.#text);
    this.#text = parsed.rest;
    this.events.push(...parsed.events);
  }

  async close(): Promise<void> {
    await this.#reader?.cancel().catch(() => undefined);
  }
}

/**
 * A GET over a plain TCP socket that can stop reading, so the edge's
 * writes pile up in the kernel and then in its own buffer. Understands the
 * chunked encoding uWebSockets.js streams with.
 */
export class RawHttpStream {
  readonly #socket: Socket;
  #raw = Buffer.alloc(0);
  #headerDone = false;
  #body = '';
  status = 0;
  ended = false;
  readonly headersReceived: Promise<void>;

  constructor(port: number, path: string, headers: Readonly<Record<string, string>> = {}) {
    this.#socket = connect({ host: '127.0.0.1', port });
    const lines = Object.entries({ accept: 'text/event-stream', ...headers }).map(
      ([name, value]) => `${name}: ${value}\r\n`,
    );
    this.#socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${lines.join('')}\r\n`);
    this.headersReceived = new Promise((resolve, reject) => {
      this.#socket.on('data', (data: Buffer) => {
        this.#raw = Buffer.concat([this.#raw, data]);
        this.#parse();
        if (this.#headerDone) resolve();
      });
      this.#socket.once('error', reject);
      this.#socket.once('close', () => {
        this.ended = true;
        reject(new Error('closed before the response headers'));
      });
    });
  }

  /** The body received so far, without the chunk framing. */
  text(): string {
    return this.#body;
  }

  /** Every event received so far (parsing is cheap enough for tests). */
  events(): SseEvent[] {
    return parseSse(this.#body).events;
  }

  pause(): void {
    this.#socket.pause();
  }

  resume(): void {
    this.#socket.resume();
  }

  close(): void {
    this.#socket.destroy();
  }

  #parse(): void {
    if (!this.#headerDone) {
      const end = this.#raw.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = this.#raw.subarray(0, end).toString('latin1');
      this.status = Number(/^HTTP\/1\.1 (\d+)/.exec(head)?.[1] ?? 0);
      this.#raw = this.#raw.subarray(end + 4);
      this.#headerDone = true;
    }
    for (;;) {
      // The CRLF after a chunk's data may come only with the next chunk.
      if (this.#raw.subarray(0, 2).toString('latin1') === '\r\n') {
        this.#raw = this.#raw.subarray(2);
      }
      const line = this.#raw.indexOf('\r\n');
      if (line < 0) return;
      const size = parseInt(this.#raw.subarray(0, line).toString('latin1'), 16);
      if (Number.isNaN(size)) throw new Error('not a chunked response');
      if (size === 0) {
        this.ended = true;
        return;
      }
      if (this.#raw.length < line + 2 + size) return;
      this.#body += this.#raw.subarray(line + 2, line + 2 + size).toString('utf8');
      this.#raw = this.#raw.subarray(line + 2 + size);
    }
  }
}
