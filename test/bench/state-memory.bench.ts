/**
 * Memory per state channel held on the edge (target: ≤ 2 × the document +
 * 2 KiB; docs/decisions/045-state-checkpoints.md): N channels of a realistic
 * document (a room of 12 members, about 2 KiB of canonical JSON; and a room
 * of 140 members, about 20 KiB), each changed by one put and then merges,
 * folded
 *
 * - by state trackers (`StateTrackers`, the `edge.state.patchRing` default
 *   of 64 held patches and the `patchRingRatio` default of 0.75), with few
 *   changes per channel and with more changes than the ring's count, with a
 *   ring of one patch, and without the byte bound (as before it existed);
 *   each measured just after the trackers caught up and again after one
 *   more change of every channel, folded live;
 * - by a partition checkpointer (writes discarded, so only what it holds
 *   counts).
 *
 * Heap after full garbage collections before and after, divided by N, in
 * one process on the in-memory log (no Kafka, no sockets). The hub's
 * partition rings hold up to `ringCapacity` events per partition whatever
 * the number of channels (the trackers' catch-up reads and the live changes
 * add to them): they are a few events each here, filled before the first
 * figure, so what they hold is not counted per channel:
 *
 *   npm run bench:state-memory      (BENCH_CHANNELS=N, default 1000;
 *                                    BENCH_HEAP=1: live objects per channel
 *                                    by constructor, from heap snapshots)
 */
import assert from 'node:assert/strict';
import { canonicalJson, createLogger, type JsonValue } from '@fanout/shared';
import {
  createEdgeMetrics,
  PartitionCheckpointer,
  startMemoryHub,
  StateTrackers,
  type CheckpointLog,
  type EventLog,
  type MemoryEventLog,
  type TopicLayout,
} from '@fanout/edge';
import { getHeapSnapshot } from 'node:v8';
import { Registry } from 'prom-client';
import {
  perConnection,
  summarizeHeapSnapshot,
  type HeapSnapshotJson,
  type HeapSummary,
} from './heap-snapshot-summary.js';

const channels = Number(process.env['BENCH_CHANNELS'] ?? 1000);
const patchRing = 64;
const partitions = 8;
/** Events the hub keeps per partition: few, so that they do not count (see above). */
const ringCapacity = 4;
const limits = { maxDocumentBytes: 262_144, maxDepth: 64 };
const logger = createLogger({ service: 'bench', level: 'silent' });
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with node --expose-gc (npm run bench:state-memory)');

/** With BENCH_HEAP=1, what each tracker holds by constructor (heap snapshots before and after). */
const heapGroups = process.env['BENCH_HEAP'] === '1';

async function heapSummary(): Promise<HeapSummary | undefined> {
  if (!heapGroups) return undefined;
  const chunks: string[] = [];
  for await (const chunk of getHeapSnapshot()) chunks.push(String(chunk));
  return summarizeHeapSnapshot(JSON.parse(chunks.join('')) as HeapSnapshotJson);
}

function printGroups(before: HeapSummary | undefined, after: HeapSummary | undefined): void {
  if (before === undefined || after === undefined) return;
  for (const row of perConnection(before, after, channels).slice(0, 16)) {
    console.log(
      `    ${row.group.padEnd(48)} ${row.count.toFixed(1).padStart(6)} objects ${row.selfBytes.toFixed(0).padStart(7)} B`,
    );
  }
}

function heapUsed(): number {
  for (let i = 0; i < 4; i++) gc?.();
  return process.memoryUsage().heapUsed;
}

function room(c: number, members: number): JsonValue {
  return {
    title: `Room ${c}`,
    topic: 'Quarterly planning of the platform team, agenda and notes',
    owner: { id: `user-${c}-0`, name: 'Member 0' },
    members: Array.from({ length: members }, (_, m) => ({
      id: `user-${c}-${m}`,
      name: `Member ${m} of room ${c}`,
      role: m === 0 ? 'owner' : 'member',
      joinedAt: '2026-12-01T10:00:00.000Z',
      online: m % 2 === 0,
    })),
    settings: { muted: false, theme: 'dark', notify: ['mention', 'reply'], slowModeSeconds: 0 },
    counters: { messages: 0, reactions: 0 },
  };
}

