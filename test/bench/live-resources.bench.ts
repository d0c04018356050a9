/**
 * Live resources, measured (`npm run bench:resources`): a local upstream
 * (`resource-upstream.ts`, a plain JSON API with ETags that counts every
 * request), an ingest process, bridge processes and edge processes on a
 * topic of their own in the local broker, all traffic on 127.0.0.1.
 * Sections, in order (`--sections`):
 *
 *   fanin        one on-demand resource (`GET /v1/resources?url=`) whose
 *                document changes at every poll, BENCH_SUBSCRIBERS SSE streams
 *                (`&watch=true`) over BENCH_EDGES edges, one bridge at a 1 s
 *                interval: the upstream's requests per interval window over
 *                BENCH_SECONDS, and whether every subscriber applied every change
 *   latency      one on-demand resource changed by the upstream at random times
 *                (1.1–1.6 s apart, so no poll sees two changes),
 *                BENCH_LATENCY_SUBSCRIBERS SSE subscribers, BENCH_LATENCY_CHANGES
 *                changes: from the change becoming visible at the upstream to
 *                each subscriber having applied its patch; split into the wait
 *                for the next poll and the rest
 *   bytes        an order book and a ticker list, each with and without
 *                `arrayKey`, declared resources polled every 200 ms, the document
 *                ticking at every poll: the bytes of the SSE patch events one
 *                subscriber received against the full documents
 *                (BENCH_BYTES_CHANGES changes each)
 *   bridge-load  one bridge with BENCH_RESOURCES declared resources at
 *                `intervalMs: 1000`, the upstream serving that many distinct
 *                catalogue pages (1 in 10 changes every 500 ms, 3 in 10 every
 *                5 s, 6 in 10 every 30 s; ETags, so unchanged pages are 304s),
 *                through the ingest and the broker: the bridge's CPU, RSS and
 *                heap over BENCH_SECONDS after BENCH_WARMUP_SECONDS, polls/s,
 *                304s/s, changes/s, the ingest's and the broker's CPU
 *
 * Defaults: BENCH_SUBSCRIBERS=10000, BENCH_EDGES=2, BENCH_SECONDS=30,
 * BENCH_LATENCY_SUBSCRIBERS=1000, BENCH_LATENCY_CHANGES=60,
 * BENCH_BYTES_CHANGES=100, BENCH_RESOURCES=1000, BENCH_WARMUP_SECONDS=15.
 *
 *   npm run bench:resources
 *   npm run bench:resources -- --sections bridge-load
 *   FANOUT_BENCH_BRIDGE_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" npm run bench:resources -- --sections bridge-load
 *   then node test/dist/bench/cpu-profile-summary.js /tmp/prof/CPU.*.cpuprofile
 *   FANOUT_BENCH_BRIDGE_ENV="MALLOC_ARENA_MAX=2" npm run bench:resources -- --sections bridge-load
 *   (environment of the bridge process, NAME=value separated by spaces; the
 *   load bridge runs with the NODE_OPTIONS of its image, deploy/docker/bridge.Dockerfile,
 *   unless this sets NODE_OPTIONS — `NODE_OPTIONS=` runs it without)
 *
 * Prints Markdown tables and writes the figures as JSON (`--out`, default
 * docs/benchmarks/live-resources.json). Bounded in time and count; stops
 * everything it started.
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import type { FanoutConfigInput } from '@fanout/shared';
import {
  repoRoot,
  startBridgeProcess,
  startEdgeProcess,
  startIngestProcess,
  stopOwnKafka,
  testKafka,
  type BridgeProcess,
  type EdgeProcess,
} from '../support/index.js';
import { percentile } from './latency-sampling.js';
import { loadAverage, writeSectionResults } from './section-results.js';
import { pidListeningOn } from './listening-process.js';
import { pollWindows } from './poll-windows.js';
import { nodeMemoryMetrics, processRss, type ProcessRss } from './process-memory.js';
import { cpuSeconds, machineBusyShare, machineTicks, rssBytes } from './process-stats.js';
import {
  boardDocument,
  catalogueDocument,
  orderBook,
  tickerList,
  type TickingDocument,
} from './resource-documents.js';
import type { SubscribersTally } from './resource-subscribers.js';
import { startBenchUpstream } from './resource-upstream.js';
import { emptyCounts, SseFollower } from './sse-follower.js';

const { values: args } = parseArgs({
  options: {
    sections: { type: 'string', default: 'fanin,latency,bytes,bridge-load' },
    out: { type: 'string', default: join(repoRoot, 'docs', 'benchmarks', 'live-resources.json') },
  },
});
const sections = new Set(args.sections.split(','));
const numberEnv = (name: string, fallback: number): number => Number(process.env[name] ?? fallback);
const faninSubscribers = numberEnv('BENCH_SUBSCRIBERS', 10_000);
const edgeCount = numberEnv('BENCH_EDGES', 2);
const seconds = numberEnv('BENCH_SECONDS', 30);
const latencySubscribers = numberEnv('BENCH_LATENCY_SUBSCRIBERS', 1000);
const latencyChanges = numberEnv('BENCH_LATENCY_CHANGES', 60);
const bytesChanges = numberEnv('BENCH_BYTES_CHANGES', 100);
const loadResources = numberEnv('BENCH_RESOURCES', 1000);
const warmupSeconds = numberEnv('BENCH_WARMUP_SECONDS', 15);
const intervalMs = 1000;
const bytesIntervalMs = 200;
const partitions = 8;
const startedAt = new Date();
const command = `npm run bench:resources${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;

const say = (line: string): void => {
  console.log(`[${((Date.now() - startedAt.getTime()) / 1000).toFixed(0).padStart(4)} s] ${line}`);
};
const now = (): number => performance.timeOrigin + performance.now();
const splitArgs = (value: string | undefined): string[] =>
  (value ?? '').split(/\s+/).filter((arg) => arg !== '');
const pct = (share: number): string =>
  Number.isNaN(share) ? 'not found' : `${(share * 100).toFixed(0)} %`;
const mb = (bytes: number | undefined): string =>
  bytes === undefined ? '?' : `${(bytes / 1024 / 1024).toFixed(0)} MB`;
const ms = (value: number): string => `${value.toFixed(0)} ms`;

/** CPU of named processes (and this one, and the machine) from now until `done()`, as shares of one core. */
function cpuMeter(pids: Readonly<Record<string, number | undefined>>): {
  done(): Record<string, number>;
} {
  const began = performance.now();
  const before = Object.fromEntries(
    Object.entries(pids).map(([name, pid]) => [name, cpuSeconds(pid)]),
  );
  const benchBefore = process.cpuUsage();
  const machineBefore = machineTicks();
  return {
    done() {
      const elapsed = (performance.now() - began) / 1000;
      const shares: Record<string, number> = {};
      for (const [name, pid] of Object.entries(pids)) {
        const start = before[name];
        const end = cpuSeconds(pid);
        shares[name] =
          start === undefined || end === undefined ? Number.NaN : (end - start) / elapsed;
      }
      const bench = process.cpuUsage(benchBefore);
      shares['bench'] = (bench.user + bench.system) / 1e6 / elapsed;
      const machineAfter = machineTicks();
      shares['machine'] = machineBusyShare(machineBefore, machineAfter) * cpus().length;
      return shares;
    },
  };
}

