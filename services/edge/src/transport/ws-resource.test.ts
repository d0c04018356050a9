/**
 * WebSocket resource subscriptions (`resource` in a Subscribe) at the edge,
 * over a real WsConnection on a stand-in socket with stand-in trackers,
 * session and leases: the request is checked (exclusive with `channel`, no
 * `types` or `rewind`, the URL as `GET /v1/resources?url=` checks it), the
 * channel is the one every edge computes, a lease failure refuses that
 * subscription alone with its catalog code, and every way a subscription
 * ends gives its lease hold back exactly once.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  FanoutError,
  isFanoutError,
  leasedResourceChannel,
  loadConfig,
  wsJsonCodec,
  type ControlMessage,
} from '@fanout/shared';
import type { JsonValue } from '@fanout/shared/portable-state';
import type { ClientAuth } from '../admission/client-auth.js';
import { ConnectionLimits } from '../admission/connection-limits.js';
import type { EdgeMetrics } from '../edge-metrics.js';
import type { ResourceLeases, ResourceTarget } from '../resources/resource-leases.js';
import type { StateTrackers } from '../subscriptions/state/state-trackers.js';
import type { StateListener } from '../subscriptions/state/state-tracker.js';
import type { SubscriptionSession } from '../subscriptions/subscription-core.js';
import { StandInSocket } from './testing/stand-in-socket.js';
import { WsConnection } from './ws-connection.js';
import { handleClientMessage, type WsRequestContext } from './ws-requests.js';

const prefix = 'resources';
const url = 'https://api.example.com/tickers';
const position = 'ep:0:5';
const counter = {
  inc: (): void => undefined,
  set: (): void => undefined,
  labels: (): unknown => counter,
};
const metrics = new Proxy({}, { get: () => counter }) as unknown as EdgeMetrics;

/** A tracker holding `{"a":1}` at `position`, its listeners kept. */
class FakeTracker {
  readonly listeners = new Set<StateListener>();
  pins = 0;
  readonly partition = 0;
  readonly offset = 5;
  readonly closed = false;
  constructor(readonly channel: string) {}
  caughtUp(): Promise<void> {
    return Promise.resolve();
  }
  snapshot(): { json: string; position: string } {
    return { json: '{"a":1}', position };
  }
  join(listener: StateListener): unknown {
    this.listeners.add(listener);
    return { kind: 'snapshot', snapshot: { position, json: '{"a":1}' }, reset: false };
  }
  leave(listener: StateListener): void {
    this.listeners.delete(listener);
  }
}

/** Leases that count holds and releases, or refuse with `refuse`. */
class FakeLeases {
  holds = 0;
  releases = 0;
  refuse: FanoutError | undefined;
  async hold(target: ResourceTarget): Promise<unknown> {
    await Promise.resolve();
    if (this.refuse) throw this.refuse;
    this.holds++;
    const channel = leasedResourceChannel(prefix, target.url, target.headers);
    let released = false;
    return {
      channel,
      statusChannel: `${channel}.status`,
      release: () => {
        if (released) return;
        released = true;
        this.releases++;
      },
    };
  }
  get held(): number {
    return this.holds - this.releases;
  }
}

interface Setup {
  readonly ws: StandInSocket;
  readonly connection: WsConnection;
  readonly leases: FakeLeases;
  readonly trackers: Map<string, FakeTracker>;
  readonly context: WsRequestContext;
  /** Runs before `subscribed` (after prepare): a connection closing meanwhile. */
  beforeSubscribed?: () => void;
  frames(): ControlMessage<JsonValue>[];
}

