/**
 * The live reader through a broker outage: it keeps trying at a short
 * cadence while Kafka is away, so it reads again soon after Kafka returns,
 * and delivers what was appended meanwhile in order, once.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger } from '@fanout/shared';
import type { TopicLayout } from './event-log.js';
import { MemoryEventLog } from './memory-event-log.js';
import { PartitionReader, type PartitionSink } from './partition-reader.js';

/** A log whose layout can say that no partition has a leader (an election under way). */
class ElectingLog extends MemoryEventLog {
  leaderless = false;

  override async refreshLayout(): Promise<TopicLayout> {
    const layout = await super.refreshLayout();
    return this.leaderless ? { ...layout, leaders: layout.leaders.map(() => -1) } : layout;
  }
}

const quiet = (): Writable =>
  new Writable({
    write(_chunk, _encoding, done) {
      done();
    },
  });

function offsetSink(offsets: number[], health: boolean[] = []): PartitionSink {
  return {
    onEvents: (_partition, events) => {
      for (const event of events) offsets.push(event.offset);
    },
    onGap: () => assert.fail('no gap'),
    onEpochChange: () => assert.fail('no new epoch'),
    onHealth: (healthy) => health.push(healthy),
  };
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000 && !condition(); i++) await sleep(5);
  assert.ok(condition(), `timed out waiting for: ${what}`);
}

describe('partition reader', () => {
  it('retries the live fetch several times a second while Kafka is away and loses nothing', async () => {
    const destination = new Writable({
      write(_chunk, _encoding, done) {
        done();
      },
    });
    const log = new MemoryEventLog({ topic: 'outage', partitions: 1 });
    const offsets: number[] = [];
    const health: boolean[] = [];
    let failedFetches = 0;
    const reader = new PartitionReader({
      log,
      logger: createLogger({ service: 'test', level: 'info', destination }),
      ringCapacity: 64,
      maxWaitMs: 50,
      fetchMaxBytes: 1 << 20,
      partitionMaxBytes: 1 << 20,
      lingerMs: 60_000,
      sink: {
        onEvents: (_partition, events) => {
          for (const event of events) offsets.push(event.offset);
        },
        onGap: () => assert.fail('no gap'),
        onEpochChange: () => assert.fail('no new epoch'),
        onHealth: (healthy) => health.push(healthy),
      },
      onFetch: (_node, _seconds, ok) => {
        if (!ok) failedFetches++;
      },
    });
    // The reader's pauses are unref'd: hold the process open while waiting.
    const keepAlive = setInterval(() => undefined, 1_000);
    try {
      await reader.start();
      await reader.acquire(0);
      log.append(
        0,
        Array.from({ length: 5 }, () => ({ channel: 'outage.a', type: 't' })),
      );
      await until(() => offsets.length === 5, 'the first 5 events');

      log.unavailable(true);
      await until(() => failedFetches > 0, 'a live fetch failed');
      log.append(
        0,
        Array.from({ length: 10 }, () => ({ channel: 'outage.a', type: 't' })),
      );
      const before = failedFetches;
      await sleep(1_500);
      const duringOutage = failedFetches - before;
      // Pauses of 25, 50, then 100 ms: about 15 attempts in 1.5 s (a pause
      // growing to a second made at most 4, and read up to a second late).
      assert.ok(duringOutage >= 6, `${duringOutage} live fetches in 1.5 s of outage`);
      assert.ok(duringOutage <= 60, `${duringOutage} live fetches: the loop pauses between them`);
      assert.equal(reader.healthy, false);

      log.unavailable(false);
      await until(() => offsets.length === 15, 'the events appended during the outage');
      assert.deepEqual(
        offsets,
        Array.from({ length: 15 }, (_, i) => i),
      );
      assert.equal(reader.healthy, true);
      assert.deepEqual(health.slice(-2), [false, true]);
    } finally {
      clearInterval(keepAlive);
      await reader.close();
      await log.close();
    }
  });

  it('reads partitions again once they have a leader after an outage that left them without one', async () => {
    const log = new ElectingLog({ topic: 'election', partitions: 2 });
    const offsets: number[] = [];
    const reader = new PartitionReader({
      log,
      logger: createLogger({ service: 'test', level: 'info', destination: quiet() }),
      ringCapacity: 64,
      maxWaitMs: 50,
      fetchMaxBytes: 1 << 20,
      partitionMaxBytes: 1 << 20,
      lingerMs: 60_000,
      sink: offsetSink(offsets),
    });
    const keepAlive = setInterval(() => undefined, 1_000);
    try {
      await reader.start();
      await reader.acquire(0);
      await reader.acquire(1);
      log.append(0, [{ channel: 'election.a', type: 't' }]);
      await until(() => offsets.length === 1, 'the first event');

      // The broker goes away; when it answers again, its metadata names no
      // leader for a while: the loop has no partition to fetch and ends.
      log.unavailable(true);
      await until(() => !reader.healthy, 'the outage noticed');
      log.leaderless = true;
      log.unavailable(false);
      await until(() => reader.layout?.leaders.every((leader) => leader < 0) === true, 'no leader');
      log.append(0, [{ channel: 'election.a', type: 't' }]);
      log.append(1, [{ channel: 'election.b', type: 't' }]);
      await sleep(300);
      assert.equal(offsets.length, 1, 'nothing is read without a leader');

      log.leaderless = false;
      await until(() => offsets.length === 3, 'both partitions read again');
      assert.deepEqual(
        offsets.sort((a, b) => a - b),
        [0, 0, 1],
      );
      assert.equal(reader.tails.get(0)?.head, 2);
      assert.equal(reader.tails.get(1)?.head, 1);
    } finally {
      clearInterval(keepAlive);
      await reader.close();
      await log.close();
    }
  });
});
