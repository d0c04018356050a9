/**
 * Cold replays while Kafka does not answer, on the in-memory twin of the
 * log: resuming clients back off together (a bounded number of requests,
 * one log line per failure streak), and once the log answers again every
 * client gets every event after its position exactly once, in order.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { setImmediate as turn, setTimeout as sleep } from 'node:timers/promises';
import { createLogger } from '@fanout/shared';
import type { EdgeEvent } from '../log/edge-event.js';
import type { ChannelHub } from './channel-hub.js';
import { startMemoryHub } from './memory-hub.js';
import { Subscription } from './subscription.js';
import { TestSubscriber } from './testing/test-subscriber.js';

/** A transport delivering directly (like SSE): the offsets it was given. */
class Client extends TestSubscriber {
  readonly offsets: number[] = [];
  constructor() {
    super('outage-client');
  }
  protected override received(event: EdgeEvent): void {
    this.offsets.push(event.offset);
  }
  override subscribed(): void {
    // Not needed: the test reads the hub's answers itself.
  }
  override close(): void {
    this.closed = true;
  }
}

async function resume(
  hub: ChannelHub,
  channel: string,
  epoch: string,
  from: number | undefined,
): Promise<{ client: Client; caughtUp: Promise<void> }> {
  const client = new Client();
  const subscription = new Subscription(
    { channels: [channel], patterns: [], types: [] },
    client,
    channel,
    () => {
      throw new Error('unexpected reset');
    },
  );
  const prepared = await hub.prepare(
    subscription,
    from === undefined ? undefined : { epoch, offsets: new Map([[0, from]]) },
  );
  assert.deepEqual(prepared.resets, []);
  hub.goLiveNow(subscription, prepared.resuming);
  const caughtUp = Promise.all(
    prepared.resuming.map((partition) => hub.catchUp(subscription, partition)),
  ).then(() => undefined);
  caughtUp.catch(() => undefined);
  return { client, caughtUp };
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let turns = 0; turns < 4_000; turns++) {
    if (condition()) return;
    await (turns < 100 ? turn() : sleep(5));
  }
  assert.fail(`never happened: ${what}`);
}

function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from) }, (_, index) => from + index);
}

describe('cold replays during a Kafka outage', () => {
  it('back off together while it lasts, then give every client every event exactly once', async () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of String(chunk).split('\n')) {
          if (line.trim() !== '') lines.push((JSON.parse(line) as { msg: string }).msg);
        }
        done();
      },
    });
    const logger = createLogger({ service: 'test', level: 'info', destination });
    let failedFetches = 0;
    const { log, hub, close } = await startMemoryHub({
      logger,
      topic: 'outage',
      partitions: 1,
      ringCapacity: 16,
      kafkaWaitMs: 120_000,
      observer: {
        onColdFetch: (ok) => {
          if (!ok) failedFetches++;
        },
      },
    });
    // The reader's and the back-off's pauses do not hold the process open (a
    // server does); this test has nothing else pending while it waits.
    const keepAlive = setInterval(() => undefined, 1_000);
    try {
      const channel = 'outage.a';
      const epoch = log.currentLayout.epoch;
      // A live subscription keeps the partition read; 100 events, the ring holds 16.
      await resume(hub, channel, epoch, undefined);
      log.append(
        0,
        Array.from({ length: 100 }, () => ({ channel, type: 't' })),
      );
      await until(() => hub.headOf(0) === 100, 'the head reaches 100');

      // 60 clients resume from positions the ring no longer holds, newest
      // first: each is behind every read in flight, so each reads on its own.
      const release = log.hold('replay');
      const positions = range(0, 60).reverse();
      const resumed: { client: Client; caughtUp: Promise<void> }[] = [];
      for (const from of positions) resumed.push(await resume(hub, channel, epoch, from));
      await until(() => hub.coldReadsInFlight === 60, '60 cold reads in flight');

      // The broker goes away with all of them in flight.
      log.unavailable(true);
      release();
      await until(() => failedFetches >= 60, 'the reads in flight failed');
      const afterBurst = hub.coldFetchAttempts;
      // While it is away, the 60 clients keep trying: 1.5 s of that.
      await sleep(1_500);
      const duringOutage = hub.coldFetchAttempts - afterBurst;
      // Without back-off each client retried on its own every 500 ms (≈ 180
      // requests); together with a pause from 50 ms doubling to 2 s, a
      // handful of probes.
      assert.ok(duringOutage <= 12, `${duringOutage} cold fetches in 1.5 s of outage`);
      assert.ok(duringOutage >= 1, 'probes went on during the outage');
      log.append(
        0,
        Array.from({ length: 20 }, () => ({ channel, type: 't' })),
      );

      log.unavailable(false);
      await Promise.all(resumed.map((each) => each.caughtUp));
      positions.forEach((from, index) => {
        assert.deepEqual(resumed[index]?.client.offsets, range(from + 1, 120), `from ${from}`);
      });
      assert.equal(
        lines.filter((line) => line.startsWith('cold replay fetch failed')).length,
        1,
        'one warning for the outage',
      );
      assert.equal(lines.filter((line) => line === 'cold replay fetch recovered').length, 1);
    } finally {
      clearInterval(keepAlive);
      await close();
    }
  });
});
