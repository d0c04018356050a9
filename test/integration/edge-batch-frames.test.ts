/**
 * Batch frames against a real broker and edge: WebSocket clients of
 * `fanout.json.v1` / `fanout.proto.v1` (one event per frame) and of
 * `fanout.json.v2` / `fanout.proto.v2` (the events of one delivery in one
 * `batch` frame) side by side on one channel receive identical event
 * sequences, live and resumed; the subprotocol is the client's first
 * choice; and `@fanout/client` asks for batches and hands the events over
 * one by one, in order, as it does without them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  createClient,
  type FanoutClient,
  type FanoutEvent,
  type WebSocketConstructor,
} from '@fanout/client';
import { protoWireFormat } from '@fanout/client/proto';
import { ClientFrame, wsJsonCodec, wsProtoCodec } from '@fanout/shared';
import WebSocket from 'ws';
import { publishEvents, uniqueChannel } from '../support/edge-test-clients.js';
import { startEdgeStack, TestSocket, type EdgeStack, type WsFrame } from '../support/index.js';

const subprotocols = ['fanout.json.v1', 'fanout.json.v2', 'fanout.proto.v1', 'fanout.proto.v2'];

/** A socket of one subprotocol: the positions of the events it received, and how. */
class Follower {
  readonly socket: TestSocket;
  readonly positions: string[] = [];
  eventFrames = 0;
  batchFrames = 0;
  readonly #proto: boolean;

  constructor(url: string, protocol: string | string[]) {
    this.socket = new TestSocket(url, protocol);
    this.#proto = (Array.isArray(protocol) ? protocol[0] : protocol)?.includes('proto') === true;
  }

  get protocol(): string {
    return this.socket.socket.protocol;
  }

  subscribe(channel: string, since?: string): void {
    const request = { channel, ...(since === undefined ? {} : { since }) };
    if (this.#proto) {
      this.socket.socket.send(
        wsProtoCodec.encodeClientFrame({
          kind: 'subscribe',
          requestId: 1,
          subscriptions: [request],
        }),
      );
    } else {
      this.socket.sendJson({ subscribe: { requestId: 1, subscriptions: [request] } });
    }
  }

