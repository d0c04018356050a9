/**
 * The hub and the partition reader on the in-memory twin of the log
 * (`MemoryEventLog`): the catch-up → live seam under live traffic, a read
 * head behind the client, epoch and partition changes, the ring and cold
 * fetches, retention and positions beyond the log. No broker, no sockets:
 * every path the transports reach through the hub, fast and repeatable.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { setImmediate as turn } from 'node:timers/promises';
import fc from 'fast-check';
import { createLogger, FanoutError, formatPositionOf, partitionForChannel } from '@fanout/shared';
import type { ChannelHub, HubObserver } from './channel-hub.js';
import type { EdgeEvent } from '../log/edge-event.js';
import type { MemoryEventLog } from '../log/memory-event-log.js';
import { startMemoryHub } from './memory-hub.js';
import type { PartitionReader } from '../log/partition-reader.js';
import type { StreamCursor } from './stream-cursor.js';
import type { LiveDelivery } from './subscriber.js';
import { Subscription, type ResetInfo, type SubscriptionSpec } from './subscription.js';
import { TestSubscriber } from './testing/test-subscriber.js';

const logger = createLogger({ service: 'test', level: 'silent' });

interface TwinOptions {
  readonly partitions?: number;
  readonly ringCapacity?: number;
  readonly kafkaWaitMs?: number;
  readonly nodes?: readonly number[];
  readonly replayFetchMaxBytes?: number;
  readonly batchMaxBytes?: number;
  /** Called before each topic publish (where a backpressure close would happen). */
  readonly beforePublish?: (topic: string, frame: string | Uint8Array, bytes: number) => void;
}

interface Twin {
  readonly log: MemoryEventLog;
  readonly reader: PartitionReader;
  readonly hub: ChannelHub;
  readonly replays: ('hot' | 'cold')[];
  /** uWS topics as the hub's publisher sees them: who joined each. */
  readonly topics: Map<string, Set<Client>>;
  /** Frames published, per topic. */
  readonly published: Map<string, number>;
  close(): Promise<void>;
}

const opened: Twin[] = [];

afterEach(async () => {
  await Promise.all(opened.splice(0).map((twin) => twin.close()));
});

/** A reader and a hub over a fresh in-memory log, started. */
async function twin(options: TwinOptions = {}): Promise<Twin> {
  const replays: ('hot' | 'cold')[] = [];
  const topics = new Map<string, Set<Client>>();
  const published = new Map<string, number>();
  const observer: HubObserver = {
    onReplay: (kind) => {
      replays.push(kind);
    },
  };
  const { log, reader, hub, close } = await startMemoryHub({
    logger,
    topic: 'twin',
    partitions: options.partitions ?? 1,
    ...(options.nodes === undefined ? {} : { nodes: options.nodes }),
    ringCapacity: options.ringCapacity ?? 1000,
    publish: (topic, frame, _binary, bytes) => {
      options.beforePublish?.(topic, frame, bytes);
      published.set(topic, (published.get(topic) ?? 0) + 1);
      for (const client of topics.get(topic) ?? []) client.receive(frame);
    },
    replayFetchMaxBytes: options.replayFetchMaxBytes ?? 1024 * 1024,
    ...(options.batchMaxBytes === undefined ? {} : { batchMaxBytes: options.batchMaxBytes }),
    kafkaWaitMs: options.kafkaWaitMs ?? 10_000,
    observer,
  });
  const created: Twin = {
    log,
    reader,
    hub,
    replays,
    topics,
    published,
    close,
  };
  opened.push(created);
  return created;
}

/** A transport delivering directly (like SSE): what it was given, per partition, and its resets. */
class Client extends TestSubscriber {
  readonly delivered = new Map<number, number[]>();
  readonly channels: string[] = [];
  readonly resets: ResetInfo[] = [];

  constructor() {
    super('twin-client');
  }

  offsets(partition = 0): number[] {
    return this.delivered.get(partition) ?? [];
  }

  record(partition: number, offset: number, channel: string): void {
    let list = this.delivered.get(partition);
    if (!list) this.delivered.set(partition, (list = []));
    list.push(offset);
    this.channels.push(channel);
  }

