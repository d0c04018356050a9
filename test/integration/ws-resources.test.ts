/**
 * On-demand live resources over WebSocket end to end against the test
 * broker: a local counting upstream, a bridge process publishing through an
 * ingest, an edge process. A WebSocket-only subscriber (`resource` in a
 * Subscribe) gets the snapshot then patches as the upstream changes and
 * keeps the polling alive past the bridge's idleMs with no HTTP subscriber;
 * after it unsubscribes, or closes its socket, the polling stops. A
 * WebSocket and an SSE subscriber of the same URL share one lease. The
 * client library's `client.resource()` follows the same resource, in both
 * wire formats, and asks for the resource again after a reconnect.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient, type WebSocketConstructor } from '@fanout/client';
import { protoWireFormat } from '@fanout/client/proto';
import type { JsonValue, StateDocument } from '@fanout/shared';
import { applyStatePatch } from '@fanout/edge';
import WebSocket from 'ws';
import { SseClient } from '../support/edge-test-clients.js';
import type { EdgeProcess } from '../support/index.js';
import { startResourceStack, type ResourceStack } from '../support/resource-stack.js';

const pollMs = 200;
const idleMs = 300;
const leaseMs = 1000;

type Frame = Record<string, Record<string, unknown>>;

/** A raw `fanout.json.v1` socket: frames sent as objects, received in order. */
class JsonSocket {
  readonly socket: WebSocket;
  readonly #frames: Frame[] = [];
  #wake: (() => void) | undefined;
  readonly opened: Promise<void>;
  #requestId = 0;

  constructor(url: string, headers: Record<string, string> = {}) {
    this.socket = new WebSocket(url, 'fanout.json.v1', { headers });
    this.socket.on('message', (data: Buffer) => {
      this.#frames.push(JSON.parse(data.toString('utf8')) as Frame);
      this.#wake?.();
    });
    this.opened = new Promise((resolve, reject) => {
      this.socket.once('open', () => {
        resolve();
      });
      this.socket.once('error', reject);
    });
  }

  send(kind: string, body: Record<string, unknown>): number {
    const requestId = ++this.#requestId;
    this.socket.send(JSON.stringify({ [kind]: { requestId, ...body } }));
    return requestId;
  }

