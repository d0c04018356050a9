/**
 * @fanout/client against a real broker, ingest and edge process: the same
 * subscription API over every transport, fallback when WebSocket (and SSE)
 * are blocked by a proxy, resume after the edge restarts, reset handling,
 * dedupe across a reconnect, terminal errors and backoff bounds.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  createClient,
  isFanoutError,
  type ClientOptions,
  type ClientStatus,
  type FanoutClient,
  type FanoutEvent,
  type Subscription,
  type WebSocketConstructor,
} from '@fanout/client';
import { protoWireFormat } from '@fanout/client/proto';
import WebSocket from 'ws';
import {
  hs256Token,
  nowSeconds,
  startBlockingProxy,
  startEdgeProcess,
  startIngest,
  startTcpForwarder,
  stopOwnKafka,
  testKafka,
  type EdgeProcess,
  type IngestHarness,
  type TcpForwarder,
  type TestKafka,
} from '../support/index.js';
import { partitionForChannel } from '@fanout/shared';

const webSocket = WebSocket as unknown as WebSocketConstructor;
const secret = 'client-test-hs256-secret-0123456789abcdef';

/** Collects a subscription's events and waits for counts. */
class Received {
  readonly events: FanoutEvent[] = [];
  readonly #waiters = new Set<() => void>();

  add(event: FanoutEvent): void {
    this.events.push(event);
    for (const wake of this.#waiters) wake();
  }

  async count(n: number, timeoutMs = 30_000): Promise<FanoutEvent[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.events.length < n) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`received ${this.events.length} of ${n} events`);
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          this.#waiters.delete(wake);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.#waiters.add(wake);
      });
    }
    return this.events;
  }
}

async function statusOf(
  client: FanoutClient,
  check: (status: ClientStatus) => boolean,
  timeoutMs = 30_000,
): Promise<ClientStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (check(client.status)) return client.status;
    if (Date.now() > deadline) throw new Error(`status stayed ${JSON.stringify(client.status)}`);
    await sleep(20);
  }
}