  protected override received(event: EdgeEvent): void {
    this.record(event.partition, event.offset, event.channel);
  }
  override subscribed(): void {
    // The twin's `subscribe` reads the hub's answer itself.
  }
  override reset(): void {
    // Resets reach the subscription's callback (see `subscribe`).
  }
  override close(): void {
    this.closed = true;
  }

  /** A frame published to a topic this client joined (a JSON event or batch frame). */
  receive(frame: string | Uint8Array): void {
    interface Event {
      channel: string;
      position: string;
    }
    const parsed = JSON.parse(String(frame)) as { event?: Event; batch?: { events: Event[] } };
    const received = parsed.batch?.events ?? (parsed.event ? [parsed.event] : []);
    if (parsed.batch) assert.ok(received.length > 1, 'a batch of one is an event frame');
    for (const event of received) {
      const [, partition, offset] = event.position.split(':');
      this.record(Number(partition), Number(offset), event.channel);
    }
  }
}

/** A transport whose live events come through uWS topics (like WebSocket). */
class TopicClient extends Client {
  override readonly live: LiveDelivery;

  constructor(topics: Map<string, Set<Client>>, batch = false) {
    super();
    this.live = {
      kind: 'topic',
      format: 'json',
      batch,
      subscribe: (topic) => {
        let joined = topics.get(topic);
        if (!joined) topics.set(topic, (joined = new Set()));
        joined.add(this);
      },
      unsubscribe: (topic) => {
        topics.get(topic)?.delete(this);
      },
    };
  }
}

interface Subscribed {
  readonly client: Client;
  readonly subscription: Subscription;
  readonly resuming: readonly number[];
  readonly resets: readonly ResetInfo[];
  /** Settles when every catch-up ended (live, reset or failed). */
  readonly caughtUp: Promise<void>;
}

/** What a transport does: prepare, answer resets, turn live, catch up. */
async function subscribe(
  hub: ChannelHub,
  spec: Partial<SubscriptionSpec>,
  since?: StreamCursor,
  client: Client = new Client(),
): Promise<Subscribed> {
  const subscription: Subscription = new Subscription(
    { channels: spec.channels ?? [], patterns: spec.patterns ?? [], types: spec.types ?? [] },
    client,
    [...(spec.channels ?? []), ...(spec.patterns ?? [])].join(','),
    (reset) => {
      client.resets.push(reset);
      hub.remove(subscription);
    },
  );
  const prepared = await hub.prepare(subscription, since);
  if (prepared.resets.length > 0) {
    hub.remove(subscription);
    return {
      client,
      subscription,
      resuming: [],
      resets: prepared.resets,
      caughtUp: Promise.resolve(),
    };
  }
  hub.goLiveNow(subscription, prepared.resuming);
  const caughtUp = Promise.all(
    prepared.resuming.map((partition) => hub.catchUp(subscription, partition)),
  ).then(() => undefined);
  // Rejections are asserted by the tests that expect them.
  caughtUp.catch(() => undefined);
  return { client, subscription, resuming: prepared.resuming, resets: [], caughtUp };
}

/** Waits (turn by turn, bounded) until `condition` holds. */
async function until(condition: () => boolean, what: string): Promise<void> {
  for (let turns = 0; turns < 2_000; turns++) {
    if (condition()) return;
    await (turns < 100 ? turn() : new Promise((resolve) => setTimeout(resolve, 5)));
  }
  assert.fail(`never happened: ${what}`);
}

function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from) }, (_, index) => from + index);
}

function cursor(epoch: string, offsets: Record<number, number>): StreamCursor {
  return {
    epoch,
    offsets: new Map(Object.entries(offsets).map(([p, o]) => [Number(p), o])),
  };
}

function events(channel: string, count: number): { channel: string; type: string }[] {
  return Array.from({ length: count }, () => ({ channel, type: 't' }));
}

/** The reader reads the partition (a live subscription holds it), then `count` events arrive. */
async function readWith(edge: Twin, channel: string, count: number): Promise<Subscribed> {
  const anchor = await subscribe(edge.hub, { channels: [channel] });
  const partition = partitionForChannel(channel, edge.log.currentLayout.partitions);
  const head = (edge.hub.headOf(partition) ?? 0) + count;
  if (count > 0) edge.log.append(partition, events(channel, count));
  await until(() => edge.hub.headOf(partition) === head, `the head reaches ${head}`);
  return anchor;
}