function summary(values: readonly number[]): { p50: number; p99: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted.at(-1) ?? Number.NaN,
  };
}

/** A metric's value from a Prometheus text page (the first series of that name). */
// ---- the processes ------------------------------------------------------------------------

const kafka = await testKafka();
const topic = await kafka.createTopic({ name: 'bench-live-resources', partitions });
const brokerPid = pidListeningOn(Number(kafka.brokers[0]?.split(':').at(-1)));
const upstream = await startBenchUpstream();
const ingest = await startIngestProcess({
  brokers: kafka.brokers,
  topic,
  env: { FANOUT_KAFKA_PARTITIONS: String(partitions) },
});
say(`ingest ${ingest.grpcAddress}, upstream ${upstream.origin}, topic ${topic}`);

let edges: EdgeProcess[] = [];
let bridge: BridgeProcess | undefined;
const started: { kill(signal: NodeJS.Signals): Promise<void> }[] = [];

/** The bytes section's resources: declared, polled every 200 ms, ticking only while armed. */
const bytesResources: {
  name: string;
  path: string;
  channel: string;
  arrayKey: string | undefined;
  document: TickingDocument;
  /** The version the upstream serves now. */
  version: number;
}[] = [
  ...[20, 100].flatMap((levels) =>
    [undefined, '/price'].map((arrayKey) => ({
      name: `order book, ${levels} levels a side, ${arrayKey === undefined ? 'no arrayKey' : `arrayKey ${arrayKey}`}`,
      path: `/book-${levels}${arrayKey === undefined ? '' : '-keyed'}`,
      arrayKey,
      document: orderBook(1, levels),
    })),
  ),
  ...[50, 200].flatMap((count) =>
    [undefined, '/symbol'].map((arrayKey) => ({
      name: `ticker list, ${count} tickers, ${arrayKey === undefined ? 'no arrayKey' : `arrayKey ${arrayKey}`}`,
      path: `/tickers-${count}${arrayKey === undefined ? '' : '-keyed'}`,
      arrayKey,
      document: tickerList(2, count),
    })),
  ),
].map(({ name, path, arrayKey, document }) => ({
  name,
  path,
  channel: `bench.bytes${path.replace('/', '.')}`,
  arrayKey,
  document,
  version: 0,
}));
let bytesArmed = false;
for (const resource of bytesResources) {
  upstream.add(resource.path, {
    version: () => (bytesArmed ? ++resource.version : resource.version),
    body: (v) => JSON.stringify(resource.document.at(v)),
  });
}