describe('@fanout/client', () => {
  let kafka: TestKafka;
  let topic: string;
  let ingest: IngestHarness;
  let edge: EdgeProcess;
  /** The stable address of `edge`, which tests replace. */
  let front: TcpForwarder;
  const clients: FanoutClient[] = [];

  const unique = (name: string): string => `client.${name}.${randomBytes(3).toString('hex')}`;

  function client(options: Partial<ClientOptions> = {}): FanoutClient {
    const made = createClient({
      url: front.url,
      WebSocket: webSocket,
      backoff: { initialMs: 100, maxMs: 1000 },
      longPollWaitSeconds: 2,
      ...options,
    });
    clients.push(made);
    return made;
  }

  async function publish(channel: string, count: number, type = 'tick'): Promise<string[]> {
    const response = await fetch(`${ingest.httpBase}/v1/channels/${channel}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        events: Array.from({ length: count }, (_, n) => ({ type, data: { n } })),
      }),
    });
    assert.equal(response.status, 200, await response.clone().text());
    const body = (await response.json()) as { results: { id: string }[] };
    return body.results.map((result) => result.id);
  }

  function follow(subscription: Subscription): Received {
    const received = new Received();
    void (async () => {
      try {
        for await (const event of subscription) received.add(event);
      } catch {
        // ended with an error: asserted where it matters
      }
    })();
    return received;
  }

  async function subscribed(subscription: Subscription): Promise<void> {
    for (let i = 0; i < 1500 && subscription.state !== 'active'; i++) await sleep(20);
    assert.equal(subscription.state, 'active');
  }

  before(async () => {
    kafka = await testKafka();
    topic = await kafka.createTopic({ name: 'client', partitions: 3 });
    ingest = await startIngest({ brokers: kafka.brokers, topic, partitions: 3 });
    edge = await startEdgeProcess({ brokers: kafka.brokers, topic });
    front = await startTcpForwarder(edge.port);
  });

  /** Kills the edge; `restart` starts a new one behind the same address. */
  async function killEdge(): Promise<{ restart: () => Promise<void> }> {
    front.retarget(undefined);
    await edge.kill('SIGKILL');
    return {
      restart: async () => {
        edge = await startEdgeProcess({ brokers: kafka.brokers, topic });
        front.retarget(edge.port);
      },
    };
  }

  after(async () => {
    for (const made of clients) made.close();
    await front.close();
    await edge.kill('SIGTERM');
    await ingest.stop();
    await kafka.close();
    await stopOwnKafka();
  });

  for (const [name, options] of [
    ['WebSocket JSON', { transports: ['websocket'] }],
    ['WebSocket protobuf', { transports: ['websocket'], wireFormat: protoWireFormat }],
    ['SSE', { transports: ['sse'] }],
    ['long-poll', { transports: ['long-poll'] }],
  ] as const) {
    it(`delivers every event in order with its position over ${name}`, async () => {
      const channel = unique('order');
      const made = client(options);
      const subscription = made.subscribe(channel);
      const received = follow(subscription);
      await subscribed(subscription);
      const ids = await publish(channel, 5);
      const events = await received.count(5);
      assert.deepEqual(
        events.map((event) => event.id),
        ids,
      );
      assert.deepEqual(
        events.map((event) => event.data),
        [0, 1, 2, 3, 4].map((n) => ({ n })),
      );
      assert.equal(subscription.position, events[4]?.position);
      assert.equal(made.status.state, 'connected');
      assert.equal(made.status.transport, options.transports[0]);
      made.close();
    });
  }

  for (const [name, options] of [
    ['WebSocket JSON', { transports: ['websocket'] }],
    ['WebSocket protobuf', { transports: ['websocket'], wireFormat: protoWireFormat }],
    ['SSE', { transports: ['sse'] }],
    ['long-poll', { transports: ['long-poll'] }],
  ] as const) {
    it(`starts with the channel's last events (rewind), then live ones, over ${name}`, async () => {
      const channel = unique('rewind');
      const ids = await publish(channel, 5);
      const made = client(options);
      const subscription = made.subscribe(channel, { rewind: 3 });
      const received = follow(subscription);
      await subscribed(subscription);
      assert.deepEqual(
        (await received.count(3)).map((event) => event.id),
        ids.slice(-3),
      );
      const live = await publish(channel, 2);
      assert.deepEqual(
        (await received.count(5)).map((event) => event.id),
        [...ids.slice(-3), ...live],
      );
      assert.throws(
        () => made.subscribe('client.rewind.*', { rewind: 1 }),
        (error: unknown) => isFanoutError(error) && error.code === 'invalid_argument',
      );
      made.close();
    });
  }

  it('falls back to SSE when a proxy refuses the WebSocket upgrade, and to long-poll when it also blocks SSE', async () => {
    const wsBlocked = await startBlockingProxy({ target: front.url });
    const bothBlocked = await startBlockingProxy({ target: front.url, blockSse: true });
    try {
      for (const [proxy, transport] of [
        [wsBlocked, 'sse'],
        [bothBlocked, 'long-poll'],
      ] as const) {
        const channel = unique('fallback');
        const made = client({ url: proxy.url });
        const subscription = made.subscribe(channel, {
          onEvent: () => {},
        });
        const received = follow(subscription);
        const status = await statusOf(made, (s) => s.state === 'connected');
        assert.equal(status.transport, transport);
        await subscribed(subscription);
        const ids = await publish(channel, 3);
        assert.deepEqual(
          (await received.count(3)).map((event) => event.id),
          ids,
        );
        assert.ok(proxy.refusedUpgrades() >= 1, 'the WebSocket was tried first');
        made.close();
      }
    } finally {
      await wsBlocked.close();
      await bothBlocked.close();
    }
  });

  it('resumes after the edge restarts, with no missing and no repeated event', async () => {
    const channel = unique('restart');
    const made = client();
    const statuses: ClientStatus[] = [];
    made.onStatus((status) => statuses.push(status));
    const subscription = made.subscribe(channel);
    const received = follow(subscription);
    await subscribed(subscription);
    const before = await publish(channel, 5);
    await received.count(5);
    const killed = await killEdge();
    await statusOf(made, (s) => s.state === 'disconnected');
    const whileDown = await publish(channel, 5);
    await killed.restart();
    const afterRestart = await publish(channel, 5);
    const events = await received.count(15, 60_000);
    await sleep(300);
    assert.deepEqual(
      received.events.map((event) => event.id),
      [...before, ...whileDown, ...afterRestart],
    );
    assert.equal(events.length, 15);
    assert.ok(
      statuses.some((status) => status.state === 'resuming'),
      'the client said it was resuming',
    );
    made.close();
  });

  for (const [name, options] of [
    ['JSON', { transports: ['websocket'] }],
    ['protobuf', { transports: ['websocket'], wireFormat: protoWireFormat }],
  ] as const) {
    it(`resumes a pattern over WebSocket ${name} after the edge restarts: every event of every partition once`, async () => {
      const namespace = unique(`pattern-${name.toLowerCase()}`);
      // Channels below the namespace on every partition.
      const channels: string[] = [];
      const covered = new Set<number>();
      for (let index = 0; covered.size < 3 || channels.length < 4; index++) {
        const channel = `${namespace}.c${index}`;
        covered.add(partitionForChannel(channel, 3));
        channels.push(channel);
      }
      const publishAll = async (): Promise<string[]> =>
        (await Promise.all(channels.map((channel) => publish(channel, 2)))).flat();
      const made = client(options);
      const subscription = made.subscribe(`${namespace}.*`);
      const received = follow(subscription);
      await subscribed(subscription);
      assert.equal(
        subscription.position?.split(',').length,
        3,
        'the pattern holds a cursor of every partition',
      );
      const before = await publishAll();
      await received.count(before.length);
      const killed = await killEdge();
      await statusOf(made, (s) => s.state === 'disconnected');
      const whileDown = await publishAll();
      await killed.restart();
      await statusOf(made, (s) => s.state === 'connected');
      const afterRestart = await publishAll();
      const expected = [...before, ...whileDown, ...afterRestart];
      await received.count(expected.length, 60_000);
      await sleep(300);
      assert.deepEqual(
        received.events.map((event) => event.id).sort(),
        [...expected].sort(),
        'every event once, none missed while the edge was down',
      );
      assert.equal(subscription.state, 'active', 'no reset: the pattern resumed');
      made.close();
    });
  }

  it('hands a reset to the onReset hook, then goes on from where the hook says', async () => {
    const channel = unique('reset');
    await publish(channel, 2);
    const made = client();
    const resets: string[] = [];
    const subscription = made.subscribe(channel, {
      since: `AAAAAAAAAAAAAAAAAAAAAA:${partitionForChannel(channel, 3)}:0`,
      onReset: (reset) => {
        resets.push(reset.code);
        return undefined;
      },
    });
    const received = follow(subscription);
    await subscribed(subscription);
    assert.deepEqual(resets, ['position_epoch_mismatch']);
    const ids = await publish(channel, 2);
    assert.deepEqual(
      (await received.count(2)).map((event) => event.id),
      ids,
    );
    made.close();
  });

  it('ends a subscription with the reset as a typed error when there is no hook', async () => {
    const made = client({ transports: ['sse'] });
    const channel = unique('reset');
    const subscription = made.subscribe(channel, {
      since: `AAAAAAAAAAAAAAAAAAAAAA:${partitionForChannel(channel, 3)}:3`,
    });
    await assert.rejects(
      (async () => {
        for await (const event of subscription) assert.fail(`unexpected ${event.id}`);
      })(),
      (error: unknown) => isFanoutError(error) && error.code === 'position_epoch_mismatch',
    );
    assert.equal(subscription.state, 'ended');
    made.close();
  });

  it('drops events delivered again across a reconnect, by id', async () => {
    const channel = unique('dedupe');
    const made = client({ transports: ['websocket'] });
    const subscription = made.subscribe(channel);
    const received = follow(subscription);
    await subscribed(subscription);
    await publish(channel, 5);
    const first = await received.count(5);
    // Make the client resume from an older position, as after a lost
    // acknowledgement: the edge sends the last three events again.
    subscription.moveTo(first[1]!.position);
    await (await killEdge()).restart();
    for (let i = 0; i < 1500 && subscription.duplicatesDropped < 3; i++) await sleep(20);
    assert.equal(subscription.duplicatesDropped, 3);
    const more = await publish(channel, 1);
    await received.count(6);
    await sleep(200);
    assert.equal(received.events.length, 6);
    assert.equal(received.events[5]?.id, more[0]);
    made.close();
  });

  it('stops with a typed error on terminal closes and refused subscriptions', async () => {
    const secured = await startEdgeProcess({
      brokers: kafka.brokers,
      topic,
      env: { FANOUT_EDGE_AUTH_REQUIRED: 'true', FANOUT_AUTH_JWT_HS256_SECRET: secret },
    });
    try {
      for (const transports of [['websocket'], ['sse'], ['long-poll']] as const) {
        const anonymous = client({ url: secured.httpBase, transports, token: () => 'not.a.jwt' });
        const subscription = anonymous.subscribe(unique('auth'));
        const status = await statusOf(anonymous, (s) => s.state === 'closed');
        assert.equal(status.error?.code, 'unauthenticated', transports[0]);
        assert.equal(subscription.error?.code, 'unauthenticated');
      }
      let calls = 0;
      const limited = client({
        url: secured.httpBase,
        token: () => {
          calls++;
          return hs256Token(secret, {
            sub: 'reader',
            exp: nowSeconds() + 600,
            fanout_subscribe: ['client'],
          });
        },
      });
      const forbidden = limited.subscribe('other.channel');
      const allowed = limited.subscribe(unique('auth'));
      const received = follow(allowed);
      await subscribed(allowed);
      for (let i = 0; i < 500 && forbidden.state !== 'ended'; i++) await sleep(20);
      assert.equal(forbidden.error?.code, 'permission_denied');
      assert.equal(
        limited.status.state,
        'connected',
        'one refused channel does not end the client',
      );
      const ids = await publish(allowed.channel, 1);
      assert.equal((await received.count(1))[0]?.id, ids[0]);
      assert.equal(calls, 1);
    } finally {
      await secured.kill('SIGTERM');
    }
  });

  it('refreshes the token before it expires, over the open WebSocket', async () => {
    const secured = await startEdgeProcess({
      brokers: kafka.brokers,
      topic,
      env: { FANOUT_EDGE_AUTH_REQUIRED: 'true', FANOUT_AUTH_JWT_HS256_SECRET: secret },
    });
    try {
      const reasons: string[] = [];
      const made = client({
        url: secured.httpBase,
        transports: ['websocket'],
        tokenRefreshMarginMs: 3_000,
        token: ({ reason }) => {
          reasons.push(reason);
          return hs256Token(secret, {
            sub: 'reader',
            exp: nowSeconds() + 5,
            fanout_subscribe: ['client'],
          });
        },
      });
      const subscription = made.subscribe(unique('refresh'));
      const received = follow(subscription);
      await subscribed(subscription);
      for (let i = 0; i < 500 && !reasons.includes('refresh'); i++) await sleep(20);
      assert.ok(reasons.includes('refresh'), `reasons: ${reasons.join(',')}`);
      // Past the first token's expiry the connection is still the same one.
      await sleep(3_500);
      const ids = await publish(subscription.channel, 1);
      assert.equal((await received.count(1))[0]?.id, ids[0]);
      assert.equal(reasons.filter((reason) => reason === 'connect').length, 1);
      made.close();
    } finally {
      await secured.kill('SIGTERM');
    }
  });

  it('waits between attempts within the backoff bounds while no edge answers', async () => {
    const proxy = await startBlockingProxy({ target: front.url });
    const closedUrl = proxy.url;
    await proxy.close();
    const made = client({ url: closedUrl, backoff: { initialMs: 50, maxMs: 400 } });
    const waits: number[] = [];
    made.onStatus((status) => {
      if (status.state === 'disconnected' && status.retryInMs !== undefined) {
        waits.push(status.retryInMs);
      }
    });
    made.subscribe(unique('backoff'));
    for (let i = 0; i < 500 && waits.length < 15; i++) await sleep(20);
    made.close();
    assert.ok(waits.length >= 15, `only ${waits.length} attempts`);
    for (const wait of waits) assert.ok(wait >= 0 && wait < 400, `wait ${wait}`);
  });
});