describe('the hub on the twin of the log', () => {
  it('resumes a subscription under live traffic with every event exactly once, in order', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          before: fc.integer({ min: 0, max: 120 }),
          resumeAt: fc.integer({ min: -1, max: 119 }),
          ringCapacity: fc.integer({ min: 1, max: 64 }),
          batches: fc.array(fc.integer({ min: 1, max: 8 }), { minLength: 1, maxLength: 30 }),
          otherChannelEvery: fc.integer({ min: 2, max: 5 }),
          unreadBefore: fc.boolean(),
          /** From this batch on, the reader lags: its fetches are held until the end. */
          lagFrom: fc.option(fc.integer({ min: 0, max: 29 }), { nil: undefined }),
        }),
        async (plan) => {
          const edge = await twin({ ringCapacity: plan.ringCapacity });
          try {
            const channel = 'seam.a';
            // Events the reader never saw (before any subscription) or saw live.
            if (plan.unreadBefore) edge.log.append(0, events(channel, plan.before));
            const anchor = await readWith(edge, 'seam.b', 0);
            if (!plan.unreadBefore) {
              edge.log.append(0, events(channel, plan.before));
              await until(() => edge.hub.headOf(0) === plan.before, 'the reader read it all');
            }
            const from = Math.min(plan.resumeAt, plan.before - 1);
            const epoch = edge.log.currentLayout.epoch;
            const resumed = await subscribe(
              edge.hub,
              { channels: [channel] },
              cursor(epoch, { 0: from }),
            );
            assert.deepEqual(resumed.resets, []);
            // Live traffic while it catches up, other channels interleaved.
            let appended = plan.before;
            const wanted: number[] = range(from + 1, plan.before);
            let release: (() => void) | undefined;
            for (const [index, size] of plan.batches.entries()) {
              if (index === plan.lagFrom) release = edge.log.hold('live');
              const other = index % plan.otherChannelEvery === 0;
              const offsets = edge.log.append(0, events(other ? 'seam.b' : channel, size));
              if (!other) wanted.push(...offsets);
              appended += size;
              await turn();
            }
            release?.();
            await until(() => edge.hub.headOf(0) === appended, 'the reader read it all');
            // Live deliveries are synchronous with the head: all are made by now.
            await resumed.caughtUp;
            assert.deepEqual(resumed.client.offsets(), wanted, 'every event once, in order');
            assert.ok(resumed.client.channels.every((name) => name === channel));
            assert.ok(resumed.subscription.live.has(0), 'live after the catch-up');
            assert.ok(anchor.subscription.live.has(0));
          } finally {
            await edge.close();
          }
        },
      ),
      { numRuns: 30 },
    );
  });

  for (const delivery of ['direct', 'topic'] as const) {
    it(`resumes a pattern over every partition from a multi-partition cursor under live traffic (${delivery} live delivery)`, async () => {
      const edge = await twin({ partitions: 4, ringCapacity: 8, nodes: [1, 2] });
      const names = Array.from({ length: 16 }, (_, index) => `pat.c${index}`);
      const anchor = await subscribe(edge.hub, { patterns: ['pat.*'] });
      assert.deepEqual([...anchor.subscription.cursors.keys()], [0, 1, 2, 3]);
      const byPartition = new Map<number, number[]>();
      const publish = (count: number): void => {
        for (let i = 0; i < count; i++) {
          for (const { partition, offset } of edge.log.publish([
            { channel: names[(i * 7) % names.length] ?? 'pat.x' },
          ])) {
            let list = byPartition.get(partition);
            if (!list) byPartition.set(partition, (list = []));
            list.push(offset);
          }
        }
      };
      const readAll = (): Promise<void> =>
        until(
          () =>
            [0, 1, 2, 3].every(
              (partition) =>
                edge.hub.headOf(partition) === (byPartition.get(partition)?.length ?? 0),
            ),
          'the reader read every partition',
        );
      publish(80);
      await readAll();
      const since: Record<number, number> = {};
      for (const partition of [0, 1, 2, 3]) {
        const written = byPartition.get(partition)?.length ?? 0;
        since[partition] = Math.floor(written / 3) - 1;
      }
      const resumed = await subscribe(
        edge.hub,
        { patterns: ['pat.*'] },
        cursor(edge.log.currentLayout.epoch, since),
        delivery === 'topic' ? new TopicClient(edge.topics) : new Client(),
      );
      assert.deepEqual([...resumed.resuming].sort(), [0, 1, 2, 3]);
      for (let round = 0; round < 10; round++) {
        publish(5);
        await turn();
      }
      await readAll();
      await resumed.caughtUp;
      for (const partition of [0, 1, 2, 3]) {
        const written = byPartition.get(partition) ?? [];
        const last = written.at(-1) ?? -1;
        await until(
          () => (resumed.client.offsets(partition).at(-1) ?? -1) >= last,
          `partition ${partition} delivered`,
        );
        assert.deepEqual(
          resumed.client.offsets(partition),
          written.filter((offset) => offset > (since[partition] ?? 0)),
          `partition ${partition}: every event after the cursor, once, in order`,
        );
      }
      if (delivery === 'topic') assert.ok(resumed.subscription.topic, 'joined its topic');
    });
  }

  it('waits for a read head behind the cursor, then continues with the events after it', async () => {
    const edge = await twin();
    await readWith(edge, 'lag.a', 100);
    const release = edge.log.hold('live');
    edge.log.append(0, events('lag.a', 500));
    const resumed = await subscribe(
      edge.hub,
      { channels: ['lag.a'] },
      cursor(edge.log.currentLayout.epoch, { 0: 499 }),
    );
    assert.deepEqual(resumed.resuming, [0]);
    for (let i = 0; i < 50; i++) await turn();
    assert.equal(edge.hub.headOf(0), 100, 'the reader is held back');
    assert.equal(resumed.subscription.live.size, 0, 'not live while the head is behind');
    assert.deepEqual(resumed.client.offsets(), []);
    release();
    await resumed.caughtUp;
    edge.log.append(0, events('lag.a', 10));
    await until(() => resumed.subscription.cursors.get(0) === 609, 'the live events');
    assert.deepEqual(resumed.client.offsets(), range(500, 610));
  });

  it('answers kafka_unavailable when the read head does not pass the cursor in time, never a jump', async () => {
    const edge = await twin({ kafkaWaitMs: 100 });
    await readWith(edge, 'lag.b', 10);
    const release = edge.log.hold('live');
    try {
      edge.log.append(0, events('lag.b', 100));
      const resumed = await subscribe(
        edge.hub,
        { channels: ['lag.b'] },
        cursor(edge.log.currentLayout.epoch, { 0: 50 }),
      );
      await assert.rejects(
        resumed.caughtUp,
        (error: unknown) => error instanceof FanoutError && error.code === 'kafka_unavailable',
      );
      assert.deepEqual(resumed.client.offsets(), []);
      assert.equal(resumed.subscription.cursors.get(0), 50, 'the cursor stays');
    } finally {
      release();
    }
  });

  it('resets subscriptions with position_epoch_mismatch when the topic is recreated', async () => {
    const edge = await twin();
    const live = await readWith(edge, 'epoch.a', 5);
    const old = edge.log.currentLayout.epoch;
    const fresh = edge.log.recreate();
    await until(() => live.client.resets.length > 0, 'the live subscription is reset');
    assert.equal(live.client.resets[0]?.code, 'position_epoch_mismatch');
    assert.equal(live.client.resets[0]?.requested, formatPositionOf(old, 0, 4));
    assert.equal(live.client.resets[0]?.earliest, formatPositionOf(fresh.epoch, 0, -1));
    await until(
      () => edge.reader.layout?.epoch === fresh.epoch && edge.hub.headOf(0) === 0,
      'the reader reads the new topic',
    );
    const resumed = await subscribe(edge.hub, { channels: ['epoch.a'] }, cursor(old, { 0: 2 }));
    assert.equal(resumed.resets[0]?.code, 'position_epoch_mismatch');
    // A subscription of the new epoch reads the new log.
    const after = await subscribe(edge.hub, { channels: ['epoch.a'] });
    edge.log.append(0, events('epoch.a', 3));
    await until(() => after.client.offsets().length === 3, 'new events');
    assert.deepEqual(after.client.offsets(), [0, 1, 2]);
  });

  it('starts a subscription of a recreated topic at the new head, never before it is known', async () => {
    const edge = await twin();
    await readWith(edge, 'epoch.b', 5);
    // The reader's offset lookups wait until released: the new topic's head is not known yet.
    let open: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const offsets = edge.log.offsets.bind(edge.log);
    edge.log.offsets = async (partitions) => {
      await gate;
      return offsets(partitions);
    };
    const fresh = edge.log.recreate();
    edge.log.append(0, events('epoch.b', 2));
    await until(() => edge.reader.layout?.epoch === fresh.epoch, 'the reader sees the new epoch');
    const subscribing = subscribe(edge.hub, { channels: ['epoch.b'] });
    for (let turns = 0; turns < 20; turns++) await turn();
    open();
    const live = await subscribing;
    assert.equal(live.subscription.cursors.get(0), 1);
    edge.log.append(0, events('epoch.b', 1));
    await until(() => live.client.offsets().length === 1, 'the next event');
    assert.deepEqual(live.client.offsets(), [2]);
  });

  it('resets a position of the partition a channel had before partitions were added', async () => {
    const edge = await twin({ partitions: 2 });
    const channel = Array.from({ length: 100 }, (_, index) => `moved.c${index}`).find(
      (name) => partitionForChannel(name, 2) !== partitionForChannel(name, 4),
    );
    assert.ok(channel);
    const before = partitionForChannel(channel, 2);
    const epoch = edge.log.currentLayout.epoch;
    edge.log.addPartitions(2);
    await edge.reader.start();
    assert.equal(edge.hub.partitionCount, 4);
    const resumed = await subscribe(
      edge.hub,
      { channels: [channel] },
      cursor(epoch, { [before]: 0 }),
    );
    assert.equal(resumed.resets[0]?.code, 'position_partition_mismatch');
    assert.equal(resumed.resets[0]?.partition, partitionForChannel(channel, 4));
  });

  it('replays from the log when the ring no longer holds the cursor, from the ring when it does', async () => {
    const edge = await twin({ ringCapacity: 16 });
    await readWith(edge, 'ring.a', 100);
    const epoch = edge.log.currentLayout.epoch;
    const cold = await subscribe(edge.hub, { channels: ['ring.a'] }, cursor(epoch, { 0: 10 }));
    await cold.caughtUp;
    assert.deepEqual(cold.client.offsets(), range(11, 100));
    assert.deepEqual(edge.replays, ['cold']);
    assert.ok(edge.log.fetchCount('replay') >= 1);
    const fetches = edge.log.fetchCount('replay');
    const hot = await subscribe(edge.hub, { channels: ['ring.a'] }, cursor(epoch, { 0: 90 }));
    await hot.caughtUp;
    assert.deepEqual(hot.client.offsets(), range(91, 100));
    assert.deepEqual(edge.replays, ['cold', 'hot']);
    assert.equal(edge.log.fetchCount('replay'), fetches, 'no fetch for a hot replay');
  });

  it('shares one cold fetch among subscriptions resuming from the same position', async () => {
    const edge = await twin({ ringCapacity: 16 });
    await readWith(edge, 'share.a', 100);
    const epoch = edge.log.currentLayout.epoch;
    const release = edge.log.hold('replay');
    const resumed = await Promise.all(
      range(0, 20).map(() =>
        subscribe(edge.hub, { channels: ['share.a'] }, cursor(epoch, { 0: 10 })),
      ),
    );
    release();
    await Promise.all(resumed.map((each) => each.caughtUp));
    assert.equal(edge.log.fetchCount('replay'), 1, 'one fetch for all of them');
    for (const each of resumed) assert.deepEqual(each.client.offsets(), range(11, 100));
  });

  it('shares a cold read in flight with resumes from positions after where it started', async () => {
    const edge = await twin({ ringCapacity: 16 });
    await readWith(edge, 'share.b', 100);
    const epoch = edge.log.currentLayout.epoch;
    const release = edge.log.hold('replay');
    const first = await subscribe(edge.hub, { channels: ['share.b'] }, cursor(epoch, { 0: 10 }));
    await until(() => edge.hub.coldReadsInFlight === 1, 'the first read is in flight');
    const later = await Promise.all(
      [20, 35, 50, 70].map((from) =>
        subscribe(edge.hub, { channels: ['share.b'] }, cursor(epoch, { 0: from })),
      ),
    );
    // Live traffic while they wait: it lands in the ring, after the shared read.
    edge.log.append(0, events('share.b', 5));
    release();
    await Promise.all([first, ...later].map((each) => each.caughtUp));
    assert.equal(edge.log.fetchCount('replay'), 1, 'one read for all of them');
    assert.deepEqual(first.client.offsets(), range(11, 105));
    [20, 35, 50, 70].forEach((from, index) => {
      assert.deepEqual(later[index]?.client.offsets(), range(from + 1, 105), `from ${from}`);
    });
  });

  it('reads on its own for a resume behind where the shared read started, each event once, in order', async () => {
    const edge = await twin({ ringCapacity: 16 });
    await readWith(edge, 'share.c', 100);
    const epoch = edge.log.currentLayout.epoch;
    const release = edge.log.hold('replay');
    const ahead = await subscribe(edge.hub, { channels: ['share.c'] }, cursor(epoch, { 0: 60 }));
    await until(() => edge.hub.coldReadsInFlight === 1, 'the shared read is in flight');
    const behind = await subscribe(edge.hub, { channels: ['share.c'] }, cursor(epoch, { 0: 5 }));
    await until(() => edge.hub.coldReadsInFlight === 2, 'a read of its own');
    const between = await subscribe(edge.hub, { channels: ['share.c'] }, cursor(epoch, { 0: 30 }));
    release();
    await Promise.all([ahead, behind, between].map((each) => each.caughtUp));
    assert.equal(edge.log.fetchCount('replay'), 2, 'the one between shares the older read');
    assert.deepEqual(ahead.client.offsets(), range(61, 100));
    assert.deepEqual(behind.client.offsets(), range(6, 100));
    assert.deepEqual(between.client.offsets(), range(31, 100));
  });

  it('extends the ring backwards with a cold read: later resumes from there are hot', async () => {
    const edge = await twin({ ringCapacity: 1000 });
    // 100 events before the edge reads the partition: not in its ring.
    edge.log.append(0, events('back.a', 100));
    await readWith(edge, 'back.a', 10);
    const epoch = edge.log.currentLayout.epoch;
    const cold = await subscribe(edge.hub, { channels: ['back.a'] }, cursor(epoch, { 0: 49 }));
    await cold.caughtUp;
    assert.deepEqual(cold.client.offsets(), range(50, 110));
    assert.equal(edge.log.fetchCount('replay'), 1);
    const hot = await subscribe(edge.hub, { channels: ['back.a'] }, cursor(epoch, { 0: 60 }));
    await hot.caughtUp;
    assert.deepEqual(hot.client.offsets(), range(61, 110));
    assert.equal(edge.log.fetchCount('replay'), 1, 'served from the ring');
    assert.deepEqual(edge.replays, ['cold', 'hot']);
    const older = await subscribe(edge.hub, { channels: ['back.a'] }, cursor(epoch, { 0: 19 }));
    await older.caughtUp;
    assert.deepEqual(older.client.offsets(), range(20, 110));
    assert.equal(edge.log.fetchCount('replay'), 2, 'behind the ring: a read of its own');
  });

  it('warms a partition: read, its newest events in the ring, resumes within them hot', async () => {
    const edge = await twin({ ringCapacity: 1000, replayFetchMaxBytes: 2048 });
    // One produce request each: a fetch answers whole batches.
    for (let i = 0; i < 300; i++) edge.log.append(0, events('warm.a', 1));
    assert.equal(await edge.hub.warm(0, 200, 5000), 200);
    assert.equal(edge.hub.headOf(0), 300);
    assert.ok(edge.log.fetchCount('replay') > 1, 'several reads of at most 2 KiB');
    const fetches = edge.log.fetchCount('replay');
    const epoch = edge.log.currentLayout.epoch;
    const hot = await subscribe(edge.hub, { channels: ['warm.a'] }, cursor(epoch, { 0: 99 }));
    edge.log.append(0, events('warm.a', 3));
    await hot.caughtUp;
    await until(() => hot.client.offsets().length === 203, 'live events too');
    assert.deepEqual(hot.client.offsets(), range(100, 303));
    assert.equal(edge.log.fetchCount('replay'), fetches, 'served from the ring');
    assert.deepEqual(edge.replays, ['hot']);
    const cold = await subscribe(edge.hub, { channels: ['warm.a'] }, cursor(epoch, { 0: 50 }));
    await cold.caughtUp;
    assert.deepEqual(cold.client.offsets(), range(51, 303));
  });

  it('gives up warming a partition at its deadline; a read that outlives it still joins the ring', async () => {
    const edge = await twin({ ringCapacity: 1000 });
    edge.log.append(0, events('warm.b', 50));
    const release = edge.log.hold('replay');
    await assert.rejects(edge.hub.warm(0, 20, 50), { code: 'kafka_unavailable' });
    release();
    await until(() => edge.hub.coldReadsInFlight === 0, 'the read ended');
    const epoch = edge.log.currentLayout.epoch;
    // The read that outlived the deadline still joined the ring (it reached it).
    const resumed = await subscribe(edge.hub, { channels: ['warm.b'] }, cursor(epoch, { 0: 39 }));
    await resumed.caughtUp;
    assert.deepEqual(resumed.client.offsets(), range(40, 50));
  });

  it('resets with position_too_old a cursor retention deleted, at subscribe and during catch-up', async () => {
    const edge = await twin({ ringCapacity: 16 });
    await readWith(edge, 'old.a', 100);
    const epoch = edge.log.currentLayout.epoch;
    edge.log.truncate(0, 50);
    const early = await subscribe(edge.hub, { channels: ['old.a'] }, cursor(epoch, { 0: 10 }));
    assert.equal(early.resets[0]?.code, 'position_too_old');
    assert.equal(early.resets[0]?.requested, formatPositionOf(epoch, 0, 10));
    assert.equal(early.resets[0]?.earliest, formatPositionOf(epoch, 0, 49));
    // A catch-up whose fetch falls below the log start moved meanwhile.
    const release = edge.log.hold('replay');
    const late = await subscribe(edge.hub, { channels: ['old.a'] }, cursor(epoch, { 0: 60 }));
    assert.deepEqual(late.resuming, [0]);
    edge.log.truncate(0, 80);
    release();
    await late.caughtUp;
    assert.equal(late.client.resets[0]?.code, 'position_too_old');
    assert.equal(late.client.resets[0]?.earliest, formatPositionOf(epoch, 0, 79));
    assert.deepEqual(late.client.offsets(), [], 'nothing past a hole');
  });

  it('refuses a position beyond the end of the log with position_ahead', async () => {
    const edge = await twin();
    await readWith(edge, 'ahead.a', 10);
    await assert.rejects(
      subscribe(
        edge.hub,
        { channels: ['ahead.a'] },
        cursor(edge.log.currentLayout.epoch, { 0: 10 }),
      ),
      (error: unknown) => error instanceof FanoutError && error.code === 'position_ahead',
    );
    const last = await subscribe(
      edge.hub,
      { channels: ['ahead.a'] },
      cursor(edge.log.currentLayout.epoch, { 0: 9 }),
    );
    assert.deepEqual(last.resets, []);
    await last.caughtUp;
    assert.ok(last.subscription.live.has(0));
  });
});