async function startFront(): Promise<void> {
  bridge = await startBridgeProcess({
    config: {
      bridge: {
        origins: [{ origin: upstream.origin, allowPrivate: true }],
        pollIntervalMs: intervalMs,
        minPollIntervalMs: 100,
        host: '127.0.0.1',
        port: 0,
        ingestAddress: ingest.grpcAddress,
        resources: sections.has('bytes')
          ? bytesResources.map((resource) => ({
              channel: resource.channel,
              url: `${upstream.origin}${resource.path}`,
              intervalMs: bytesIntervalMs,
              ...(resource.arrayKey === undefined ? {} : { arrayKey: resource.arrayKey }),
            }))
          : [],
      },
    } satisfies FanoutConfigInput,
  });
  started.push(bridge);
  const bridgeBase = bridge.httpBase;
  edges = await Promise.all(
    Array.from({ length: edgeCount }, () =>
      startEdgeProcess({
        brokers: kafka.brokers,
        topic,
        nodeArgs: splitArgs(process.env['FANOUT_BENCH_EDGE_NODE_ARGS']),
        env: {
          FANOUT_KAFKA_PARTITIONS: String(partitions),
          FANOUT_EDGE_RESOURCES_ENABLED: 'true',
          FANOUT_EDGE_RESOURCES_BRIDGES: bridgeBase,
          FANOUT_EDGE_MAX_CONNECTIONS: '100000',
          FANOUT_EDGE_MAX_BACKPRESSURE_BYTES: String(4 * 1024 * 1024),
        },
      }),
    ),
  );
  started.push(...edges);
  say(`bridge ${bridgeBase}, edges on ${edges.map((edge) => edge.port).join(', ')}`);
}

async function stopFront(): Promise<void> {
  await Promise.all(
    [...edges, ...(bridge === undefined ? [] : [bridge])].map((p) =>
      p.kill('SIGTERM').catch(() => undefined),
    ),
  );
  edges = [];
  bridge = undefined;
}

const resourcePath = (path: string): string =>
  `/v1/resources?url=${encodeURIComponent(`${upstream.origin}${path}`)}&watch=true`;

/** A worker of SSE subscribers of `path` on the edges (round robin); resolves once all have their snapshot. */
async function subscribers(path: string, count: number): Promise<Worker> {
  const worker = new Worker(new URL('./resource-subscribers.js', import.meta.url), {
    workerData: {
      targets: Array.from({ length: count }, (_, i) => ({
        port: edges[i % edges.length]?.port,
        path,
      })),
      wave: 500,
    },
  });
  const [ready] = (await once(worker, 'message')) as [unknown];
  if (ready !== 'subscribed') throw new Error(`subscribers: ${String(ready)}`);
  return worker;
}

async function ask<T>(worker: Worker, message: string): Promise<T> {
  worker.postMessage(message);
  const [answer] = (await once(worker, 'message')) as [T];
  return answer;
}

async function closeWorker(worker: Worker): Promise<void> {
  worker.postMessage('close');
  await once(worker, 'exit');
}

const results: Record<string, unknown> = {};
const tables: string[] = [];

// ---- fanin ----------------------------------------------------------------------------------