function change(c: number, i: number): JsonValue {
  return {
    counters: { messages: i, reactions: 2 * i },
    lastMessage: {
      from: `user-${c}-${i % 12}`,
      at: `2026-12-01T10:${String(i % 60).padStart(2, '0')}:00.000Z`,
    },
  };
}

function publish(log: MemoryEventLog, changesPerChannel: number, members = 12): number {
  let documentBytes = 0;
  for (let c = 0; c < channels; c++) {
    const channel = `room.${c}`;
    let document = room(c, members) as Record<string, JsonValue>;
    log.publish([{ channel, state: 'put', data: JSON.stringify(document) }]);
    for (let i = 1; i < changesPerChannel; i++) {
      const data = change(c, i);
      log.publish([{ channel, state: 'merge', data: JSON.stringify(data) }]);
      document = { ...document, ...(data as Record<string, JsonValue>) };
    }
    documentBytes += Buffer.byteLength(canonicalJson(document));
  }
  return documentBytes / channels;
}

interface Figure {
  readonly label: string;
  readonly documentBytes: number;
  readonly perChannel: number;
}

const figures: Figure[] = [];

function report(label: string, documentBytes: number, before: number, after: number): void {
  const perChannel = (after - before) / channels;
  figures.push({ label, documentBytes, perChannel });
  const target = 2 * documentBytes + 2048;
  console.log(
    `${label}: ${(perChannel / 1024).toFixed(2)} KiB per channel (document ${(documentBytes / 1024).toFixed(2)} KiB; target ≤ ${(target / 1024).toFixed(2)} KiB: ${perChannel <= target ? 'met' : 'NOT met'})`,
  );
}

type StateTracker = ReturnType<StateTrackers['acquire']>;

interface TrackerCase {
  readonly label: string;
  readonly changes: number;
  readonly ring?: number;
  readonly ratio?: number;
  readonly members?: number;
  /** Not reported (a first round, so that compiled code is not counted per channel). */
  readonly warmUp?: boolean;
}

async function trackers(run: TrackerCase): Promise<void> {
  const { log, hub, close } = await startMemoryHub({
    logger,
    topic: 'bench-state',
    partitions,
    ringCapacity,
  });
  const documentBytes = publish(log, run.changes, run.members);
  const metrics = createEdgeMetrics(new Registry());
  const held = new StateTrackers({
    hub,
    limits,
    maxChannels: channels + 1,
    patchRing: run.ring ?? patchRing,
    patchRingRatio: run.ratio ?? 0.75,
    kafkaWaitMs: 30_000,
    metrics,
    logger,
  });
  // The first tracker starts the hub's reader; what it holds is not per channel.
  const warm = held.acquire('warm-up');
  await warm.caughtUp(Date.now() + 30_000);
  warm.pins--;
  // The partitions' rings (the hub's, `ringCapacity` events each whatever the number of
  // channels) are filled first: catch-up reads add to them, which is not per channel.
  for (let partition = 0; partition < partitions; partition++) {
    await hub.warm(partition, ringCapacity, 30_000);
  }
  const groupsBefore = run.warmUp ? undefined : await heapSummary();
  const before = heapUsed();
  const all: StateTracker[] = [];
  for (let from = 0; from < channels; from += 100) {
    const batch = Array.from({ length: Math.min(100, channels - from) }, (_, i) =>
      held.acquire(`room.${from + i}`),
    );
    await Promise.all(batch.map((tracker) => tracker.caughtUp(Date.now() + 60_000)));
    for (const tracker of batch) tracker.pins--;
    all.push(...batch);
  }
  const folded = heapUsed();
  // One more change of every channel, folded live (the hub's live delivery, readers told).
  for (let c = 0; c < channels; c++) {
    log.publish([
      { channel: `room.${c}`, state: 'merge', data: JSON.stringify(change(c, run.changes)) },
    ]);
  }
  // What the in-memory log holds of them is the log's, not the edge's: counted from here.
  const published = heapUsed();
  for (const tracker of all) await tracker.caughtUp(Date.now() + 60_000);
  const live = folded + heapUsed() - published;
  const groupsAfter = run.warmUp ? undefined : await heapSummary();
  assert.equal(held.size, channels + 1);
  if (!run.warmUp) {
    const patches = all.reduce((sum, tracker) => sum + tracker.patches.count, 0) / channels;
    const bytes = all.reduce((sum, tracker) => sum + tracker.patches.bytes, 0) / channels;
    const ring = `${patches.toFixed(1)} patches held, ${(bytes / 1024).toFixed(2)} KiB counted`;
    report(`${run.label}, just folded`, documentBytes, before, folded);
    report(`${run.label}, after a live change (${ring})`, documentBytes, before, live);
    printGroups(groupsBefore, groupsAfter);
  }
  held.close();
  await close();
}

