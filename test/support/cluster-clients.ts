/**
 * Light resuming clients for the process-level cluster test: WebSocket
 * (`fanout.json.v1` over `RawWsClient`) and SSE (`/v1/stream` over a plain
 * HTTP request), each following a few channels. On any close they resume
 * from their positions on the edge the close's hint names, else on the
 * owner the placement gives over the current membership, else on any live
 * edge. They record every event with the connection it came on (so the
 * checker can tell a duplicate across a reconnect from one on the same
 * connection) and the time from each close to the first frame on the next
 * connection. A connection that has not answered within 10 s is given up
 * and counts as a failed attempt (an address that vanished answers nothing).
 */
import { request, type ClientRequest } from 'node:http';
import {
  partitionForChannel,
  pickEdge,
  placePartitions,
  type Placement,
  type PlacementOptions,
} from '@fanout/shared';
import { parseSse } from './edge-test-clients.js';
import { RawWsClient } from './raw-ws-client.js';

export interface ClusterMemberRef {
  readonly id: string;
  readonly url: string;
}

/** Where clients go: the placement over the members the test says are live. */
export class ClusterRouter {
  readonly #options: PlacementOptions;
  readonly #members: () => readonly ClusterMemberRef[];
  #cacheKey = '';
  #placement: Placement | undefined;

  constructor(options: PlacementOptions, members: () => readonly ClusterMemberRef[]) {
    this.#options = options;
    this.#members = members;
  }

  get partitions(): number {
    return this.#options.partitions;
  }

  liveUrls(): string[] {
    return this.#members().map((member) => member.url);
  }

  /** The owner edge's URL for a client of `partitions`; undefined without members. */
  owner(partitions: readonly number[], spreadKey: string): string | undefined {
    const members = this.#members();
    const key = members.map((member) => member.id).join(',');
    if (key !== this.#cacheKey || this.#placement === undefined) {
      this.#placement = placePartitions(
        members.map((member) => member.id),
        this.#options,
      );
      this.#cacheKey = key;
    }
    const id = pickEdge(this.#placement, partitions, spreadKey);
    return members.find((member) => member.id === id)?.url;
  }

  any(): string | undefined {
    const urls = this.liveUrls();
    return urls[Math.floor(Math.random() * urls.length)];
  }
}

/** What one client received on one channel, in arrival order. */
export interface ChannelLog {
  /** Offset the subscription started after (from the first `subscribed`). */
  start: number | undefined;
  readonly offsets: number[];
  readonly ids: string[];
  /** The connection number each event arrived on. */
  readonly connections: number[];
}

export interface Reconnect {
  /** When the close was seen (Date.now()). */
  readonly closedAt: number;
  /** Close to the first frame on the next connection, ms. */
  readonly ms: number;
  readonly fromUrl: string;
  readonly toUrl: string;
}

/** How long a connection may take to answer (`subscribed`) before the client gives it up. */
const connectTimeoutMs = 10_000;

function offsetOfPosition(position: string): number {
  return Number(position.slice(position.lastIndexOf(':') + 1));
}

/** Offsets per partition of a stream cursor `<epoch>:<p>:<o>[,<p>:<o>...]`. */
export function cursorOffsets(cursor: string): Map<number, number> {
  const offsets = new Map<number, number>();
  const [first = '', ...rest] = cursor.split(',');
  for (const part of [first.slice(first.indexOf(':') + 1), ...rest]) {
    const [partition, offset] = part.split(':');
    offsets.set(Number(partition), Number(offset));
  }
  return offsets;
}

export abstract class ClusterClient {
  readonly id: string;
  readonly channels: readonly string[];
  readonly partitions: readonly number[];
  readonly logs = new Map<string, ChannelLog>();
  readonly reconnects: Reconnect[] = [];
  readonly closeCodes: number[] = [];
  /** Frames a resuming client should never see (reset, error), as text. */
  readonly unexpected: string[] = [];
  /** What happened to this client, one line each (`<ms since epoch> <what>`), for diagnosis. */
  readonly timeline: string[] = [];
  /** Connections opened so far. */
  connection = 0;
  /** When the last close was seen (Date.now(); 0: never). */
  lastClosedAt = 0;
  /** Connected and answered (first frame received) since the last close. */
  live = false;
  url = '';
  protected readonly router: ClusterRouter;
  #hint: string | undefined;
  #closedAt: number | undefined;
  #closedFrom = '';
  #failures = 0;
  /** This connection went to any live edge because the owner did not answer. */
  #fallback = false;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;
  #answerTimer: NodeJS.Timeout | undefined;