async function fanin(): Promise<void> {
  const path = '/fanin';
  let version = 0;
  let frozen = false;
  upstream.add(
    path,
    {
      version: () => (frozen ? version : ++version),
      body: (v) => JSON.stringify(boardDocument(v, now())),
    },
    true,
  );
  const opening = performance.now();
  const worker = await subscribers(resourcePath(path), faninSubscribers);
  const openSeconds = (performance.now() - opening) / 1000;
  say(
    `fanin: ${faninSubscribers} SSE subscribers have their snapshots (${openSeconds.toFixed(1)} s)`,
  );
  await sleep(3000);
  worker.postMessage('reset');
  const pids = {
    ...Object.fromEntries(edges.map((edge, i) => [`edge${i + 1}`, edge.pid])),
    bridge: bridge?.pid,
    ingest: ingest.pid,
    broker: brokerPid,
  };
  const meter = cpuMeter(pids);
  const from = now();
  await sleep(seconds * 1000);
  const to = now();
  const cpu = meter.done();
  const windows = pollWindows(upstream.counts(path).times, intervalMs, from, to);
  frozen = true;
  const lastVersion = version;
  // The last change reaches everyone; the polls after it are 304s.
  await sleep(3000);
  const tally = await ask<SubscribersTally>(worker, 'collect');
  await closeWorker(worker);
  let missing = 0;
  let behind = 0;
  tally.versions.forEach((v, i) => {
    const expected = lastVersion - (tally.snapshotVersions[i] ?? 0);
    missing += Math.max(0, expected - (tally.appliedEach[i] ?? 0));
    if (v !== lastVersion) behind++;
  });
  const latency = summary(tally.latencies);
  const counts = upstream.counts(path);
  const figures = {
    subscribers: faninSubscribers,
    edges: edgeCount,
    seconds,
    openSeconds,
    windows: windows.windows,
    requests: windows.requests,
    perWindowMin: windows.min,
    perWindowMax: windows.max,
    histogram: windows.histogram,
    gapMinMs: windows.gapMinMs,
    gapMedianMs: windows.gapMedianMs,
    gapMaxMs: windows.gapMaxMs,
    upstreamRequestsTotal: counts.requests,
    changes: lastVersion,
    appliedInWindow: tally.applied,
    missing,
    behind,
    gaps: tally.gaps,
    failed: tally.failed,
    errors: tally.errors,
    streamsEnded: tally.ended,
    pollToAppliedMs: latency,
    cpu,
    load: loadAverage(),
  };
  results['fanin'] = figures;
  const edgeCpu = edges.map((_, i) => pct(cpu[`edge${i + 1}`] ?? Number.NaN)).join(' + ');
  tables.push(
    `Fan-in: one on-demand resource (\`GET /v1/resources?url=…&watch=true\`), ${faninSubscribers.toLocaleString('en')} SSE subscribers over ${edgeCount} edge${edgeCount === 1 ? '' : 's'} (source addresses 127.0.0.1–4, opened in ${openSeconds.toFixed(1)} s), one bridge polling every ${intervalMs} ms; the upstream's document changes at every poll. Requests counted at the upstream over ${seconds} s, in ${intervalMs} ms windows. Target: exactly one upstream request per interval; every subscriber applies every change.`,
    '',
    '| windows | requests | per window min / max | windows with 0 / 1 / 2+ | time between requests min / median / max | changes (all) | subscribers not on the last version | changes missed | gaps | poll to applied patch p50 / p99 / max |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    `| ${windows.windows} | ${windows.requests} | ${windows.min} / ${windows.max} | ${windows.histogram[0] ?? 0} / ${windows.histogram[1] ?? 0} / ${windows.histogram.slice(2).reduce((a, b) => a + b, 0)} | ${ms(windows.gapMinMs)} / ${ms(windows.gapMedianMs)} / ${ms(windows.gapMaxMs)} | ${lastVersion} | ${behind} | ${missing} | ${tally.gaps} | ${ms(latency.p50)} / ${ms(latency.p99)} / ${ms(latency.max)} |`,
    '',
    `CPU over the ${seconds} s (share of one core): edges ${edgeCpu}, bridge ${pct(cpu['bridge'] ?? Number.NaN)}, ingest ${pct(cpu['ingest'] ?? Number.NaN)}, broker ${pct(cpu['broker'] ?? Number.NaN)}, bench (subscribers + upstream) ${pct(cpu['bench'] ?? Number.NaN)}, whole machine ${pct(cpu['machine'] ?? Number.NaN)} of ${cpus().length} cores; load average ${figures.load.join(', ')}. Patches that did not apply: ${tally.failed}; unexpected events or failed streams: ${tally.errors}; streams ended: ${tally.ended}.`,
    '',
  );
  say(`fanin: ${JSON.stringify({ ...figures, histogram: windows.histogram })}`);
}