function setup(options: { resources?: boolean; forwarded?: Record<string, string> } = {}): Setup {
  const config = loadConfig({ env: {} }).edge;
  const leases = new FakeLeases();
  const trackers = new Map<string, FakeTracker>();
  const fakeTrackers = {
    acquire(channel: string): FakeTracker {
      const tracker = trackers.get(channel) ?? new FakeTracker(channel);
      trackers.set(channel, tracker);
      tracker.pins++;
      return tracker;
    },
  };
  const connection = new WsConnection(
    { format: 'json', batch: false },
    {
      config,
      metrics,
      guard: { report: () => undefined },
      trackers: fakeTrackers as unknown as StateTrackers,
      ...(options.resources === false ? {} : { resources: leases as unknown as ResourceLeases }),
    },
    { subject: 'u', namespaces: ['*'], anonymous: false },
    new ConnectionLimits({ total: 0, perAddress: 0, perSubject: 0 }).acquire('127.0.0.1'),
  );
  connection.forwarded = options.forwarded ?? {};
  const ws = new StandInSocket().attachTo(connection);
  const made: Setup = {
    ws,
    connection,
    leases,
    trackers,
    context: {
      auth: {} as unknown as ClientAuth,
      edgeId: 'edge-1',
      pingIntervalSeconds: 0,
      resourceChannelPrefix: prefix,
    },
    frames: () =>
      ws.sent.map(
        (frame) => wsJsonCodec.decodeServerFrame(String(frame)) as ControlMessage<JsonValue>,
      ),
  };
  // The core's part: admission is not under test; prepare, then `subscribed` unless closed.
  const session = {
    external: undefined,
    positions: () => [],
    unsubscribe: () => [],
    reauthorize: () => undefined,
    end: () => undefined,
    async subscribe(
      _requestId: number,
      _events: unknown,
      extra: { prepare(): Promise<void>; subscribed(states: readonly unknown[]): void },
    ): Promise<void> {
      await extra.prepare();
      made.beforeSubscribed?.();
      if (connection.closed) return;
      extra.subscribed([]);
    },
  };
  connection.session = session as unknown as SubscriptionSession;
  return made;
}

function subscribe(
  made: Setup,
  subscriptions: readonly Record<string, unknown>[],
  requestId = 1,
): Promise<void> {
  return handleClientMessage(made.context, made.connection, {
    kind: 'subscribe',
    requestId,
    subscriptions: subscriptions.map((request) => ({
      channel: '',
      types: [],
      ...request,
    })),
  });
}

async function refusal(run: () => Promise<void>): Promise<FanoutError> {
  try {
    await run();
  } catch (error) {
    assert.ok(isFanoutError(error), String(error));
    return error;
  }
  assert.fail('the subscribe was accepted');
}

const channel = leasedResourceChannel(prefix, url, {});

