/**
 * CPU per change of a state tracker's fold: one channel of a realistic
 * document (a room of 12 members, about 2 KiB of canonical JSON; and a room
 * of 140 members, about 17 KiB), one put and then merges of two small
 * objects, folded by a `StateTrackers` tracker on the in-memory log (no
 * Kafka, no sockets). A round times one tracker folding the channel's whole
 * log (the hub's delivery, the fold, the diff, the patch); the figure is the
 * median round's CPU time divided by its changes. For comparison, what
 * `JSON.parse` and `JSON.stringify` of the document cost alone.
 *
 *   npm run bench:state-fold        (BENCH_ROUNDS=N, default 7)
 */
import { canonicalJson, createLogger, type JsonValue } from '@fanout/shared';
import { createEdgeMetrics, startMemoryHub, StateTrackers } from '@fanout/edge';
import { Registry } from 'prom-client';

const rounds = Number(process.env['BENCH_ROUNDS'] ?? 7);
const limits = { maxDocumentBytes: 262_144, maxDepth: 64 };
const logger = createLogger({ service: 'bench', level: 'silent' });

function room(members: number): Record<string, JsonValue> {
  return {
    title: 'Room 1',
    topic: 'Quarterly planning of the platform team, agenda and notes',
    owner: { id: 'user-1-0', name: 'Member 0' },
    members: Array.from({ length: members }, (_, m) => ({
      id: `user-1-${m}`,
      name: `Member ${m} of room 1`,
      role: m === 0 ? 'owner' : 'member',
      joinedAt: '2026-12-01T10:00:00.000Z',
      online: m % 2 === 0,
    })),
    settings: { muted: false, theme: 'dark', notify: ['mention', 'reply'], slowModeSeconds: 0 },
    counters: { messages: 0, reactions: 0 },
  };
}

function change(i: number): JsonValue {
  return {
    counters: { messages: i, reactions: 2 * i },
    lastMessage: {
      from: `user-1-${i % 12}`,
      at: `2026-12-01T10:${String(i % 60).padStart(2, '0')}:00.000Z`,
    },
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

/** CPU µs (user + system) of `work`, run `times` times. */
function cpuMicros(times: number, work: () => void): number {
  const start = process.cpuUsage();
  for (let i = 0; i < times; i++) work();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / times;
}

async function foldRound(members: number, changes: number): Promise<number> {
  const { log, hub, close } = await startMemoryHub({ logger, topic: 'bench-fold', partitions: 1 });
  log.publish([{ channel: 'room.1', state: 'put', data: JSON.stringify(room(members)) }]);
  for (let i = 1; i < changes; i++) {
    log.publish([{ channel: 'room.1', state: 'merge', data: JSON.stringify(change(i)) }]);
  }
  const trackers = new StateTrackers({
    hub,
    limits,
    maxChannels: 10,
    patchRing: 64,
    patchRingRatio: 0.75,
    kafkaWaitMs: 30_000,
    metrics: createEdgeMetrics(new Registry()),
    logger,
  });
  // The reader's start is not the fold's: a first tracker on another channel of the partition.
  const warm = trackers.acquire('warm-up');
  await warm.caughtUp(Date.now() + 30_000);
  warm.pins--;
  const start = process.cpuUsage();
  const tracker = trackers.acquire('room.1');
  await tracker.caughtUp(Date.now() + 120_000);
  const used = process.cpuUsage(start);
  tracker.pins--;
  if (tracker.offset !== changes - 1) {
    throw new Error(`folded to ${tracker.offset}, not ${changes - 1}`);
  }
  trackers.close();
  await close();
  return (used.user + used.system) / changes;
}

console.log(`state fold, node ${process.version}, median of ${rounds} rounds, CPU µs per change`);
for (const { members, changes } of [
  { members: 12, changes: 4000 },
  { members: 140, changes: 1000 },
]) {
  let document = room(members);
  for (let i = 1; i < changes; i++) document = { ...document, ...(change(i) as object) };
  const json = canonicalJson(document);
  const perChange: number[] = [];
  await foldRound(members, Math.min(changes, 200));
  for (let round = 0; round < rounds; round++) perChange.push(await foldRound(members, changes));
  const parse = median(
    Array.from({ length: rounds }, () =>
      cpuMicros(1000, () => {
        JSON.parse(json) as unknown;
      }),
    ),
  );
  const stringify = median(
    Array.from({ length: rounds }, () => cpuMicros(1000, () => canonicalJson(document))),
  );
  console.log(
    `document ${(json.length / 1024).toFixed(2)} KiB (${members} members), ${changes} changes: fold ${median(perChange).toFixed(1)} µs per change (rounds ${perChange.map((v) => v.toFixed(1)).join(' ')}); JSON.parse ${parse.toFixed(1)} µs, canonicalJson ${stringify.toFixed(1)} µs`,
  );
}