// ---- latency ----------------------------------------------------------------------------------

async function latency(): Promise<void> {
  const path = '/latency';
  let version = 1;
  const visibleAt = new Map<number, number>([[1, now()]]);
  upstream.add(
    path,
    {
      version: () => version,
      body: (v) => JSON.stringify(boardDocument(v, visibleAt.get(v) ?? 0)),
    },
    true,
  );
  const worker = await subscribers(resourcePath(path), latencySubscribers);
  say(`latency: ${latencySubscribers} SSE subscribers have their snapshots`);
  const change = async (): Promise<void> => {
    await sleep(1100 + Math.random() * 500);
    version++;
    visibleAt.set(version, now());
  };
  for (let i = 0; i < 3; i++) await change();
  await sleep(2500);
  worker.postMessage('reset');
  const firstMeasured = version + 1;
  const meter = cpuMeter({
    ...Object.fromEntries(edges.map((edge, i) => [`edge${i + 1}`, edge.pid])),
    bridge: bridge?.pid,
    ingest: ingest.pid,
    broker: brokerPid,
  });
  for (let i = 0; i < latencyChanges; i++) await change();
  await sleep(2500);
  const cpu = meter.done();
  const tally = await ask<SubscribersTally>(worker, 'collect');
  await closeWorker(worker);
  // The wait for the next poll of each change: its first request at the upstream after it.
  const times = upstream.counts(path).times;
  const pollWait = new Map<number, number>();
  for (let v = firstMeasured; v <= version; v++) {
    const at = visibleAt.get(v) ?? 0;
    const next = times.find((time) => time >= at);
    if (next !== undefined) pollWait.set(v, next - at);
  }
  const afterPoll = tally.latencies.map(
    (value, i) => value - (pollWait.get(tally.latencyVersions[i] ?? -1) ?? Number.NaN),
  );
  const total = summary(tally.latencies);
  const waits = summary([...pollWait.values()]);
  const rest = summary(afterPoll.filter((value) => !Number.isNaN(value)));
  const expected = latencyChanges * latencySubscribers;
  const figures = {
    subscribers: latencySubscribers,
    changes: latencyChanges,
    expected,
    applied: tally.applied,
    gaps: tally.gaps,
    failed: tally.failed,
    errors: tally.errors,
    changeToAppliedMs: total,
    changeToPollMs: waits,
    pollToAppliedMs: rest,
    targetP99Ms: intervalMs + 100,
    met: total.p99 <= intervalMs + 100,
    cpu,
    load: loadAverage(),
  };
  results['latency'] = figures;
  tables.push(
    `Latency: one on-demand resource polled every ${intervalMs} ms, ${latencySubscribers.toLocaleString('en')} SSE subscribers over ${edgeCount} edge${edgeCount === 1 ? '' : 's'}, ${latencyChanges} changes at random times 1.1–1.6 s apart (the upstream records when each became visible). Latency: from that moment to a subscriber having applied the patch (every subscriber, every change: ${tally.applied.toLocaleString('en')} of ${expected.toLocaleString('en')} applied, gaps ${tally.gaps}). Split: the wait for the bridge's next poll (per change) and from that poll to the applied patch. Target: p99 ≤ interval + 100 ms = ${intervalMs + 100} ms.`,
    '',
    '| | p50 | p99 | max |',
    '| --- | ---: | ---: | ---: |',
    `| change visible → subscriber applied the patch | ${ms(total.p50)} | ${ms(total.p99)} | ${ms(total.max)} |`,
    `| change visible → next poll (per change) | ${ms(waits.p50)} | ${ms(waits.p99)} | ${ms(waits.max)} |`,
    `| poll → subscriber applied the patch | ${ms(rest.p50)} | ${ms(rest.p99)} | ${ms(rest.max)} |`,
    '',
    `CPU (share of one core): edges ${edges.map((_, i) => pct(cpu[`edge${i + 1}`] ?? Number.NaN)).join(' + ')}, bridge ${pct(cpu['bridge'] ?? Number.NaN)}, ingest ${pct(cpu['ingest'] ?? Number.NaN)}, broker ${pct(cpu['broker'] ?? Number.NaN)}, bench ${pct(cpu['bench'] ?? Number.NaN)}, machine ${pct(cpu['machine'] ?? Number.NaN)}; load average ${figures.load.join(', ')}.`,
    '',
  );
  say(`latency: ${JSON.stringify({ ...figures })}`);
}

// ---- bytes -------------------------------------------------------------------------------------

