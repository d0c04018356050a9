import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger, encodeEvent, FanoutError } from '@fanout/shared';
import { ChannelHub } from './channel-hub.js';
import { EdgeEvent } from '../log/edge-event.js';
import type { EventLog, TopicLayout } from '../log/event-log.js';
import { PartitionTail, type PartitionReader } from '../log/partition-reader.js';
import type { LiveDelivery } from './subscriber.js';
import { Subscription } from './subscription.js';
import { TestSubscriber } from './testing/test-subscriber.js';

const epoch = 'ww7w7_gUT7WHdd738IhAfQ';
const channel = 'lag.a';

function eventAt(offset: number): EdgeEvent {
  return new EdgeEvent(epoch, 0, {
    offset,
    timestamp: Date.now(),
    value: Buffer.from(encodeEvent({ id: `e${offset}`, channel, type: 't' })),
    headers: [],
  });
}

/** A partition read up to `head`, and a hub over it; `read` moves the head like the reader. */
function lagging(head: number, kafkaWaitMs = 10_000) {
  const tail = new PartitionTail(0, 1000);
  tail.started = true;
  tail.logStartOffset = 0;
  tail.head = 0;
  const layout: TopicLayout = { epoch, topicId: '', partitions: 1, leaders: [0] };
  const tails = new Map([[0, tail]]);
  const reader = {
    layout,
    tails,
    acquire: () => Promise.resolve(tail),
    release: () => undefined,
    start: () => Promise.resolve(layout),
  } as unknown as PartitionReader;
  const log = {
    offsets: () => Promise.resolve(new Map([[0, { logStartOffset: 0, highWatermark: 1_000 }]])),
  } as unknown as EventLog;
  const hub = new ChannelHub({
    reader,
    log,
    logger: createLogger({ service: 'test', level: 'silent' }),
    publish: () => undefined,
    replayFetchMaxBytes: 1024 * 1024,
    replayPauseBytes: 1024 * 1024,
    kafkaWaitMs,
  });
  const read = (to: number): void => {
    const events: EdgeEvent[] = [];
    for (let offset = tail.head; offset < to; offset++) events.push(eventAt(offset));
    tail.ring.append(tail.head, events);
    tail.head = to;
    hub.onEvents(0, events);
  };
  read(head);
  return { hub, tail, read };
}

/** A transport that records what it was given, and when it was turned live. */
class RecordingTarget extends TestSubscriber {
  readonly delivered: number[] = [];
  liveAt: number | undefined;
  override live: LiveDelivery = {
    kind: 'topic',
    format: 'json',
    subscribe: () => {
      this.liveAt = this.head();
    },
    unsubscribe: () => undefined,
  };
  constructor(private readonly head: () => number) {
    super('recording', 'ws');
  }
  protected override received(event: EdgeEvent): void {
    this.delivered.push(event.offset);
  }
}

function unexpectedReset(): void {
  throw new Error('unexpected reset');
}

describe('a subscription resuming beyond the read head', () => {
  it('joins live delivery only once the head has passed its cursor, with nothing at or before it', async () => {
    const { hub, tail, read } = lagging(100);
    const target = new RecordingTarget(() => tail.head);
    const subscription = new Subscription(
      { channels: [channel], patterns: [], types: [] },
      target,
      channel,
      unexpectedReset,
    );
    const prepared = await hub.prepare(subscription, {
      epoch,
      offsets: new Map([[0, 499]]),
    });
    assert.deepEqual(prepared.resuming, [0]);
    hub.goLiveNow(subscription, prepared.resuming);
    const caughtUp = hub.catchUp(subscription, 0);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(target.liveAt, undefined, 'not live while the head is behind the cursor');
    read(300);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(target.liveAt, undefined, 'not live while the head is still behind');
    read(520);
    await caughtUp;
    assert.equal(target.liveAt, 520);
    assert.deepEqual(
      target.delivered,
      Array.from({ length: 20 }, (_, index) => 500 + index),
      'exactly the events after the cursor',
    );
  });

  it('answers kafka_unavailable when the head does not pass the cursor in time, never a jump', async () => {
    const { hub, tail } = lagging(100, 200);
    const target = new RecordingTarget(() => tail.head);
    const subscription = new Subscription(
      { channels: [channel], patterns: [], types: [] },
      target,
      channel,
      unexpectedReset,
    );
    const prepared = await hub.prepare(subscription, { epoch, offsets: new Map([[0, 499]]) });
    await assert.rejects(hub.catchUp(subscription, 0), (error: unknown) => {
      assert.ok(error instanceof FanoutError);
      assert.equal(error.code, 'kafka_unavailable');
      return true;
    });
    assert.deepEqual(prepared.resuming, [0]);
    assert.equal(target.liveAt, undefined);
    assert.deepEqual(target.delivered, []);
    assert.equal(subscription.cursors.get(0), 499, 'the cursor stays where the client is');
  });

  it('never delivers live SSE events at or before the cursor', async () => {
    const { hub, tail, read } = lagging(10);
    const target = new RecordingTarget(() => tail.head);
    target.live = { kind: 'direct' };
    const subscription = new Subscription(
      { channels: [channel], patterns: [], types: [] },
      target,
      channel,
      unexpectedReset,
    );
    await hub.prepare(subscription);
    hub.goLiveNow(subscription, []);
    subscription.cursors.set(0, 15);
    read(20);
    assert.deepEqual(target.delivered, [16, 17, 18, 19]);
  });
});