describe('WebSocket resource subscriptions at the edge', () => {
  it('subscribes the channel the HTTP route computes and names it in subscribed', async () => {
    const made = setup({ forwarded: { 'accept-language': 'fr' } });
    await subscribe(made, [
      { resource: `${url}#fragment`, delta: 'merge-patch' },
      { channel: 'rooms.1', snapshot: true },
    ]);
    const expected = leasedResourceChannel(prefix, url, { 'accept-language': 'fr' });
    assert.notEqual(expected, channel, 'the forwarded headers make another resource');
    const [subscribed] = made.frames();
    assert.deepEqual(subscribed, {
      kind: 'subscribed',
      requestId: 1,
      subscriptions: [
        {
          channel: expected,
          position,
          resource: url,
          statusChannel: `${expected}.status`,
          snapshot: {
            requestId: 1,
            channel: expected,
            position,
            exists: true,
            state: { a: 1 },
            reset: false,
          },
        },
        {
          channel: 'rooms.1',
          position,
          snapshot: {
            requestId: 1,
            channel: 'rooms.1',
            position,
            exists: true,
            state: { a: 1 },
            reset: false,
          },
        },
      ],
    });
    assert.equal(made.leases.held, 1);
    assert.equal(made.trackers.get(expected)?.listeners.size, 1);
    assert.equal(made.trackers.get(expected)?.pins, 0, 'the subscribe pin went back');
  });

  it('refuses a request naming both, types, rewind, or a URL the HTTP route refuses', async () => {
    const made = setup();
    for (const request of [
      { resource: url, channel: 'rooms.1' },
      { resource: url, types: ['t'] },
      { resource: url, rewind: 3 },
      { resource: 'ftp://example.com/x' },
      { resource: 'https://user:secret@example.com/x' },
      { resource: '/relative' },
      { resource: `https://example.com/${'a'.repeat(4100)}` },
    ]) {
      const error = await refusal(() => subscribe(made, [request]));
      assert.equal(error.code, 'invalid_argument', JSON.stringify(request).slice(0, 80));
    }
    assert.equal(made.leases.holds, 0);
    assert.equal(made.ws.sent.length, 0);
  });

  it('a lease refused ends that subscription alone with its code, the others go on', async () => {
    for (const code of ['resource_limit', 'upstream_refused', 'unavailable'] as const) {
      const made = setup();
      made.leases.refuse = new FanoutError(code, `refused: ${code}`);
      await subscribe(made, [{ resource: url }, { channel: 'rooms.1', snapshot: true }], 4);
      const frames = made.frames();
      assert.deepEqual(
        frames.map((frame) => frame.kind),
        ['error', 'subscribed'],
      );
      const [error, subscribed] = frames;
      assert.ok(error?.kind === 'error' && subscribed?.kind === 'subscribed');
      assert.equal(error.code, code);
      assert.equal(error.channel, channel);
      assert.equal(error.requestId, 4);
      assert.deepEqual(
        subscribed.subscriptions.map((state) => state.channel),
        ['rooms.1'],
      );
      assert.equal(made.trackers.has(channel), false, 'no tracker for a refused lease');
      assert.equal(made.connection.states()?.has(channel), false);
    }
  });

  it('an edge without on-demand resources answers not_found for the subscription', async () => {
    const made = setup({ resources: false });
    await subscribe(made, [{ resource: url }]);
    const [error] = made.frames();
    assert.ok(error?.kind === 'error');
    assert.equal(error.code, 'not_found');
    assert.equal(error.channel, channel);
  });

  const ends: readonly { name: string; end: (made: Setup) => void }[] = [
    {
      name: 'unsubscribe',
      end: (made) => {
        void handleClientMessage(made.context, made.connection, {
          kind: 'unsubscribe',
          requestId: 9,
          channels: [channel],
        });
      },
    },
    {
      name: 'the socket closing',
      end: (made) => {
        made.connection.onClose();
      },
    },
    {
      name: 'backpressure',
      end: (made) => {
        made.connection.closeWith('backpressure', 'slow');
      },
    },
    {
      name: 'a drain or rebalance',
      end: (made) => {
        made.connection.close('draining', 'the edge is stopping');
      },
    },
    {
      name: 'the token expiring',
      end: (made) => {
        made.connection.closeWith('token_expired', 'expired');
      },
    },
    {
      name: 'a refreshed token that no longer allows it',
      end: (made) => {
        made.connection.identity = { subject: 'u', namespaces: ['rooms'], anonymous: false };
        made.connection.states()?.reauthorize(9);
      },
    },
    {
      name: 'its tracker stopping',
      end: (made) => {
        for (const listener of made.trackers.get(channel)?.listeners ?? []) {
          listener.ended(new FanoutError('state_unavailable', 'evicted'));
        }
      },
    },
  ];
  for (const { name, end } of ends) {
    it(`gives the lease hold back once when it ends by ${name}`, async () => {
      const made = setup();
      await subscribe(made, [{ resource: url }]);
      assert.equal(made.leases.held, 1);
      end(made);
      await Promise.resolve();
      assert.equal(made.leases.held, 0);
      assert.equal(made.trackers.get(channel)?.listeners.size, 0);
      // Later ends change nothing.
      made.connection.onClose();
      assert.equal(made.leases.releases, 1);
    });
  }

  it('gives the hold back when the connection closes before the subscription started', async () => {
    const made = setup();
    made.beforeSubscribed = () => {
      made.connection.onClose();
    };
    await subscribe(made, [{ resource: url }]);
    assert.equal(made.leases.holds, 1);
    assert.equal(made.leases.held, 0);
    assert.equal(made.trackers.get(channel)?.listeners.size, 0);
  });

  it('gives the hold back when the connection is closing as the subscription would start', async () => {
    const made = setup();
    made.beforeSubscribed = () => {
      made.connection.closeWith('draining', 'stopping');
    };
    await subscribe(made, [{ resource: url }]);
    assert.equal(made.leases.held, 0);
    assert.equal(made.trackers.get(channel)?.listeners.size, 0);
  });
});
