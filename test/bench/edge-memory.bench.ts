/**
 * Memory per idle WebSocket on one edge process, from the JavaScript heap
 * instead of RSS: the edge (`services/edge/dist/main.js` of one or more
 * checkouts) runs as its own process under `--inspect=127.0.0.1:<port>`,
 * which only this benchmark passes; through the inspector it collects
 * garbage and reads the used V8 heap and the external memory JavaScript
 * objects own (ArrayBuffers, native objects), before and after N
 * connections open (connected only), and again once each has subscribed to
 * one channel. A few warm-up connections first subscribe to that channel
 * and one of them stays, so the partition is already read and code already
 * compiled when the base reading is taken: what remains is what a
 * connection costs.
 *
 * Every round starts a fresh edge process; rounds alternate between the
 * builds (a, b, a, b, ...). Then one more round per build takes heap
 * snapshots at the three moments and lists the object groups (constructors)
 * a connection adds.
 *
 *   npm run bench:edge-memory
 *   node test/dist/bench/edge-memory.bench.js --edge before=/path/to/other/checkout \
 *     --edge after=. --connections 5000 --rounds 5 [--snapshot-dir /tmp/heap]
 *
 * Loopback only, bounded in time; stops everything it started.
 */
import { mkdirSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { startEdgeProcess, stopOwnKafka, testKafka } from '../support/index.js';
import { RawWsClient } from '../support/raw-ws-client.js';
import { repoRoot } from '../support/repo-paths.js';
import {
  figureSpread,
  figuresTable,
  snapshotTable,
  type BuildMemory,
  type MemoryRound,
} from './edge-memory-report.js';
import { perConnection, type HeapSummary } from './heap-snapshot-summary.js';
import { freePort } from '../support/free-port.js';
import { InspectorSession } from './inspector-session.js';
import { heapAfterGc, heapSnapshot } from './process-heap.js';
import { machineSummary } from './process-stats.js';

const { values: args } = parseArgs({
  options: {
    /** `label=checkout`: an edge build to measure (repeatable; default this checkout). */
    edge: { type: 'string', multiple: true },
    connections: { type: 'string', default: '5000' },
    rounds: { type: 'string', default: '5' },
    /** Skip the heap snapshot round. */
    'no-snapshots': { type: 'boolean', default: false },
    /** Where to write the snapshots (`<label>-<state>.heapsnapshot`), for DevTools. */
    'snapshot-dir': { type: 'string' },
  },
});

interface Build {
  readonly label: string;
  readonly root: string;
}

const builds: Build[] = (args.edge ?? [`current=${repoRoot}`]).map((spec) => {
  const at = spec.indexOf('=');
  return at < 0
    ? { label: spec, root: resolve(spec) }
    : { label: spec.slice(0, at), root: resolve(spec.slice(at + 1)) };
});
const connectionCount = Number(args.connections);
const rounds = Number(args.rounds);
const snapshotDir = args['snapshot-dir'];
if (snapshotDir !== undefined) mkdirSync(snapshotDir, { recursive: true });
const warmUpConnections = 50;
const channel = 'bench.memory';

const kafka = await testKafka();
const topic = await kafka.createTopic({ name: 'bench-memory', partitions: 8 });
const edgeEnv = {
  FANOUT_LOG_LEVEL: 'info',
  FANOUT_EDGE_IDLE_TIMEOUT_SECONDS: '960',
};

async function connectAll(port: number, count: number): Promise<RawWsClient[]> {
  const clients: RawWsClient[] = [];
  for (let i = 0; i < count; i += 500) {
    const wave = Array.from(
      { length: Math.min(500, count - i) },
      () => new RawWsClient(port, '/v1/ws', 'fanout.json.v1'),
    );
    await Promise.all(wave.map((client) => client.ready));
    clients.push(...wave);
  }
  return clients;
}

/** Subscribes every client to `channel`; waits for every `subscribed` frame. */
async function subscribeAll(clients: readonly RawWsClient[]): Promise<void> {
  const before = clients.map((client) => client.frames);
  for (const client of clients) {
    client.sendText(JSON.stringify({ subscribe: { requestId: 1, subscriptions: [{ channel }] } }));
  }
  const deadline = Date.now() + 60_000;
  while (clients.some((client, index) => client.frames <= (before[index] ?? 0))) {
    if (Date.now() > deadline) throw new Error('subscriptions were not all confirmed in 60 s');
    await sleep(50);
  }
}

interface Snapshots {
  readonly base: HeapSummary;
  readonly idle: HeapSummary;
  readonly subscribed: HeapSummary;
}

/** One fresh edge process of `build`: the three readings, and snapshots when asked. */
async function measure(
  build: Build,
  withSnapshots: boolean,
): Promise<{ round: MemoryRound; snapshots?: Snapshots }> {
  const inspectPort = await freePort();
  const edge = await startEdgeProcess({
    root: build.root,
    brokers: kafka.brokers,
    topic,
    env: edgeEnv,
    nodeArgs: [`--inspect=127.0.0.1:${inspectPort}`],
  });
  const inspector = await InspectorSession.attach(inspectPort);
  const clients: RawWsClient[] = [];
  const snapshot = async (state: keyof Snapshots): Promise<HeapSummary> =>
    heapSnapshot(
      inspector,
      snapshotDir === undefined
        ? undefined
        : join(snapshotDir, `${build.label}-${state}.heapsnapshot`),
    );
  try {
    const warmUp = await connectAll(edge.port, warmUpConnections);
    clients.push(...warmUp);
    await subscribeAll(warmUp);
    for (const client of warmUp.slice(1)) client.close();
    await sleep(2000);
    const base = await heapAfterGc(inspector);
    const baseSnapshot = withSnapshots ? await snapshot('base') : undefined;

    const measured = await connectAll(edge.port, connectionCount);
    clients.push(...measured);
    await sleep(1000);
    const idle = await heapAfterGc(inspector);
    const idleSnapshot = withSnapshots ? await snapshot('idle') : undefined;

    await subscribeAll(measured);
    await sleep(1000);
    const subscribed = await heapAfterGc(inspector);
    const subscribedSnapshot = withSnapshots ? await snapshot('subscribed') : undefined;

    const open = measured.filter((client) => !client.closed).length;
    if (open !== connectionCount) {
      throw new Error(`${connectionCount - open} of ${connectionCount} connections closed`);
    }
    const round = { connections: connectionCount, base, idle, subscribed };
    return baseSnapshot === undefined ||
      idleSnapshot === undefined ||
      subscribedSnapshot === undefined
      ? { round }
      : {
          round,
          snapshots: { base: baseSnapshot, idle: idleSnapshot, subscribed: subscribedSnapshot },
        };
  } finally {
    for (const client of clients) client.close();
    inspector.close();
    await edge.kill('SIGTERM');
  }
}

const kib = (bytes: number): string => `${(bytes / 1024).toFixed(3)} KiB`;
const results = new Map<string, { rounds: MemoryRound[]; snapshot?: BuildMemory['snapshot'] }>(
  builds.map((build) => [build.label, { rounds: [] }]),
);
try {
  for (let r = 1; r <= rounds; r++) {
    for (const build of builds) {
      const { round } = await measure(build, false);
      results.get(build.label)?.rounds.push(round);
      const idle = figureSpread({ label: build.label, rounds: [round] }, 'idle', 'totalBytes');
      const subscribed = figureSpread(
        { label: build.label, rounds: [round] },
        'subscribed',
        'totalBytes',
      );
      console.log(
        `round ${r} ${build.label}: heap + external per connection ${kib(idle.median)} idle, ${kib(subscribed.median)} with one subscription`,
      );
    }
  }
  if (!args['no-snapshots']) {
    for (const build of builds) {
      const { snapshots } = await measure(build, true);
      if (snapshots === undefined) continue;
      const entry = results.get(build.label);
      if (entry === undefined) continue;
      entry.snapshot = {
        idle: perConnection(snapshots.base, snapshots.idle, connectionCount),
        subscribed: perConnection(snapshots.base, snapshots.subscribed, connectionCount),
      };
      console.log(`snapshots ${build.label}: taken`);
    }
  }
  const memory: BuildMemory[] = builds.map((build) => {
    const entry = results.get(build.label);
    return {
      label: build.label,
      rounds: entry?.rounds ?? [],
      ...(entry?.snapshot === undefined ? {} : { snapshot: entry.snapshot }),
    };
  });
  const lines = [
    `Machine: ${cpus().length} × ${machineSummary()}, Node ${process.versions.node}, load ${loadavg()[0]?.toFixed(2) ?? '?'}; ${connectionCount.toLocaleString('en')} connections per round, readings after full garbage collections.`,
    '',
    ...figuresTable(memory),
  ];
  if (memory.some((build) => build.snapshot !== undefined)) {
    lines.push(
      '',
      'Heap snapshot, objects and their own bytes per connection, idle:',
      '',
      ...snapshotTable(memory, 'idle'),
      '',
      'With one subscription:',
      '',
      ...snapshotTable(memory, 'subscribed'),
    );
  }
  console.log(`\n${lines.join('\n')}`);
} finally {
  await kafka.close();
  await stopOwnKafka();
}