  constructor(id: string, channels: readonly string[], router: ClusterRouter) {
    this.id = id;
    this.channels = channels;
    this.router = router;
    this.partitions = channels.map((channel) => partitionForChannel(channel, router.partitions));
    for (const channel of channels) {
      this.logs.set(channel, { start: undefined, offsets: [], ids: [], connections: [] });
    }
  }

  start(): void {
    this.#connect();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#answerTimer);
    this.disconnect();
  }

  protected abstract open(url: string): void;
  protected abstract disconnect(): void;

  #connect(): void {
    if (this.#stopped) return;
    const live = this.router.liveUrls();
    let url: string | undefined;
    if (this.#hint !== undefined && live.includes(this.#hint)) url = this.#hint;
    else if (this.#failures === 0) url = this.router.owner(this.partitions, this.id);
    this.#fallback = url === undefined;
    url ??= this.router.any();
    this.#hint = undefined;
    if (url === undefined) {
      this.#retry();
      return;
    }
    this.url = url;
    this.connection++;
    this.note(`open ${url} #${this.connection}`);
    this.open(url);
    // Like the client library's connectTimeoutMs: a connection to an address
    // that vanished (a deleted pod) gets no refusal, its SYNs go unanswered.
    const connection = this.connection;
    clearTimeout(this.#answerTimer);
    this.#answerTimer = setTimeout(() => {
      if (!this.live && !this.#stopped && this.connection === connection) this.disconnect();
    }, connectTimeoutMs);
  }

  #retry(): void {
    const base = Math.min(2000, 100 * 2 ** Math.min(this.#failures, 5));
    this.#timer = setTimeout(
      () => {
        this.#connect();
      },
      base / 2 + Math.random() * base,
    );
  }

  /** Adds a line to the timeline. */
  note(what: string): void {
    this.timeline.push(`${Date.now()} ${what}`);
    if (this.timeline.length > 200) this.timeline.splice(0, 100);
  }

  /** The first frame of a connection arrived. */
  protected answered(): void {
    if (this.live) return;
    this.note('answered');
    this.live = true;
    this.#failures = 0;
    if (this.#closedAt !== undefined) {
      this.reconnects.push({
        closedAt: this.#closedAt,
        ms: Date.now() - this.#closedAt,
        fromUrl: this.#closedFrom,
        toUrl: this.url,
      });
      this.#closedAt = undefined;
    }
  }

  /**
   * A subscribe answer named an owner edge. Like the client library's
   * placement-aware router, a client that landed on a non-owner because its
   * owner did not answer (a fallback connection) moves there now, before it
   * counts as live; one that chose its edge by placement stays (edges agree
   * on placement only once membership has settled).
   */
  protected ownerHinted(hint: string | undefined): boolean {
    if (!this.#fallback || hint === undefined || hint === '' || hint === this.url) return false;
    if (!this.router.liveUrls().includes(hint)) return false;
    this.note(`owner hint ${hint}: moving`);
    this.#fallback = false;
    this.#hint = hint;
    this.disconnect();
    return true;
  }

  protected hinted(hint: unknown): void {
    this.note(`hint ${String(hint)}`);
    if (typeof hint === 'string' && hint !== '') this.#hint = hint;
  }

  protected received(channel: string, id: string, position: string): void {
    const log = this.logs.get(channel);
    if (log === undefined) {
      this.unexpected.push(`event of channel ${channel} not followed`);
      return;
    }
    log.offsets.push(offsetOfPosition(position));
    log.ids.push(id);
    log.connections.push(this.connection);
  }

  protected started(channel: string, offset: number): void {
    const log = this.logs.get(channel);
    if (log !== undefined && log.start === undefined) log.start = offset;
  }

  /** The connection ended (or never opened). */
  protected closed(code: number): void {
    this.note(`closed ${code}`);
    this.closeCodes.push(code);
    this.lastClosedAt = Date.now();
    if (this.live) {
      this.#closedAt = Date.now();
      this.#closedFrom = this.url;
    } else {
      this.#failures++;
      this.#closedAt ??= Date.now();
      this.#closedFrom ||= this.url;
    }
    this.live = false;
    if (this.#stopped) return;
    if (this.#hint !== undefined && this.#failures === 0) {
      this.#timer = setTimeout(() => {
        this.#connect();
      }, Math.random() * 100);
    } else {
      this.#retry();
    }
  }

  /** Positions to resume from, per channel (absent before the first `subscribed`). */
  protected position(channel: string): number | undefined {
    const log = this.logs.get(channel);
    if (log === undefined) return undefined;
    return log.offsets.length > 0 ? log.offsets[log.offsets.length - 1] : log.start;
  }
}

export class WsClusterClient extends ClusterClient {
  #socket: RawWsClient | undefined;
  #epoch = '';

  protected open(url: string): void {
    const target = new URL(url);
    const socket = new RawWsClient(
      Number(target.port),
      '/v1/ws',
      'fanout.json.v1',
      undefined,
      target.hostname,
    );
    this.#socket = socket;
    let ended = false;
    const end = (): void => {
      if (ended) return;
      ended = true;
      if (this.#socket === socket) this.#socket = undefined;
      this.closed(socket.closeCode ?? 1006);
    };
    socket.onClose(end);
    socket.sample((payload) => {
      this.#frame(payload);
    });
    socket.ready.then(
      () => {
        socket.sendText(
          JSON.stringify({
            subscribe: {
              requestId: this.connection,
              subscriptions: this.channels.map((channel, index) => {
                const offset = this.position(channel);
                return offset === undefined || this.#epoch === ''
                  ? { channel }
                  : { channel, since: `${this.#epoch}:${this.partitions[index]}:${offset}` };
              }),
            },
          }),
        );
      },
      () => {
        end();
      },
    );
  }

  protected disconnect(): void {
    this.#socket?.close();
  }

  #frame(payload: Buffer): void {
    const frame = JSON.parse(payload.toString('utf8')) as Record<string, Record<string, unknown>>;
    const event = frame['event'];
    if (event !== undefined) {
      this.received(String(event['channel']), String(event['id']), String(event['position']));
      return;
    }
    const subscribed = frame['subscribed'];
    if (subscribed !== undefined) {
      const states = subscribed['subscriptions'] as {
        channel: string;
        position?: string;
        hint?: string;
      }[];
      for (const state of states) {
        if (state.position === undefined) continue;
        this.#epoch ||= state.position.slice(0, state.position.indexOf(':'));
        this.started(state.channel, offsetOfPosition(state.position));
      }
      if (states.some((state) => this.ownerHinted(state.hint))) return;
      this.answered();
      return;
    }
    const disconnect = frame['disconnect'];
    if (disconnect !== undefined) {
      this.note(`disconnect ${JSON.stringify(disconnect)}`);
      this.hinted(disconnect['hint']);
      return;
    }
    if (frame['reset'] !== undefined || frame['error'] !== undefined) {
      this.unexpected.push(JSON.stringify(frame));
    }
  }
}

export class SseClusterClient extends ClusterClient {
  #request: ClientRequest | undefined;
  #cursor: string | undefined;

  protected open(url: string): void {
    const target = new URL(`/v1/stream?channels=${this.channels.join(',')}`, url);
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (this.#cursor !== undefined) headers['last-event-id'] = this.#cursor;
    let ended = false;
    let status = 0;
    const end = (): void => {
      if (ended) return;
      ended = true;
      this.closed(status === 200 || status === 0 ? 1006 : status);
    };
    const outgoing = request(target, { headers, agent: false }, (response) => {
      status = response.statusCode ?? 0;
      if (status !== 200) {
        response.resume();
        response.once('end', end);
        return;
      }
      response.setEncoding('utf8');
      let text = '';
      response.on('data', (chunk: string) => {
        const parsed = parseSse(text + chunk);
        text = parsed.rest;
        for (const event of parsed.events) this.#event(event.event, event.id, event.data);
      });
      response.once('close', end);
      response.once('error', end);
    });
    this.#request = outgoing;
    outgoing.once('error', end);
    outgoing.once('close', () => {
      if (status === 0) end();
    });
    outgoing.end();
  }

  protected disconnect(): void {
    this.#request?.destroy();
  }

  #event(kind: string, id: string | undefined, data: string): void {
    if (kind === 'message') {
      const event = JSON.parse(data) as { channel: string; id: string; position: string };
      this.received(event.channel, event.id, event.position);
      if (id !== undefined) this.#cursor = id;
    } else if (kind === 'subscribed') {
      const body = JSON.parse(data) as { cursor?: string; hint?: string };
      if (body.cursor !== undefined) {
        const offsets = cursorOffsets(body.cursor);
        this.channels.forEach((channel, index) => {
          const offset = offsets.get(this.partitions[index] ?? -1);
          if (offset !== undefined) this.started(channel, offset);
        });
        this.#cursor ??= body.cursor;
      }
      if (this.ownerHinted(body.hint)) return;
      this.answered();
    } else if (kind === 'disconnect') {
      this.note(`disconnect ${data}`);
      const body = JSON.parse(data) as { hint?: string; cursor?: string };
      this.hinted(body.hint);
      if (body.cursor !== undefined) this.#cursor = body.cursor;
    } else if (kind === 'reset' || kind === 'error') {
      this.unexpected.push(`${kind}: ${data}`);
    }
  }
}
