/**
 * The benchmark's client for Centrifugo: its JSON protocol (protocol v2,
 * subprotocol `centrifuge-json`) over `/connection/websocket`. A connection
 * sends a `connect` command and waits for its reply, then `subscribe`
 * commands; publications arrive as `push` messages. Centrifugo writes
 * several messages into one frame when they queue up (newline-separated,
 * up to 16 by default), so a counting connection counts the lines of each
 * frame — by scanning for newlines, without decoding — and answers the
 * server's application-level pings (an empty `{}` message) with `{}`.
 *
 * A decoding connection (`follow`) parses every message: the position of a
 * publication is its stream offset and epoch, handed back as
 * `recover: true, offset, epoch` to resume; Centrifugo answers with the
 * missed publications inside the subscribe reply (`recovered: true`), or
 * with `recovered: false` when it cannot (another epoch: a memory broker
 * that restarted; or more missed than its history or recovery limit).
 */
import { RawWsClient } from '../support/raw-ws-client.js';
import type { BenchClient, ClientProtocol, FollowHandlers } from './bench-client.js';

const newline = 0x0a;
const openBrace = 0x7b;
const closeBrace = 0x7d;
/** `{"id":...` — a reply; `{"push":...` — a push. */
const replyMarker = 0x69;

class CentrifugoClient implements BenchClient {
  readonly ready: Promise<void>;
  messages = 0;
  error: string | undefined;
  readonly #socket: RawWsClient;
  #connected = false;
  #commandId = 1;
  #onConnected: (() => void) | undefined;
  #onRefused: ((error: Error) => void) | undefined;
  #sampler: ((payload: Buffer) => void) | undefined;

  constructor(port: number, localAddress: string | undefined) {
    this.#socket = new RawWsClient(port, '/connection/websocket', 'centrifuge-json', localAddress);
    this.#socket.sample((payload) => {
      this.#frame(payload);
    });
    this.ready = new Promise<void>((resolve, reject) => {
      this.#onConnected = resolve;
      this.#onRefused = reject;
      this.#socket.ready.then(() => {
        this.#socket.sendText(JSON.stringify({ id: 1, connect: { name: 'fanout-bench' } }));
      }, reject);
      this.#socket.onClose(() => {
        if (!this.#connected) reject(new Error('Centrifugo closed the connection before connect'));
      });
    });
  }

  subscribe(channel: string, resumeFrom?: { offset: number; epoch: string }): void {
    this.#send({
      subscribe: {
        channel,
        ...(resumeFrom === undefined ? {} : { recover: true, ...resumeFrom }),
      },
    });
  }

  unsubscribe(channel: string): void {
    this.#send({ unsubscribe: { channel } });
  }

  get closed(): boolean {
    return this.#socket.closed;
  }

  sample(callback: (payload: Buffer) => void): void {
    this.#sampler = callback;
  }

  close(): void {
    this.#socket.close();
  }

  #send(command: object): void {
    this.#socket.sendText(JSON.stringify({ id: ++this.#commandId, ...command }));
  }

  #frame(payload: Buffer): void {
    let start = 0;
    for (;;) {
      const end = payload.indexOf(newline, start);
      this.#line(payload, start, end < 0 ? payload.length : end);
      if (end < 0) break;
      start = end + 1;
    }
    this.#sampler?.(payload);
  }

  #line(payload: Buffer, start: number, stop: number): void {
    const length = stop - start;
    if (length === 0) return;
    if (length === 2 && payload[start] === openBrace && payload[start + 1] === closeBrace) {
      this.#socket.sendText('{}');
      return;
    }
    if (!this.#connected) {
      const text = payload.toString('utf8', start, stop);
      if (text.startsWith('{"id":1,"connect"')) {
        this.#connected = true;
        this.#onConnected?.();
      } else {
        this.#onRefused?.(new Error(`Centrifugo refused connect: ${text.slice(0, 300)}`));
        this.#socket.close();
      }
      return;
    }
    this.messages++;
    if (this.error === undefined && payload[start + 2] === replyMarker) {
      const text = payload.toString('utf8', start, Math.min(stop, start + 300));
      if (text.includes('"error":')) this.error = text;
    }
  }
}

interface Publication {
  readonly data?: { readonly s?: number; readonly t?: number };
  readonly offset?: number;
  readonly epoch?: string;
}

interface Message {
  readonly id?: number;
  readonly error?: { readonly code: number; readonly message: string };
  readonly subscribe?: {
    readonly epoch?: string;
    readonly offset?: number;
    readonly recovered?: boolean;
    readonly was_recovering?: boolean;
    readonly publications?: readonly Publication[];
  };
  readonly push?: { readonly channel: string; readonly pub?: Publication };
}

/** `offset:epoch`, the position `follow` reports and takes back. */
function position(offset: number | undefined, epoch: string): string {
  return `${offset ?? 0}:${epoch}`;
}

function parsePosition(text: string): { offset: number; epoch: string } {
  const colon = text.indexOf(':');
  return { offset: Number(text.slice(0, colon)), epoch: text.slice(colon + 1) };
}

export const centrifugoProtocol: ClientProtocol = {
  name: 'centrifugo',
  open: (port, localAddress) => new CentrifugoClient(port, localAddress),
  async follow(port, localAddress, channel, since, handlers: FollowHandlers) {
    const client = new CentrifugoClient(port, localAddress);
    await client.ready;
    let epoch = '';
    const publication = (pub: Publication): void => {
      if (pub.epoch !== undefined && pub.epoch !== '') epoch = pub.epoch;
      const seq = pub.data?.s;
      if (typeof seq === 'number') handlers.event(seq, position(pub.offset, epoch), pub.data?.t);
    };
    client.sample((payload) => {
      for (const line of payload.toString('utf8').split('\n')) {
        if (line === '' || line === '{}') continue;
        const message = JSON.parse(line) as Message;
        if (message.error !== undefined) {
          client.error ??= `${message.error.code} ${message.error.message}`;
        } else if (message.subscribe !== undefined) {
          const reply = message.subscribe;
          epoch = reply.epoch ?? '';
          // Recovered publications come inside the reply, before the live ones.
          for (const pub of reply.publications ?? []) publication(pub);
          handlers.subscribed(
            position(reply.offset, epoch),
            reply.was_recovering === true ? reply.recovered === true : undefined,
          );
        } else if (message.push?.pub !== undefined) {
          publication(message.push.pub);
        }
      }
    });
    client.subscribe(channel, since === undefined ? undefined : parsePosition(since));
    return client;
  },
};