/** A checkpoint topic that is empty and forgets what is written to it. */
class DiscardingCheckpointLog implements CheckpointLog, EventLog {
  readonly topic = 'bench-state.state';
  readonly layout: TopicLayout = { epoch: 'cp', topicId: 'cp', partitions: 8, leaders: [1] };
  written = 0;
  get read(): EventLog {
    return this;
  }
  refreshLayout(): Promise<TopicLayout> {
    return Promise.resolve(this.layout);
  }
  offsets(partitions: readonly number[]): ReturnType<EventLog['offsets']> {
    return Promise.resolve(
      new Map(partitions.map((p) => [p, { logStartOffset: 0, highWatermark: 0 }])),
    );
  }
  openLane(label: string): { label: string } {
    return { label };
  }
  fetch(): ReturnType<EventLog['fetch']> {
    return Promise.resolve([]);
  }
  ensureTopic(): Promise<void> {
    return Promise.resolve();
  }
  write(records: readonly unknown[]): Promise<void> {
    this.written += records.length;
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

async function checkpointer(changesPerChannel: number, label: string): Promise<void> {
  const { log, close } = await startMemoryHub({ logger, topic: 'bench-state', partitions: 1 });
  const documentBytes = publish(log, changesPerChannel);
  const checkpoints = new DiscardingCheckpointLog();
  const metrics = createEdgeMetrics(new Registry());
  const groupsBefore = await heapSummary();
  const before = heapUsed();
  const running = new PartitionCheckpointer({
    partition: 0,
    events: log,
    checkpoints,
    limits,
    everyChanges: 1000,
    everyMs: 60_000,
    maxChannels: channels + 1,
    metrics,
    logger,
  });
  const end = (await log.offsets([0])).get(0)?.highWatermark ?? 0;
  while (running.head < end) await new Promise((resolve) => setTimeout(resolve, 20));
  const after = heapUsed();
  const groupsAfter = await heapSummary();
  assert.equal(running.channels, channels);
  report(label, documentBytes, before, after);
  printGroups(groupsBefore, groupsAfter);
  await running.close();
  await close();
}

console.log(`${channels} state channels, node ${process.version}, heap after full GCs`);
await trackers({ label: 'warm-up', changes: 4, warmUp: true });
await trackers({
  label: 'state trackers, 4 changes per channel, patch ring of 1',
  changes: 4,
  ring: 1,
});
await trackers({ label: 'state trackers, 4 changes per channel', changes: 4 });
await trackers({
  label: `state trackers, ${patchRing + 1} changes per channel`,
  changes: patchRing + 1,
});
await trackers({
  label: `state trackers, ${patchRing + 1} changes per channel, no byte bound`,
  changes: patchRing + 1,
  ratio: Number.POSITIVE_INFINITY,
});
await trackers({
  label: 'state trackers, 20 KiB document, 4 changes per channel',
  changes: 4,
  members: 140,
});
await trackers({
  label: `state trackers, 20 KiB document, ${patchRing + 1} changes per channel`,
  changes: patchRing + 1,
  members: 140,
});
await checkpointer(4, 'checkpointer, 4 changes per channel');
await checkpointer(patchRing + 1, `checkpointer, ${patchRing + 1} changes per channel`);
