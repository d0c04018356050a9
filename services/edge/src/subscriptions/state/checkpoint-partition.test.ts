/**
 * The checkpointer of one partition on the in-memory twin of the events log
 * and a small in-memory checkpoint topic: its memory bound (documents
 * dropped past `maxChannels` and read back exactly on their next change),
 * and history that retention deleted before checkpoints covered it, which
 * stays unknown for every later owner (never taken as absent); and the
 * reading side: a checkpoint older than the events log start is used only
 * when a mark vouches for the deleted part, otherwise the tracker folds from
 * the log and answers unavailable until a put or delete (a reset). A
 * checkpoint keeps the arrayKey of the channel's last put, so a tracker
 * started from it diffs the next change by key, as one that read the whole
 * history.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Registry } from 'prom-client';
import {
  applyStateChange,
  createLogger,
  type StateDocument,
  type StateOperation,
} from '@fanout/shared';
import { createEdgeMetrics, type EdgeMetrics } from '../../edge-metrics.js';
import type { CheckpointLog, CheckpointWrite } from '../../log/checkpoint-log.js';
import type {
  EventLog,
  LogLane,
  LogRecord,
  PartitionFetch,
  PartitionOffsets,
  PartitionRead,
  TopicLayout,
} from '../../log/event-log.js';
import { MemoryEventLog } from '../../log/memory-event-log.js';
import { startMemoryHub } from '../memory-hub.js';
import { PartitionCheckpointer } from './checkpoint-partition.js';
import { CheckpointSource } from './checkpoint-source.js';
import type { StateStep } from './state-step.js';
import type { StateTracker } from './state-tracker.js';
import { StateTrackers } from './state-trackers.js';
import {
  decodeCheckpoint,
  encodeCheckpoint,
  partitionMarkKey,
  type ChannelCheckpoint,
  type PartitionMark,
} from './checkpoint-record.js';

const logger = createLogger({ service: 'test', level: 'silent' });
const limits = { maxDocumentBytes: 262_144, maxDepth: 64 };

/** One partition of a topic with keys, never compacted (the newest record per key wins on reads). */
class MemoryCheckpointLog implements CheckpointLog, EventLog {
  readonly topic = 'events.state';
  readonly records: LogRecord[] = [];
  readonly layout: TopicLayout = { epoch: 'cp', topicId: 'cp', partitions: 1, leaders: [1] };

  get read(): EventLog {
    return this;
  }

  refreshLayout(): Promise<TopicLayout> {
    return Promise.resolve(this.layout);
  }

  offsets(partitions: readonly number[]): Promise<Map<number, PartitionOffsets>> {
    return Promise.resolve(
      new Map(
        partitions.map((p) => [p, { logStartOffset: 0, highWatermark: this.records.length }]),
      ),
    );
  }

  openLane(label: string): LogLane {
    return { label };
  }

  fetch(_node: number, partitions: readonly PartitionFetch[]): Promise<PartitionRead[]> {
    return Promise.resolve(
      partitions.map(({ partition, offset }) => ({
        partition,
        status: 'ok',
        records: this.records.slice(offset, offset + 50),
        highWatermark: this.records.length,
        logStartOffset: 0,
      })),
    );
  }

  ensureTopic(): Promise<void> {
    return Promise.resolve();
  }

  write(records: readonly CheckpointWrite[]): Promise<void> {
    for (const record of records) {
      this.records.push({
        offset: this.records.length,
        timestamp: Date.now(),
        key: record.key,
        value: record.value,
        headers: [],
      });
    }
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  /** The newest checkpoint of each channel. */
  newest(): Map<string, ChannelCheckpoint> {
    const found = new Map<string, ChannelCheckpoint>();
    for (const record of this.records) {
      if (record.key?.equals(partitionMarkKey) !== false) continue;
      const decoded = decodeCheckpoint(record.value);
      if (decoded.kind === 'channel') found.set(record.key.toString('utf8'), decoded);
    }
    return found;
  }

  marks(): PartitionMark[] {
    return this.records
      .filter((record) => record.key?.equals(partitionMarkKey) === true)
      .map((record) => decodeCheckpoint(record.value))
      .filter((decoded): decoded is PartitionMark => decoded.kind === 'mark');
  }
}

const running: PartitionCheckpointer[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((checkpointer) => checkpointer.close()));
});

