/**
 * The subscription core over the hub and the partition reader on the
 * in-memory twin of the log: what a session does when Kafka stops answering
 * while a subscribe is being prepared (the transports turn the refusal into
 * their answer: SSE 503, WebSocket close 4011).
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import {
  createLogger,
  FanoutError,
  loadConfig,
  partitionForChannel,
  type ErrorCode,
} from '@fanout/shared';
import { Registry } from 'prom-client';
import { ClientAuth } from '../admission/client-auth.js';
import { ClusterRouting } from '../cluster/cluster-routing.js';
import { createEdgeMetrics } from '../edge-metrics.js';
import type { MemoryEventLog } from '../log/memory-event-log.js';
import { createHandlerGuard } from '../transport/uws-guard.js';
import type { ChannelHub } from './channel-hub.js';
import { startMemoryHub } from './memory-hub.js';
import type { SubscribedState } from './subscriber.js';
import { SubscriptionCore } from './subscription-core.js';
import { TestSubscriber } from './testing/test-subscriber.js';

const logger = createLogger({ service: 'test', level: 'silent' });
const partitions = 4;

interface Edge {
  readonly log: MemoryEventLog;
  readonly hub: ChannelHub;
  readonly core: SubscriptionCore;
  close(): Promise<void>;
}

const opened: Edge[] = [];
/** The edge's waits on Kafka do not keep a process alive (unref'd timers); the test does. */
let keepAlive: NodeJS.Timeout | undefined;

beforeEach(() => {
  keepAlive = setInterval(() => undefined, 50);
});

afterEach(async () => {
  await Promise.all(opened.splice(0).map((edge) => edge.close()));
  clearInterval(keepAlive);
});

/** A core over a reader and a hub of a fresh in-memory log, started. */
async function edge(kafkaWaitMs: number): Promise<Edge> {
  const config = loadConfig({
    env: {
      FANOUT_KAFKA_BROKERS: '127.0.0.1:9',
      FANOUT_EDGE_KAFKA_WAIT_MS: String(kafkaWaitMs),
    },
  });
  const { log, hub, close } = await startMemoryHub({
    logger,
    topic: 'twin',
    partitions,
    kafkaWaitMs: config.edge.kafkaWaitMs,
  });
  const metrics = createEdgeMetrics(new Registry());
  const core = new SubscriptionCore({
    hub,
    auth: new ClientAuth(config.edge, undefined),
    config: config.edge,
    logger,
    metrics,
    routing: new ClusterRouting({
      config: config.cluster,
      self: { id: 'twin', url: 'http://127.0.0.1:1' },
      membership: undefined,
      logger,
      metrics,
    }),
    guard: createHandlerGuard(logger, metrics),
  });
  const created: Edge = {
    log,
    hub,
    core,
    close,
  };
  opened.push(created);
  return created;
}

/** A transport delivering directly: what the core emitted to it. */
class Client extends TestSubscriber {
  readonly subscribedLabels: string[] = [];
  readonly refusals: string[] = [];
  readonly closes: { code: ErrorCode; message: string; hint?: string }[] = [];

  constructor() {
    super('twin-client', 'ws');
  }
  override subscribed(_requestId: number, states: readonly SubscribedState[]): void {
    for (const state of states) this.subscribedLabels.push(state.label);
  }
  override refused(_requestId: number, label: string): void {
    this.refusals.push(label);
  }
  override close(code: ErrorCode, message: string, hint?: string): void {
    this.closes.push({ code, message, ...(hint === undefined ? {} : { hint }) });
    this.closed = true;
  }
}

/** Waits (bounded) until `condition` holds. */
async function until(condition: () => boolean, what: string): Promise<void> {
  for (let tries = 0; tries < 1000; tries++) {
    if (condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.fail(`never happened: ${what}`);
}

/** Two channels on different partitions. */
function channelsOnTwoPartitions(): [string, string] {
  const first = 'outage.a';
  const partition = partitionForChannel(first, partitions);
  for (let n = 0; ; n++) {
    const other = `outage.b${n}`;
    if (partitionForChannel(other, partitions) !== partition) return [first, other];
  }
}

describe('the subscription core on the twin of the log', () => {
  it('refuses with kafka_unavailable a subscribe that cannot wait for Kafka, subscribing none of it', async () => {
    const twin = await edge(100);
    const [read, unread] = channelsOnTwoPartitions();
    const client = new Client();
    const session = twin.core.open(client, {});
    await session.subscribe(1, [{ label: read, channels: [read], patterns: [], types: [] }]);
    assert.deepEqual(client.subscribedLabels, [read]);
    twin.log.unavailable(true);
    // The second channel's partition is not read yet: starting it needs Kafka.
    await assert.rejects(
      session.subscribe(2, [{ label: unread, channels: [unread], patterns: [], types: [] }]),
      (error: unknown) => error instanceof FanoutError && error.code === 'kafka_unavailable',
    );
    assert.deepEqual(client.subscribedLabels, [read], 'nothing more was subscribed');
    assert.deepEqual([...session.subscriptions.keys()], [read]);
    assert.equal(session.count, 1, 'the refused request no longer counts');
    // Kafka back: the same subscribe succeeds.
    twin.log.unavailable(false);
    await until(() => twin.hub.healthy, 'the reader reads Kafka again');
    await session.subscribe(3, [{ label: unread, channels: [unread], patterns: [], types: [] }]);
    assert.deepEqual(client.subscribedLabels, [read, unread]);
    assert.deepEqual(client.closes, []);
  });

  it('still refuses a subscribe that is wrong whatever Kafka does, and keeps the session', async () => {
    const twin = await edge(100);
    const [read] = channelsOnTwoPartitions();
    const client = new Client();
    const session = twin.core.open(client, {});
    await assert.rejects(
      session.subscribe(1, [{ label: read, channels: [], patterns: [], types: [] }]),
      (error: unknown) => error instanceof Error && error.message.includes('at least one channel'),
    );
    assert.deepEqual(client.closes, []);
  });

  it("moves a session by the partitions of its transport's own (state) subscriptions too", async () => {
    const twin = await edge(1000);
    const [eventChannel, stateChannel] = channelsOnTwoPartitions();
    const statePartition = partitionForChannel(stateChannel, partitions);
    const eventPartition = partitionForChannel(eventChannel, partitions);
    const stateOnly = new Client();
    const session = twin.core.open(stateOnly, {});
    session.external = {
      count: 1,
      has: (label) => label === stateChannel,
      partitions: () => [statePartition],
    };
    assert.deepEqual([...(session.partitions() ?? [])], [statePartition]);
    // A rebalance that moves the state channel's partition closes the session, naming where.
    const moved = (owned: ReadonlySet<number>): string | undefined =>
      owned.has(statePartition) ? 'http://127.0.0.1:2' : undefined;
    assert.equal(twin.core.sessions.rebalance(moved, 10, 'ws'), 1);
    assert.deepEqual(stateOnly.closes, [
      {
        code: 'rebalance',
        message: 'the partitions of this connection moved to another edge; resume there',
        hint: 'http://127.0.0.1:2',
      },
    ]);
    session.end();

    // With an event subscription as well: both partitions.
    const mixed = new Client();
    const both = twin.core.open(mixed, {});
    both.external = { count: 1, has: () => false, partitions: () => [statePartition] };
    await both.subscribe(1, [
      { label: eventChannel, channels: [eventChannel], patterns: [], types: [] },
    ]);
    assert.deepEqual(
      [...(both.partitions() ?? [])].sort(),
      [statePartition, eventPartition].sort(),
    );
    both.end();
  });
});