async function bytes(): Promise<void> {
  const edge = edges[0];
  if (edge === undefined) throw new Error('no edge');
  const followers = bytesResources.map((resource) => {
    const counts = emptyCounts();
    const follower = new SseFollower(
      edge.port,
      `/v1/state/${resource.channel}?watch=true`,
      undefined,
      () => counts,
      true,
    );
    return { resource, counts, follower };
  });
  const deadline = Date.now() + 30_000;
  while (
    followers.some(({ follower }) => follower.document === undefined || follower.document === null)
  ) {
    if (Date.now() > deadline) throw new Error('bytes: no snapshot with a document in 30 s');
    await sleep(50);
  }
  const snapshotBytes = followers.map(({ follower }) =>
    Buffer.byteLength(JSON.stringify(follower.document)),
  );
  bytesArmed = true;
  const until = Date.now() + 120_000;
  while (followers.some(({ counts }) => counts.applied < bytesChanges) && Date.now() < until) {
    await sleep(100);
  }
  bytesArmed = false;
  await sleep(1000);
  for (const { follower } of followers) follower.close();
  const rows = followers.map(({ resource, counts, follower }, i) => {
    const upstreamCounts = upstream.counts(resource.path);
    const consistent =
      JSON.stringify(follower.document) === JSON.stringify(resource.document.at(resource.version));
    return {
      name: resource.name,
      arrayKey: resource.arrayKey ?? null,
      documentBytes: snapshotBytes[i] ?? 0,
      patches: counts.applied,
      patchBytes: counts.patchBytes,
      fullBytes: counts.fullBytes,
      share: counts.patchBytes / counts.fullBytes,
      gaps: counts.gaps,
      failed: counts.failed,
      consistent,
      upstreamBodyBytesPerChange: upstreamCounts.bodyBytes / Math.max(1, upstreamCounts.ok),
    };
  });
  results['bytes'] = { changesEach: bytesChanges, intervalMs: bytesIntervalMs, rows };
  tables.push(
    `Patch bytes: declared resources polled every ${bytesIntervalMs} ms, the upstream's document ticking at every poll (order book: 20 bid and 20 ask levels \`{price, size}\`, 2–4 sizes change per tick, one tick in four a level leaves and another enters; ticker list: 50 tickers \`{symbol, price, change, volume, updatedAt}\`, 3–5 move per tick), at least ${bytesChanges} changes each. Patch bytes: the \`event: patch\` events one SSE subscriber of \`/v1/state/{channel}?watch=true\` received, as on the wire; full documents: the document's JSON after each change (what polling the upstream or a full-document stream would carry per change, without HTTP or SSE framing). The subscriber applied every patch and ended on the upstream's document. Target: patches ≤ 10 % of the bytes of full documents.`,
    '',
    '| document | size | patches | patch bytes per change | full bytes per change | patches / full | applied all, consistent |',
    '| --- | ---: | ---: | ---: | ---: | ---: | --- |',
    ...rows.map(
      (row) =>
        `| ${row.name} | ${(row.documentBytes / 1024).toFixed(1)} KB | ${row.patches} | ${(row.patchBytes / row.patches).toFixed(0)} | ${(row.fullBytes / row.patches).toFixed(0)} | ${(row.share * 100).toFixed(1)} % | ${row.gaps === 0 && row.failed === 0 && row.consistent ? 'yes' : `NO (gaps ${row.gaps}, failed ${row.failed}, consistent ${row.consistent})`} |`,
    ),
    '',
  );
  say(`bytes: ${JSON.stringify(rows)}`);
}

// ---- bridge-load ----------------------------------------------------------------------------------