function start(
  events: MemoryEventLog,
  checkpoints: MemoryCheckpointLog,
  options: { maxChannels?: number; everyChanges?: number } = {},
): { checkpointer: PartitionCheckpointer; metrics: EdgeMetrics } {
  const metrics = createEdgeMetrics(new Registry());
  const checkpointer = new PartitionCheckpointer({
    partition: 0,
    events,
    checkpoints,
    limits,
    everyChanges: options.everyChanges ?? 1000,
    everyMs: 20,
    maxChannels: options.maxChannels ?? 1000,
    metrics,
    logger,
  });
  running.push(checkpointer);
  return { checkpointer, metrics };
}

/** Waits until the checkpointer folded the partition and wrote a mark through its end. */
async function settled(
  checkpointer: PartitionCheckpointer,
  events: MemoryEventLog,
  checkpoints: MemoryCheckpointLog,
): Promise<void> {
  const end = (await events.offsets([0])).get(0)?.highWatermark ?? 0;
  for (let i = 0; i < 500; i++) {
    const marks = checkpoints.marks();
    if (checkpointer.head >= end && (marks.at(-1)?.through ?? -1) >= end - 1) return;
    await sleep(10);
  }
  assert.fail(`the checkpointer did not reach ${end} (head ${checkpointer.head})`);
}

async function counter(metrics: EdgeMetrics, name: keyof EdgeMetrics): Promise<number> {
  const metric = metrics[name] as { get(): Promise<{ values: { value: number }[] }> };
  return (await metric.get()).values[0]?.value ?? 0;
}

function publish(events: MemoryEventLog, channel: string, op: StateOperation, data: unknown): void {
  events.publish([{ channel, data: JSON.stringify(data), state: op }]);
}

