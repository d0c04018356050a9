/**
 * The benchmark's client for the fanout edge and the naive baseline: the
 * subset of `fanout.json.v1` both speak (`subscribe`, `subscribed`,
 * `event`, `unsubscribe`) over `/v1/ws`, one message per frame, so a
 * counting connection counts frames by their headers (`RawWsClient`).
 * FANOUT_BENCH_WS_SUBPROTOCOL=fanout.json.v2 makes the edge's connections
 * take batch frames (the naive baseline does not speak it).
 */
import { RawWsClient } from '../support/raw-ws-client.js';
import type { BenchClient, ClientProtocol, FollowHandlers } from './bench-client.js';

/** The subprotocol of the edge's benchmark connections: `fanout.json.v1` unless set. */
export const benchSubprotocol = process.env['FANOUT_BENCH_WS_SUBPROTOCOL'] ?? 'fanout.json.v1';

class FanoutClient implements BenchClient {
  readonly ready: Promise<void>;
  readonly error = undefined;
  readonly #socket: RawWsClient;
  #requestId = 0;

  constructor(port: number, localAddress: string | undefined) {
    this.#socket = new RawWsClient(port, '/v1/ws', benchSubprotocol, localAddress);
    this.ready = this.#socket.ready;
  }

  get messages(): number {
    return this.#socket.frames;
  }

  get closed(): boolean {
    return this.#socket.closed;
  }

  subscribe(channel: string, since?: string): void {
    this.#socket.sendText(
      JSON.stringify({
        subscribe: {
          requestId: ++this.#requestId,
          subscriptions: [{ channel, ...(since === undefined ? {} : { since }) }],
        },
      }),
    );
  }

  unsubscribe(channel: string): void {
    this.#socket.sendText(
      JSON.stringify({ unsubscribe: { requestId: ++this.#requestId, channels: [channel] } }),
    );
  }

  sample(callback: (payload: Buffer) => void): void {
    this.#socket.sample(callback);
  }

  close(): void {
    this.#socket.close();
  }
}

export const fanoutProtocol: ClientProtocol = {
  name: 'fanout',
  open: (port, localAddress) => new FanoutClient(port, localAddress),
  async follow(port, localAddress, channel, since, handlers: FollowHandlers) {
    const client = new FanoutClient(port, localAddress);
    await client.ready;
    client.sample((payload) => {
      const text = payload.toString('latin1');
      const position = /"position":"([^"]+)"[}\]]*$/.exec(text)?.[1];
      if (text.startsWith('{"subscribed"')) {
        handlers.subscribed(position, undefined);
        return;
      }
      if (!text.startsWith('{"event"')) return;
      const seq = Number(/"s":(\d+)/.exec(text)?.[1] ?? -1);
      const sentAt = /"t":([\d.]+)/.exec(text)?.[1];
      if (seq >= 0)
        handlers.event(seq, position, sentAt === undefined ? undefined : Number(sentAt));
    });
    client.subscribe(channel, since);
    return client;
  },
};