  #read(frame: WsFrame): number | undefined {
    const message = frame.binary
      ? wsProtoCodec.decodeServerFrame(new Uint8Array(frame.data))
      : wsJsonCodec.decodeServerFrame(frame.data.toString('utf8'));
    if (message.kind === 'subscribed') return 0;
    if (message.kind === 'event') {
      this.eventFrames++;
      this.positions.push(message.event.position);
      return 1;
    }
    if (message.kind === 'batch') {
      this.batchFrames++;
      this.positions.push(...message.events.map((event) => event.position));
      return message.events.length;
    }
    return undefined;
  }

  async subscribed(): Promise<void> {
    await this.socket.take(1, (frame) => (this.#read(frame) === 0 ? true : undefined));
  }

  /** Reads until `count` events in all arrived. */
  async events(count: number): Promise<string[]> {
    while (this.positions.length < count) {
      await this.socket.take(1, (frame) => this.#read(frame));
    }
    assert.equal(this.positions.length, count, 'no more events than published');
    return this.positions;
  }
}

describe('batch frames', () => {
  let stack: EdgeStack;

  before(async () => {
    stack = await startEdgeStack({ name: 'batch', partitions: 2 });
  });

  after(() => stack.stop());

  it('chooses the first subprotocol the client offers', async () => {
    for (const offered of [
      ['fanout.json.v2', 'fanout.json.v1'],
      ['fanout.json.v1', 'fanout.json.v2'],
      ['fanout.proto.v2', 'fanout.proto.v1'],
    ]) {
      const socket = new TestSocket(stack.edge.wsUrl, offered);
      await socket.opened;
      assert.equal(socket.socket.protocol, offered[0]);
      socket.close();
    }
  });

  it('gives plain and batch clients of one channel identical sequences, live and resumed', async () => {
    const channel = uniqueChannel('batch.same');
    const live = subprotocols.map((protocol) => new Follower(stack.edge.wsUrl, protocol));
    await Promise.all(live.map((follower) => follower.socket.opened));
    for (const follower of live) follower.subscribe(channel);
    await Promise.all(live.map((follower) => follower.subscribed()));
    const published: string[] = [];
    // Each call is one Kafka batch: its events reach the edge in one fetch.
    for (let call = 0; call < 4; call++) {
      published.push(
        ...(await publishEvents(
          stack.ingest,
          Array.from({ length: 25 }, () => ({ channel, bytes: 64 })),
        )),
      );
    }
    for (const follower of live) {
      assert.deepEqual(await follower.events(published.length), published, follower.protocol);
    }
    for (const follower of live) {
      const batch = follower.protocol.endsWith('.v2');
      if (batch) {
        assert.ok(follower.batchFrames > 0, `${follower.protocol}: batch frames`);
        assert.ok(
          follower.batchFrames + follower.eventFrames < published.length,
          `${follower.protocol}: fewer frames than events`,
        );
      } else {
        assert.equal(follower.batchFrames, 0, `${follower.protocol}: no batch frame`);
        assert.equal(follower.eventFrames, published.length);
      }
    }
    // Resumed from before the first event: the catch-up, then live, the same for all.
    const resumed = subprotocols.map((protocol) => new Follower(stack.edge.wsUrl, protocol));
    await Promise.all(resumed.map((follower) => follower.socket.opened));
    const [epoch, partition, offset] = (published[0] ?? '').split(':');
    const since = `${epoch}:${partition}:${Number(offset) - 1}`;
    for (const follower of resumed) follower.subscribe(channel, since);
    await Promise.all(resumed.map((follower) => follower.subscribed()));
    const more = await publishEvents(
      stack.ingest,
      Array.from({ length: 25 }, () => ({ channel, bytes: 64 })),
    );
    const all = [...published, ...more];
    for (const follower of [...live, ...resumed]) {
      assert.deepEqual(await follower.events(all.length), all, follower.protocol);
      follower.socket.close();
    }
    const batched = resumed.filter((follower) => follower.protocol.endsWith('.v2'));
    for (const follower of batched) {
      assert.ok(
        follower.batchFrames + follower.eventFrames < all.length,
        `${follower.protocol}: the catch-up came in batches`,
      );
    }
  });

  it('refuses nothing a v1 client sends on v2: the client frames are the same', async () => {
    const socket = new TestSocket(stack.edge.wsUrl, 'fanout.proto.v2');
    await socket.opened;
    socket.socket.send(ClientFrame.encode({ ping: { requestId: 9 } }).finish());
    const [pong] = await socket.take(1, (frame) => {
      const message = wsProtoCodec.decodeServerFrame(new Uint8Array(frame.data));
      return message.kind === 'pong' ? message : undefined;
    });
    assert.equal(pong?.requestId, 9);
    socket.close();
  });

  it('@fanout/client asks for batches and hands over the same events as without them', async () => {
    const channel = uniqueChannel('batch.client');
    /** The subprotocol each client's socket got. */
    const chosen: string[] = [];
    class RecordingWebSocket extends WebSocket {
      constructor(url: string, protocols: string | string[]) {
        super(url, protocols);
        this.once('open', () => chosen.push(this.protocol));
      }
    }
    const webSocket = RecordingWebSocket as unknown as WebSocketConstructor;
    const clients: FanoutClient[] = [];
    const received: FanoutEvent[][] = [];
    const done: Promise<void>[] = [];
    const count = 60;
    // Every client resumes after the same position: what it receives does not depend on when it subscribed.
    const [since] = await publishEvents(stack.ingest, [{ channel }]);
    const published = [
      ...(await publishEvents(
        stack.ingest,
        Array.from({ length: count / 2 }, () => ({ channel })),
      )),
      ...(await publishEvents(
        stack.ingest,
        Array.from({ length: count / 2 }, () => ({ channel })),
      )),
    ];
    for (const options of [
      { batchFrames: false },
      { batchFrames: true },
      { batchFrames: true, wireFormat: protoWireFormat },
    ]) {
      const client = createClient({
        url: stack.edge.httpBase,
        transports: ['websocket'],
        WebSocket: webSocket,
        ...options,
      });
      clients.push(client);
      const events: FanoutEvent[] = [];
      received.push(events);
      const subscription = client.subscribe(channel, since === undefined ? {} : { since });
      done.push(
        (async () => {
          for await (const event of subscription) {
            events.push(event);
            if (events.length === count) break;
          }
        })(),
      );
    }
    try {
      await Promise.all(done);
      for (const events of received) {
        assert.deepEqual(
          events.map((event) => event.position),
          published,
        );
      }
      assert.deepEqual(received[1], received[0], 'the same events, JSON with and without batches');
      assert.deepEqual(chosen.sort(), ['fanout.json.v1', 'fanout.json.v2', 'fanout.proto.v2']);
      assert.deepEqual(
        received[2]?.map((event) => event.id),
        received[0]?.map((event) => event.id),
      );
    } finally {
      for (const client of clients) client.close();
    }
  });
});