describe('partition checkpointer', () => {
  it('holds at most maxChannels documents and reloads a dropped channel exactly', async () => {
    const events = new MemoryEventLog({ topic: 'events', partitions: 1 });
    const checkpoints = new MemoryCheckpointLog();
    const expected = new Map<string, StateDocument>();
    const change = (channel: string, op: StateOperation, data: unknown): void => {
      publish(events, channel, op, data);
      const folded = applyStateChange(
        expected.get(channel),
        { op, data: JSON.stringify(data), position: 'p' },
        limits,
      );
      assert.ok(folded.ok);
      expected.set(channel, folded.document);
    };
    const { checkpointer, metrics } = start(events, checkpoints, { maxChannels: 10 });
    for (let round = 0; round < 5; round++) {
      for (let c = 0; c < 30; c++) {
        const channel = `room.${c}`;
        if (round === 0) change(channel, 'put', { name: channel, rounds: [] });
        else change(channel, 'merge', { [`r${round}`]: round * c });
        if (round === 3 && c % 7 === 0) change(channel, 'delete', null);
        if (round === 4 && c % 7 === 0) change(channel, 'put', { again: c });
      }
      await settled(checkpointer, events, checkpoints);
      assert.ok(checkpointer.channels <= 10, `${checkpointer.channels} documents held`);
    }
    const newest = checkpoints.newest();
    for (const [channel, document] of expected) {
      const checkpoint = newest.get(channel);
      assert.ok(checkpoint, `a checkpoint of ${channel}`);
      assert.deepEqual(
        checkpoint.json === undefined ? undefined : JSON.parse(checkpoint.json),
        document,
        channel,
      );
    }
    assert.ok((await counter(metrics, 'stateCheckpointerEvictions')) >= 20);
    assert.ok((await counter(metrics, 'stateCheckpointerReloads')) >= 20);
    assert.ok((await counter(metrics, 'stateCheckpointBytesWritten')) > 0);

    // A new owner loads at most maxChannels documents and still folds the others exactly.
    await checkpointer.close();
    const next = start(events, checkpoints, { maxChannels: 10 });
    await settled(next.checkpointer, events, checkpoints);
    assert.ok(next.checkpointer.channels <= 10);
    for (let c = 0; c < 30; c++) change(`room.${c}`, 'merge', { last: true });
    await settled(next.checkpointer, events, checkpoints);
    const after = checkpoints.newest();
    for (const [channel, document] of expected) {
      assert.deepEqual(JSON.parse(after.get(channel)?.json ?? 'null'), document, channel);
    }
  });

  it('keeps history lost under the mark unknown for every later owner, never absent', async () => {
    const events = new MemoryEventLog({ topic: 'events', partitions: 1 });
    const checkpoints = new MemoryCheckpointLog();
    publish(events, 'a', 'put', { v: 1 }); // 0
    publish(events, 'b', 'put', { v: 1 }); // 1
    const first = start(events, checkpoints);
    await settled(first.checkpointer, events, checkpoints);
    await first.checkpointer.close();
    assert.equal(checkpoints.marks().at(-1)?.lostBelow, 0);

    // Retention deletes a change no checkpoint covers.
    publish(events, 'n', 'put', { deleted: true }); // 2
    events.truncate(0, 3);
    publish(events, 'a', 'merge', { w: 2 }); // 3
    const second = start(events, checkpoints);
    await settled(second.checkpointer, events, checkpoints);
    await second.checkpointer.close();
    assert.equal(checkpoints.marks().at(-1)?.lostBelow, 3);
    // 'a' missed nothing it can prove: its checkpoint covers up to 1, not 2.
    assert.deepEqual(JSON.parse(checkpoints.newest().get('a')?.json ?? 'null'), { v: 1 });

    // A third owner resumes after a mark at or past the log start: 'n' is still unknown.
    const third = start(events, checkpoints);
    await settled(third.checkpointer, events, checkpoints);
    publish(events, 'n', 'merge', { q: 1 }); // 4: not a document of its own
    publish(events, 'b', 'merge', { w: 3 }); // 5: b's checkpoint does not cover 2
    publish(events, 'a', 'put', { v: 9 }); // 6: re-bases a
    await settled(third.checkpointer, events, checkpoints);
    const newest = checkpoints.newest();
    assert.equal(newest.has('n'), false, 'no checkpoint of a merge onto lost history');
    assert.deepEqual(JSON.parse(newest.get('b')?.json ?? 'null'), { v: 1 });
    assert.equal(newest.get('b')?.offset, 1);
    assert.deepEqual(JSON.parse(newest.get('a')?.json ?? 'null'), { v: 9 });
    assert.equal(checkpoints.marks().at(-1)?.lostBelow, 3);
  });
});