describe('batch topics on the twin of the log', () => {
  it('gives batch and plain subscribers joining mid-stream the same events, each once, in order', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          before: fc.integer({ min: 1, max: 80 }),
          ringCapacity: fc.integer({ min: 4, max: 64 }),
          batchMaxBytes: fc.constantFrom(1024, 4096, 64 * 1024),
          fetches: fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 20 }),
          /** Subscribers: when they join (before which fetch), from where, which kind. */
          joins: fc.array(
            fc.record({
              at: fc.integer({ min: 0, max: 19 }),
              back: fc.option(fc.integer({ min: 0, max: 100 }), { nil: undefined }),
              batch: fc.boolean(),
            }),
            { minLength: 1, maxLength: 6 },
          ),
          otherChannelEvery: fc.integer({ min: 2, max: 5 }),
        }),
        async (plan) => {
          const edge = await twin({
            ringCapacity: plan.ringCapacity,
            batchMaxBytes: plan.batchMaxBytes,
          });
          try {
            const channel = 'batch.a';
            await readWith(edge, 'batch.b', 0);
            const log: number[] = edge.log.append(0, events(channel, plan.before));
            let appended = plan.before;
            await until(() => edge.hub.headOf(0) === appended, 'the reader read it all');
            const joined: { from: number; resumed: Subscribed }[] = [];
            for (const [index, size] of plan.fetches.entries()) {
              for (const join of plan.joins.filter((each) => each.at === index)) {
                // Live from the head, or resumed some way back.
                const head = (edge.hub.headOf(0) ?? 0) - 1;
                const from = join.back === undefined ? head : Math.max(-1, head - join.back);
                const client = new TopicClient(edge.topics, join.batch);
                const resumed = await subscribe(
                  edge.hub,
                  { channels: [channel] },
                  join.back === undefined
                    ? undefined
                    : cursor(edge.log.currentLayout.epoch, { 0: from }),
                  client,
                );
                joined.push({ from, resumed });
              }
              const other = index % plan.otherChannelEvery === 0;
              const offsets = edge.log.append(0, events(other ? 'batch.b' : channel, size));
              if (!other) log.push(...offsets);
              appended += size;
              await turn();
            }
            await until(() => edge.hub.headOf(0) === appended, 'the reader read it all');
            for (const { from, resumed } of joined) {
              await resumed.caughtUp;
              assert.deepEqual(
                resumed.client.offsets(),
                log.filter((offset) => offset > from),
                `${resumed.client.live.kind === 'topic' && resumed.client.live.batch === true ? 'batch' : 'plain'} subscriber from ${from}: every event once, in order`,
              );
            }
          } finally {
            await edge.close();
          }
        },
      ),
      { numRuns: 30 },
    );
  });

  it('publishes one frame per fetch to a batch topic, split at batchMaxBytes', async () => {
    const sizes: number[] = [];
    const edge = await twin({
      batchMaxBytes: 2048,
      beforePublish: (topic, frame) => {
        if (topic.startsWith('json+batch|')) sizes.push(Buffer.byteLength(frame));
      },
    });
    const plain = await subscribe(
      edge.hub,
      { channels: ['split.a'] },
      undefined,
      new TopicClient(edge.topics),
    );
    const batch = await subscribe(
      edge.hub,
      { channels: ['split.a'] },
      undefined,
      new TopicClient(edge.topics, true),
    );
    const release = edge.log.hold('live');
    const offsets = edge.log.append(0, events('split.a', 40));
    release();
    await until(() => batch.client.offsets().length === 40, 'the batch subscriber has them all');
    assert.deepEqual(batch.client.offsets(), offsets);
    assert.deepEqual(plain.client.offsets(), offsets);
    const [plainTopic] = [...edge.published.keys()].filter((topic) => topic.startsWith('json|'));
    assert.equal(edge.published.get(plainTopic ?? ''), 40, 'one frame per event');
    assert.ok(sizes.length >= 2 && sizes.length < 40, `${sizes.length} batch frames for 40 events`);
    for (const size of sizes) assert.ok(size <= 2048, `a batch frame of ${size} bytes`);
  });

  it('reports a batch topic published up to before its batch while the batch goes out', async () => {
    const seen: { topic: string; through: number | undefined; first: number }[] = [];
    const edge: Twin = await twin({
      beforePublish: (topic, frame) => {
        // Where a backpressure close would ask for the positions it sends.
        const parsed = JSON.parse(String(frame)) as {
          event?: { position: string };
          batch?: { events: { position: string }[] };
        };
        const first = parsed.batch?.events[0] ?? parsed.event;
        seen.push({
          topic,
          through: edge.hub.publishedThrough(0, topic),
          first: Number(first?.position.split(':')[2]),
        });
      },
    });
    await subscribe(edge.hub, { channels: ['through.a'] }, undefined, new TopicClient(edge.topics));
    await subscribe(
      edge.hub,
      { channels: ['through.a'] },
      undefined,
      new TopicClient(edge.topics, true),
    );
    const release = edge.log.hold('live');
    edge.log.append(0, events('through.a', 10));
    release();
    await until(() => edge.hub.headOf(0) === 10, 'the reader read it all');
    assert.ok(seen.some((each) => each.topic.startsWith('json+batch|')));
    for (const each of seen) {
      assert.equal(
        each.through,
        each.first - 1,
        `${each.topic}: published up to before ${each.first}`,
      );
    }
    assert.equal(edge.hub.publishedThrough(0), 9);
  });
});