  /** The next frame of this kind (skipping others), within 20 s. */
  async next(kind: string): Promise<Record<string, unknown>> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const index = this.#frames.findIndex((frame) => kind in frame);
      if (index >= 0) {
        const [frame] = this.#frames.splice(index, 1);
        return frame?.[kind] ?? {};
      }
      const left = deadline - Date.now();
      if (left <= 0) assert.fail(`no ${kind} frame`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  async close(): Promise<void> {
    if (this.socket.readyState === WebSocket.CLOSED) return;
    const closed = new Promise((resolve) => this.socket.once('close', resolve));
    this.socket.close(1000);
    await closed;
  }
}

describe('on-demand resources over WebSocket', () => {
  let resources: ResourceStack;
  let edge: EdgeProcess;
  let origin = '';
  let documents: Map<string, JsonValue>;
  /** Polls per `path|x-api-key`. */
  let polls: Map<string, number>;

  before(async () => {
    resources = await startResourceStack({
      name: 'ws-resources',
      pollMs: pollMs,
      idleMs: idleMs,
      leaseMs: leaseMs,
      renewEveryMs: 300,
    });
    ({ edge, origin, documents, polls } = resources);
  });

  after(async () => {
    await resources.stop();
  });

  function wsUrl(): string {
    return `${edge.httpBase.replace(/^http/, 'ws')}/v1/ws`;
  }

  async function until(check: () => Promise<boolean> | boolean, what: string): Promise<void> {
    for (let i = 0; i < 200; i++) {
      if (await check()) return;
      await sleep(100);
    }
    assert.fail(`never: ${what}`);
  }

  /** Polls of `key` during `ms`. */
  async function pollsDuring(key: string, ms: number): Promise<number> {
    const start = polls.get(key) ?? 0;
    await sleep(ms);
    return (polls.get(key) ?? 0) - start;
  }

  async function leases(): Promise<number> {
    return resources.edgeMetric('fanout_edge_resource_leases');
  }

  /** Subscribes `resource` and reads the snapshot (and the first state if it had none). */
  async function subscribeResource(
    socket: JsonSocket,
    resource: string,
  ): Promise<{ channel: string; statusChannel: string; held: StateDocument; position: string }> {
    await socket.next('connected');
    const requestId = socket.send('subscribe', { subscriptions: [{ resource }] });
    const subscribed = await socket.next('subscribed');
    assert.equal(subscribed['requestId'], requestId);
    const [state] = subscribed['subscriptions'] as Record<string, unknown>[];
    assert.ok(state !== undefined);
    const channel = String(state['channel']);
    const snapshot = state['snapshot'] as { state: JsonValue; exists: boolean; position: string };
    let held: StateDocument = snapshot.exists ? snapshot.state : undefined;
    let position = snapshot.position;
    if (!snapshot.exists) {
      const patch = await socket.next('patch');
      const applied = applyStatePatch(held, patch['patch']);
      assert.ok(applied.ok);
      held = applied.document;
      position = String(patch['position']);
    }
    assert.equal(state['resource'], resource);
    return { channel, statusChannel: String(state['statusChannel']), held, position };
  }

  it('a WebSocket-only subscriber gets the snapshot then patches and keeps the polling alive until it unsubscribes', async () => {
    const path = '/ws/1';
    const key = `${path}|k1`;
    documents.set(path, { n: 1, note: 'a note long enough for patches to be worth it' });
    const socket = new JsonSocket(wsUrl(), { 'x-api-key': 'k1' });
    try {
      await socket.opened;
      const opened = await subscribeResource(socket, `${origin}${path}`);
      const { channel } = opened;
      let { held } = opened;
      assert.match(channel, /^resources\.[a-z2-7]{26}$/);
      assert.equal(opened.statusChannel, `${channel}.status`);
      assert.deepEqual(held, { n: 1, note: 'a note long enough for patches to be worth it' });
      // The same URL with the header the HTTP route forwards names the same channel.
      const http = await fetch(
        `${edge.httpBase}/v1/resources?url=${encodeURIComponent(`${origin}${path}`)}`,
        { headers: { 'x-api-key': 'k1' } },
      );
      assert.equal(http.headers.get('fanout-channel'), channel);
      await http.text();

      for (const n of [2, 3]) {
        const next = { n, note: 'a note long enough for patches to be worth it' };
        documents.set(path, next);
        const patch = await socket.next('patch');
        assert.equal(patch['channel'], channel);
        const applied = applyStatePatch(held, patch['patch']);
        assert.ok(applied.ok);
        held = applied.document;
        assert.deepEqual(held, next);
      }

      // Well past the lease and idleMs, with no HTTP subscriber: still polled.
      await sleep(leaseMs + idleMs + 1000);
      assert.ok((await pollsDuring(key, 1000)) >= 1, 'still polled while the socket subscribes');
      assert.equal(await leases(), 1);

      const unsubscribe = socket.send('unsubscribe', { channels: [channel] });
      const unsubscribed = await socket.next('unsubscribed');
      assert.equal(unsubscribed['requestId'], unsubscribe);
      assert.deepEqual(unsubscribed['channels'], [channel]);
      await until(async () => (await leases()) === 0, 'the lease released after unsubscribe');
      const stopped = await resources.settledPolls(key);
      await sleep(1500);
      assert.equal(polls.get(key), stopped, 'no poll after the lease ended and idleMs passed');
      // The socket is still open and usable.
      socket.send('ping', {});
      await socket.next('pong');
    } finally {
      await socket.close();
    }
  });

  it('closing the socket releases the lease and the polling stops', async () => {
    const path = '/ws/2';
    const key = `${path}|`;
    documents.set(path, { n: 1 });
    const socket = new JsonSocket(wsUrl());
    await socket.opened;
    await subscribeResource(socket, `${origin}${path}`);
    await sleep(leaseMs + idleMs + 500);
    assert.ok((await pollsDuring(key, 1000)) >= 1, 'polled while subscribed');
    await socket.close();
    await until(async () => (await leases()) === 0, 'the lease released after the close');
    const stopped = await resources.settledPolls(key);
    await sleep(1500);
    assert.equal(polls.get(key), stopped, 'no poll after the socket closed and idleMs passed');
  });

  it('a WebSocket and an SSE subscriber of the same URL share one lease and one poller', async () => {
    const path = '/ws/3';
    const key = `${path}|k3`;
    documents.set(path, { n: 1 });
    const socket = new JsonSocket(wsUrl(), { 'x-api-key': 'k3' });
    await socket.opened;
    const { channel } = await subscribeResource(socket, `${origin}${path}`);
    const sse = await SseClient.open(
      `${edge.httpBase}/v1/resources?url=${encodeURIComponent(`${origin}${path}`)}`,
      { 'x-api-key': 'k3' },
    );
    try {
      assert.equal(sse.response.headers.get('fanout-channel'), channel);
      await sse.take(1, (event) => event.event === 'snapshot');
      assert.equal(await leases(), 1, 'one lease for both');
      const polled = await pollsDuring(key, 3000);
      assert.ok(polled >= 1, 'polled while subscribed');
      assert.ok(polled <= 3000 / pollMs + 3, `${polled} polls in 3 s: one poller, not two`);
      // The SSE stream leaving keeps the WebSocket's hold.
      await sse.close();
      await sleep(leaseMs + idleMs + 500);
      assert.equal(await leases(), 1);
      assert.ok((await pollsDuring(key, 1000)) >= 1, 'still polled for the WebSocket');
    } finally {
      await sse.close();
      await socket.close();
    }
    await until(async () => (await leases()) === 0, 'the lease released after both left');
  });

  it('refuses a resource with a channel, and answers upstream_refused for that subscription alone', async () => {
    const socket = new JsonSocket(wsUrl());
    try {
      await socket.opened;
      await socket.next('connected');
      const both = socket.send('subscribe', {
        subscriptions: [{ channel: 'rooms.1', resource: `${origin}/x` }],
      });
      const invalid = await socket.next('error');
      assert.equal(invalid['requestId'], both);
      assert.equal(invalid['code'], 'invalid_argument');
      const refused = socket.send('subscribe', {
        subscriptions: [
          { resource: 'https://example.com/x' },
          { channel: 'rooms.2', snapshot: true },
        ],
      });
      const error = await socket.next('error');
      assert.equal(error['requestId'], refused);
      assert.equal(error['code'], 'upstream_refused');
      assert.match(String(error['channel']), /^resources\./);
      const subscribed = await socket.next('subscribed');
      assert.deepEqual(
        (subscribed['subscriptions'] as { channel: string }[]).map((state) => state.channel),
        ['rooms.2'],
      );
      assert.equal(await leases(), 0);
    } finally {
      await socket.close();
    }
  });

  for (const [format, options] of [
    ['JSON', {}],
    ['protobuf', { wireFormat: protoWireFormat }],
  ] as const) {
    it(`client.resource() keeps the document current over WebSocket ${format} and asks for the resource again after a reconnect`, async () => {
      const path = `/client/${format}`;
      const key = `${path}|`;
      documents.set(path, { price: 1 });
      const sockets: WebSocket[] = [];
      const sent: string[] = [];
      /** `ws` that keeps each socket and what the client sends (JSON frames). */
      class Recording extends WebSocket {
        constructor(url: string, protocols: string | string[]) {
          super(url, protocols);
          sockets.push(this);
        }
        override send(data: string | Uint8Array): void {
          if (typeof data === 'string') sent.push(data);
          super.send(data);
        }
      }
      const client = createClient({
        url: edge.httpBase,
        transports: ['websocket'],
        WebSocket: Recording as unknown as WebSocketConstructor,
        ...options,
      });
      try {
        const resource = client.resource(`${origin}${path}`);
        await resource.ready();
        if (!resource.exists) await until(() => resource.exists, 'the first state');
        assert.deepEqual(resource.value, { price: 1 });
        assert.match(resource.channel, /^resources\.[a-z2-7]{26}$/);
        assert.equal(resource.statusChannel, `${resource.channel}.status`);
        assert.equal(resource.resource, `${origin}${path}`);
        documents.set(path, { price: 2 });
        await until(() => JSON.stringify(resource.value) === '{"price":2}', 'the change');

        // The socket drops: the client reconnects and asks for the resource again.
        const first = sockets[0];
        assert.ok(first !== undefined);
        first.terminate();
        await until(
          () => sockets.length >= 2 && client.status.state === 'connected',
          'a reconnect',
        );
        documents.set(path, { price: 3 });
        await until(() => JSON.stringify(resource.value) === '{"price":3}', 'the change after it');
        if (format === 'JSON') {
          const subscribes = sent.filter((frame) => frame.includes('"subscribe"'));
          assert.equal(subscribes.length, 2);
          for (const frame of subscribes) assert.ok(frame.includes('"resource"'), frame);
        }
        assert.equal(resource.gaps, 0);
        // Past the lease and idleMs, with the first socket gone: polled for the second one.
        await sleep(leaseMs + idleMs + 500);
        assert.ok((await pollsDuring(key, 1000)) >= 1, 'polled for the new connection');
        assert.equal(await leases(), 1);

        resource.close();
        await until(async () => (await leases()) === 0, 'the lease released after close()');
      } finally {
        client.close();
      }
    });
  }
});