async function bridgeLoad(): Promise<void> {
  // A realistic mix: 1 in 10 pages changes every 500 ms (at every poll), 3 in 10 every 5 s,
  // 6 in 10 every 30 s; each at its own phase.
  const periodOf = (i: number): number => (i % 10 === 0 ? 500 : i % 10 <= 3 ? 5000 : 30_000);
  const epoch = now();
  for (let i = 0; i < loadResources; i++) {
    const period = periodOf(i);
    const phase = (((i * 7919) % 1000) / 1000) * period;
    upstream.add(`/load/${i}`, {
      version: (at) => Math.floor((at - epoch + phase) / period),
      body: (v) => JSON.stringify(catalogueDocument(i, v)),
    });
  }
  // As deployed: the image's NODE_OPTIONS (V8 heap bounds), unless the environment given says otherwise.
  const imageNodeOptions =
    /^ENV NODE_OPTIONS="([^"]*)"$/m.exec(
      readFileSync(join(repoRoot, 'deploy', 'docker', 'bridge.Dockerfile'), 'utf8'),
    )?.[1] ?? '';
  const loadBridgeEnv: Record<string, string> = {
    NODE_OPTIONS: imageNodeOptions,
    ...Object.fromEntries(
      splitArgs(process.env['FANOUT_BENCH_BRIDGE_ENV']).map((pair) => {
        const at = pair.indexOf('=');
        return at < 0 ? [pair, ''] : [pair.slice(0, at), pair.slice(at + 1)];
      }),
    ),
  };
  const starting = performance.now();
  const loadBridge = await startBridgeProcess({
    // Its start (1,000 resources placed and started) is slow on a loaded machine.
    timeoutMs: 300_000,
    nodeArgs: splitArgs(process.env['FANOUT_BENCH_BRIDGE_NODE_ARGS']),
    env: loadBridgeEnv,
    config: {
      bridge: {
        origins: [{ origin: upstream.origin, allowPrivate: true }],
        pollIntervalMs: intervalMs,
        host: '127.0.0.1',
        port: 0,
        ingestAddress: ingest.grpcAddress,
        resources: Array.from({ length: loadResources }, (_, i) => ({
          channel: `bench.load.r${i}`,
          url: `${upstream.origin}/load/${i}`,
          intervalMs,
        })),
      },
    } satisfies FanoutConfigInput,
  });
  started.push(loadBridge);
  const startSeconds = (performance.now() - starting) / 1000;
  try {
    say(
      `bridge-load: bridge ${loadBridge.pid} with ${loadResources} resources ready in ${startSeconds.toFixed(1)} s; warm-up ${warmupSeconds} s`,
    );
    await sleep(warmupSeconds * 1000);
    const before = upstream.totals();
    const gcBefore = nodeMemoryMetrics(
      await (await fetch(`${loadBridge.metricsBase}/metrics`)).text(),
    ).gcSeconds;
    const meter = cpuMeter({ bridge: loadBridge.pid, ingest: ingest.pid, broker: brokerPid });
    const began = performance.now();
    let rssMax = 0;
    let rssAtMax: ProcessRss | undefined;
    for (let s = 0; s < seconds; s++) {
      await sleep(1000);
      const sample = processRss(loadBridge.pid);
      if (sample !== undefined && sample.rssBytes >= rssMax) {
        rssMax = sample.rssBytes;
        rssAtMax = sample;
      }
    }
    const elapsed = (performance.now() - began) / 1000;
    const cpu = meter.done();
    const after = upstream.totals();
    const memory = nodeMemoryMetrics(
      await (await fetch(`${loadBridge.metricsBase}/metrics`)).text(),
    );
    // Garbage collection in the window, by kind, in milliseconds per poll.
    const gcMsPerPoll = Object.fromEntries(
      Object.entries(memory.gcSeconds).map(([kind, total]) => [
        kind,
        ((total - (gcBefore[kind] ?? 0)) * 1000) / (after.requests - before.requests),
      ]),
    );
    const heapUsed = memory.heapUsedBytes;
    const heapTotal = memory.heapTotalBytes;
    const rss = rssBytes(loadBridge.pid);
    const rate = (key: 'requests' | 'ok' | 'notModified' | 'changes'): number =>
      (after[key] - before[key]) / elapsed;
    const figures = {
      resources: loadResources,
      intervalMs,
      startSeconds,
      seconds,
      warmupSeconds,
      pollsPerSecond: rate('requests'),
      notModifiedPerSecond: rate('notModified'),
      changesPerSecond: rate('changes'),
      okPerSecond: rate('ok'),
      bridgeCpu: cpu['bridge'],
      bridgeCpuMsPerPoll: ((cpu['bridge'] ?? Number.NaN) * 1000) / rate('requests'),
      /** Of it, garbage collection (its pauses on the main thread), by kind. */
      bridgeGcMsPerPoll: gcMsPerPoll,
      /** Mean time from one poll's start to the next's: the interval plus the poll. */
      pollCycleMs: (loadResources / rate('requests')) * 1000,
      bridgeRssBytes: rss,
      bridgeRssMaxBytes: rssMax,
      bridgeHeapUsedBytes: heapUsed,
      bridgeHeapTotalBytes: heapTotal,
      /** The largest RSS sample's parts: anonymous (heap, malloc) against file-backed (code). */
      bridgeRssAtMax: rssAtMax,
      /** V8 heap spaces, external memory and the size of one metrics scrape, at the end. */
      bridgeMemory: memory,
      cpu,
      load: loadAverage(),
      nodeArgs: process.env['FANOUT_BENCH_BRIDGE_NODE_ARGS'] ?? '',
      env: loadBridgeEnv,
      met: (cpu['bridge'] ?? 1) <= 0.5 && rssMax <= 200 * 1024 * 1024,
    };
    results['bridge-load'] = figures;
    tables.push(
      `Bridge load: one bridge process, ${loadResources.toLocaleString('en')} declared resources at \`intervalMs: ${intervalMs}\`, the upstream serving as many distinct catalogue pages (~1.5 KB; 1 in 10 changes every 500 ms, 3 in 10 every 5 s, 6 in 10 every 30 s, each at its own phase; strong ETags, so an unchanged page is a 304), every change a \`ChangeState\` put through the ingest into the broker. The bridge process (\`NODE_OPTIONS=${loadBridgeEnv['NODE_OPTIONS'] ?? ''}\`${
        Object.keys(loadBridgeEnv).length > 1
          ? `, ${Object.entries(loadBridgeEnv)
              .filter(([name]) => name !== 'NODE_OPTIONS')
              .map(([name, value]) => `${name}=${value}`)
              .join(' ')}`
          : ''
      }) logged ready ${startSeconds.toFixed(0)} s after it was spawned. Measured over ${seconds} s after a ${warmupSeconds} s warm-up. Targets: ≤ 50 % of a core, ≤ 200 MB.`,
      '',
      '| polls/s | 304/s | changes/s | poll cycle | bridge CPU | CPU per poll | bridge RSS (max) | bridge heap used / total | ingest CPU | broker CPU | bench (upstream) CPU | machine | load average |',
      '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
      `| ${figures.pollsPerSecond.toFixed(0)} | ${figures.notModifiedPerSecond.toFixed(0)} | ${figures.changesPerSecond.toFixed(0)} | ${ms(figures.pollCycleMs)} | ${pct(cpu['bridge'] ?? Number.NaN)} | ${figures.bridgeCpuMsPerPoll.toFixed(2)} ms | ${mb(rssMax)} | ${mb(heapUsed)} / ${mb(heapTotal)} | ${pct(cpu['ingest'] ?? Number.NaN)} | ${pct(cpu['broker'] ?? Number.NaN)} | ${pct(cpu['bench'] ?? Number.NaN)} | ${pct(cpu['machine'] ?? Number.NaN)} of ${cpus().length} cores | ${figures.load.join(', ')} |`,
      '',
      `Bridge memory at the largest RSS sample: ${mb(rssAtMax?.anonBytes ?? Number.NaN)} anonymous, ${mb(rssAtMax?.fileBytes ?? Number.NaN)} file-backed; at the end, V8 spaces (committed) ${Object.entries(
        memory.spaceSizeBytes,
      )
        .filter(([, size]) => size >= 1024 * 1024)
        .map(([space, size]) => `${space} ${mb(size)}`)
        .join(
          ', ',
        )}; external ${mb(memory.externalBytes ?? Number.NaN)}; one metrics scrape ${(memory.exposition.bytes / 1024).toFixed(0)} KB in ${memory.exposition.samples.toLocaleString('en')} samples. Garbage collection per poll: ${Object.entries(
        gcMsPerPoll,
      )
        .map(([kind, ms]) => `${kind} ${ms.toFixed(3)} ms`)
        .join(', ')}.`,
      '',
    );
    say(`bridge-load: ${JSON.stringify(figures)}`);
  } finally {
    await loadBridge.kill('SIGTERM').catch(() => undefined);
  }
}

// ---- run ------------------------------------------------------------------------------------------

try {
  if (sections.has('fanin') || sections.has('latency') || sections.has('bytes')) {
    await startFront();
    if (sections.has('fanin')) await fanin();
    if (sections.has('latency')) await latency();
    if (sections.has('bytes')) await bytes();
    await stopFront();
  }
  if (sections.has('bridge-load')) await bridgeLoad();
  await writeSectionResults({ out: args.out, command, startedAt, tables, results });
  say(`wrote ${args.out}`);
} finally {
  await Promise.all(started.map((p) => p.kill('SIGTERM').catch(() => undefined)));
  await ingest.stop();
  await upstream.close();
  await kafka.close();
  await stopOwnKafka();
}