describe('checkpoint source', () => {
  it('uses a checkpoint older than the log start only when a mark vouches for the deleted part', async () => {
    const checkpoints = new MemoryCheckpointLog();
    const metrics = createEdgeMetrics(new Registry());
    const source = new CheckpointSource({ log: checkpoints, limits, metrics, logger });
    const write = (key: Buffer, value: Buffer): Promise<void> =>
      checkpoints.write([{ partition: 0, key, value }]);
    await write(
      Buffer.from('a'),
      encodeCheckpoint({ kind: 'channel', epoch: 'e', offset: 0, through: 1, json: '{"v":1}' }),
    );
    const query = {
      channel: 'a',
      epoch: 'e',
      partition: 0,
      offsets: { logStartOffset: 3, highWatermark: 6 },
    };
    const ignored = async (): Promise<number> =>
      (await metrics.stateCheckpointsIgnored.get()).values.find(
        (value) => value.labels['reason'] === 'behind_log_start',
      )?.value ?? 0;

    // Offsets 2 and 3.. were deleted; nothing says 'a' had no change in 2.
    assert.equal(await source.startFor(query), undefined);
    assert.equal(await ignored(), 1);

    // A mark through 4 says every channel changed up to 4 has a checkpoint covering it.
    await write(
      partitionMarkKey,
      encodeCheckpoint({ kind: 'mark', epoch: 'e', through: 4, lostBelow: 0 }),
    );
    const start = await source.startFor(query);
    assert.deepEqual(start && { ...start }, {
      offset: 0,
      readFrom: 4,
      json: '{"v":1}',
    });

    // A mark that says history below 3 was lost before checkpoints covered it does not vouch.
    await write(
      partitionMarkKey,
      encodeCheckpoint({ kind: 'mark', epoch: 'e', through: 5, lostBelow: 3 }),
    );
    assert.equal(await source.startFor(query), undefined);
    assert.equal(await ignored(), 2);

    // Another epoch's checkpoint is never used.
    assert.equal(await source.startFor({ ...query, epoch: 'other' }), undefined);
  });

  it('keeps the arrayKey of the last put: a tracker started from the checkpoint diffs by key', async () => {
    const {
      log: events,
      hub,
      close,
    } = await startMemoryHub({
      logger,
      topic: 'events',
      partitions: 1,
    });
    try {
      const checkpoints = new MemoryCheckpointLog();
      const rows = (ids: readonly number[]) => ({
        rows: ids.map((id) => ({ id, name: `row ${id}`, tags: ['a', 'b'] })),
      });
      const ids = Array.from({ length: 40 }, (_, index) => index);
      events.publish([
        { channel: 'list', state: 'put', data: JSON.stringify(rows(ids)), arrayKey: '/id' },
        { channel: 'list', state: 'merge', data: JSON.stringify(rows([...ids, 40])) },
        { channel: 'plain', state: 'put', data: JSON.stringify(rows(ids)) },
      ]);
      const { checkpointer } = start(events, checkpoints);
      await settled(checkpointer, events, checkpoints);
      assert.equal(checkpoints.newest().get('list')?.arrayKey, '/id');
      assert.equal(checkpoints.newest().get('plain')?.arrayKey, undefined);
      await checkpointer.close();

      const metrics = createEdgeMetrics(new Registry());
      const trackers = (withCheckpoints: boolean): StateTrackers =>
        new StateTrackers({
          hub,
          limits,
          maxChannels: 10,
          patchRing: 8,
          kafkaWaitMs: 10_000,
          metrics,
          logger,
          ...(withCheckpoints
            ? { checkpoints: new CheckpointSource({ log: checkpoints, limits, metrics, logger }) }
            : {}),
        });
      const fresh = trackers(true);
      const whole = trackers(false);
      const steps = new Map<StateTracker, StateStep[]>();
      const follow = async (held: StateTrackers, channel: string): Promise<StateTracker> => {
        const tracker = held.acquire(channel);
        try {
          await tracker.caughtUp(Date.now() + 10_000);
        } finally {
          tracker.pins--;
        }
        const seen: StateStep[] = [];
        steps.set(tracker, seen);
        tracker.join({
          changed: (step) => seen.push(step),
          refused: () => assert.fail('no change is refused'),
          ended: () => undefined,
        });
        return tracker;
      };
      const followed = [
        await follow(fresh, 'list'),
        await follow(whole, 'list'),
        await follow(fresh, 'plain'),
      ];
      assert.deepEqual(
        followed.map((tracker) => tracker.startedFrom),
        ['checkpoint', 'log', 'checkpoint'],
      );
      const front = { id: 100, name: 'row 100', tags: ['a', 'b'] };
      events.publish([
        { channel: 'list', state: 'merge', data: JSON.stringify(rows([100, ...ids, 40])) },
        { channel: 'plain', state: 'merge', data: JSON.stringify(rows([100, ...ids])) },
      ]);
      for (const tracker of followed) await tracker.caughtUp(Date.now() + 10_000);
      const [fromCheckpoint, fromLog, plain] = followed.map((tracker) => steps.get(tracker) ?? []);
      assert.deepEqual(
        fromCheckpoint?.map((step) => step.ops),
        [[{ op: 'add', path: '/rows/0', value: front }]],
        'the keyed patch after a start from the checkpoint',
      );
      assert.deepEqual(
        fromCheckpoint?.map((step) => step.ops),
        fromLog?.map((step) => step.ops),
        'as a tracker that read the whole history',
      );
      assert.deepEqual(
        plain?.map((step) => step.ops.map((op) => [op.op, op.path])),
        [[['replace', '']]],
        'a channel whose put had no key: index by index (the whole document)',
      );
      fresh.close();
      whole.close();
    } finally {
      await close();
    }
  });
});
