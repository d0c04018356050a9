/**
 * `npm run bench`: the benchmark suite, side by side with its peers, on this
 * machine and in one run. Starts the local Kafka broker, then for each
 * target — the fanout edge, the naive baseline (`naive-baseline-server.ts`)
 * and Centrifugo when it has a binary (FANOUT_BENCH_CENTRIFUGO_BIN, or what
 * `deploy/tools/centrifugo.mjs build` installed; `centrifugo-target.ts`) — runs:
 *
 *   idle       10,000 and 50,000 idle WebSockets, each subscribed: server RSS growth per
 *              connection; a count above one process's open-file limit runs over several
 *              server and client processes (`idle-connections.ts`)
 *   broadcast  1 channel, 1,000 / 5,000 / 10,000 subscribers, FANOUT_BENCH_BROADCAST_RATE
 *              events/s [100]: deliveries/s, latency p50/p99/p99.9/max
 *   channels   1,000 channels × 10 subscribers, FANOUT_BENCH_CHANNELS_RATE events/s [5000];
 *              then the goal's own row: 100 channels × 10 subscribers, 1,000 events/s for
 *              FANOUT_BENCH_GOAL_SECONDS [25] (its p99.9 on ≥ 20,000 timed events)
 *   storm      10,000 subscribers over 100 channels, events at 100/s with a sequence
 *              number per channel; the server restarts; every client reconnects
 *              (the edge's clients resume after their last position): the new server's
 *              start → listening → ready (`/readyz`), ready → every client receiving new
 *              events, events missed and repeated
 *   coldstart  (fanout only unless --coldstart-targets) 100 channels × 10 subscribers,
 *              1,000 events/s on a broker of its own; the edge restarts, then the
 *              broker (SIGKILL, same data): start → listening → ready, ready → all live,
 *              latency of the sampled subscribers over the events sent in their first
 *              10 s live again (goal p99 ≤ 100 ms), and the same subscribers' steady figure
 *   ingest     publish throughput: fanout's ingest (gRPC `Publish`, 100 events a call,
 *              8 in flight; `ingest-publish.bench.ts`) vs a kafkajs producer writing
 *              the same batches straight to Kafka (the naive path) and Centrifugo's
 *              HTTP API (`/api/batch` with 100 publishes, 8 in flight)
 *   state      (fanout only, not in the default list) `state-channels.bench.ts` on this
 *              broker: the page waterfall, patch bytes, state patch latency;
 *              writes state-channels.json beside results.json
 *
 * Events are written to Kafka (kafkajs, acks=all) and carry their send
 * time: in broadcast and channels by a producer process of its own
 * (`bench-producer-process.ts`), in the other scenarios by this process.
 * Clients speak each server's protocol (`bench-client.ts`:
 * `fanout-client.ts`, `centrifugo-client.ts`), spread over source addresses
 * 127.0.0.1-4 and, in broadcast and channels, over
 * FANOUT_BENCH_CLIENT_PROCESSES [2] client processes
 * (`bench-client-process.ts`; subscriber i in process i mod N,
 * `client-shares.ts`), and count messages without decoding them — except a
 * sample of them (1 in 10, at least 100, spread over all by a hash of the
 * index; `latency-sampling.ts`), ordinary subscribers that also decode the
 * send times of what they receive: latency is arrival minus send time
 * there, in the client process holding them, behind the same queue as its
 * other clients, and the percentiles are over the timed events of every
 * process; each timed event is also split at the broker's append time (the
 * topics stamp LogAppendTime; `latency-split.ts`), beside the edge's own
 * delivery histogram and its event-loop delay over the phase. The fanout
 * target is FANOUT_BENCH_EDGES [1] edge processes on one port (the kernel
 * spreads connections over them). Every phase
 * measures the CPU of the server, of the producer and of each client process
 * (or of this process where it is both), of the Kafka broker and of the whole machine, and the load
 * average at its start and end, and says which was the limit
 * (`cpu-verdict.ts`: ≥ 90 % of a core for an event loop, of all cores for
 * the machine). Ratios are fanout ÷ peer, "1.0× (same)" within ±5 %
 * (`ratio-words.ts`). Centrifugo reads its own topic, written in its
 * consumer's format.
 * Writes `docs/benchmarks/results.json`, `docs/benchmarks/results.md` and SVG
 * charts (or into `--out DIR`). Loopback only; bounded in time (≈ 12 min,
 * `--quick` ≈ 6 min on an idle machine, each ≈ 5 min more with Centrifugo);
 * stops everything it started.
 *
 *   npm run bench                  # the full run
 *   npm run bench -- --quick       # fewer subscribers, shorter phases
 *   npm run bench -- --targets fanout --scenarios broadcast,channels
 *   npm run bench -- --targets fanout --scenarios state
 *   npm run bench -- --scenarios idle --targets fanout,naive --idle-counts 2000,6000 --idle-per-process 2000
 *   FANOUT_BENCH_EDGE_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" npm run bench -- --targets fanout
 *   FANOUT_BENCH_CLIENT_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof-clients" npm run bench -- --targets fanout --scenarios broadcast
 *   npm run bench -- --targets fanout --scenarios broadcast,channels --broadcast-counts 1000 --channel-rows goal
 *   FANOUT_BENCH_CLIENT_PROCESSES=3 npm run bench -- --targets fanout --scenarios broadcast,channels --out /tmp/b3
 *   FANOUT_BENCH_EDGES=2 npm run bench -- --targets fanout --scenarios broadcast --broadcast-counts 1000 --out /tmp/e2
 *   FANOUT_BENCH_CENTRIFUGO_BIN=/path/to/centrifugo npm run bench -- --targets fanout,centrifugo
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { cpus, loadavg, totalmem } from 'node:os';
import { join, relative } from 'node:path';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import * as prettier from 'prettier';
import { partitionForChannel } from '@fanout/shared';
import kafkajs, { type Producer } from 'kafkajs';
import {
  RestartableBroker,
  edgeAsInImage,
  repoRoot,
  startEdgeProcess,
  stopOwnKafka,
  testKafka,
  uniqueName,
} from '../support/index.js';
import { freePort } from '../support/free-port.js';
import type { BenchClient, ClientProtocol } from './bench-client.js';
import { centrifugoProtocol } from './centrifugo-client.js';
import { centrifugoPublishThroughput } from './centrifugo-publish.js';
import { findCentrifugo, startCentrifugo } from './centrifugo-target.js';
import {
  BenchRecords,
  publishAtRate,
  sendNoting,
  type AppendNote,
  type KafkaRecord,
  type RecordFormat,
} from './bench-records.js';
import { ClientProcesses } from './client-processes.js';
import { clientProcessCount } from './client-shares.js';
import { ProducerProcess } from './producer-process.js';
import { fanoutProtocol } from './fanout-client.js';
import {
  LatencyRecorder,
  sampledIndices,
  sampleSize,
  summarizeLatency,
  wallClockMs,
  type LatencySummary,
} from './latency-sampling.js';
import {
  AppendTimes,
  bucketSummary,
  histogramBuckets,
  splitLatency,
  loopDelay,
  worstLoopDelay,
  type EdgePhase,
  type HistogramBuckets,
  type LatencySplit,
} from './latency-split.js';
import { machineSummary } from './process-stats.js';
import {
  CpuMeter,
  cpuSummary,
  cpuVerdict,
  type CpuVerdict,
  type PhaseCpu,
  type WatchedProcess,
} from './cpu-verdict.js';
import { pidListeningOn } from './listening-process.js';
import {
  defaultHandshakeWindow,
  inWindow,
  listenCounters,
  listenCountersSince,
  reconnectTimeline,
  ReconnectTimes,
} from './storm-reconnect.js';
import { betterWords, ratioWords } from './ratio-words.js';
import { barChart, formatNumber, lineChart } from './svg-charts.js';
import {
  ephemeralPortsFrom,
  idleLimitsFor,
  openFileLimitFrom,
  planProblem,
} from './idle-connection-plan.js';
import { measureIdleConnections } from './idle-connections.js';
import { idleGroupLabel, idleSection, type IdleResult } from './idle-report.js';
import { centrifugoJsonSession, type IdleSession } from './idle-session.js';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    out: { type: 'string', default: join(repoRoot, 'docs', 'benchmarks') },
    targets: { type: 'string', default: 'fanout,naive,centrifugo' },
    scenarios: { type: 'string', default: 'idle,broadcast,channels,storm,coldstart,ingest' },
    /** The targets the cold-start scenario runs for (it starts a broker of its own). */
    'coldstart-targets': { type: 'string', default: 'fanout' },
    /** Idle connection counts (default 10000,50000; --quick 10000). */
    'idle-counts': { type: 'string' },
    /** Most connections per server and per client process of the idle scenario (below the open-file limit). */
    'idle-per-process': { type: 'string' },
    /** Subscriber counts of the broadcast scenario (default 1000,5000,10000; --quick 1000,10000). */
    'broadcast-counts': { type: 'string' },
    /** The rows of the channels scenario: `spread` (1,000 × 10) and `goal` (100 × 10). */
    'channel-rows': { type: 'string', default: 'spread,goal' },
  },
});
const quick = args.quick;
const selectedTargets = new Set(args.targets.split(','));
const selectedScenarios = new Set(args.scenarios.split(','));
const coldStartTargets = new Set(args['coldstart-targets'].split(','));
const seconds = Number(process.env['FANOUT_BENCH_SECONDS'] ?? (quick ? 3 : 6));
const broadcastRate = Number(process.env['FANOUT_BENCH_BROADCAST_RATE'] ?? 100);
const channelsRate = Number(process.env['FANOUT_BENCH_CHANNELS_RATE'] ?? 5000);
const stormRate = 100;
/** Longest wait for the storm's clients to be live again. */
const stormWaitSeconds = quick ? 60 : 120;
const idleCounts =
  args['idle-counts']?.split(',').map(Number) ?? (quick ? [10_000] : [10_000, 50_000]);
/** Longest time for opening one idle measurement's connections. */
const idleOpenSeconds = Number(process.env['FANOUT_BENCH_IDLE_OPEN_SECONDS'] ?? 600);
/** Opening stops when the idle scenario's client processes hold more. */
const idleMaxClientRssMiB = Number(process.env['FANOUT_BENCH_IDLE_MAX_CLIENT_RSS_MIB'] ?? 4096);
const broadcastCounts =
  args['broadcast-counts']?.split(',').map(Number) ??
  (quick ? [1_000, 10_000] : [1_000, 5_000, 10_000]);
if (broadcastCounts.some((c) => !Number.isInteger(c) || c < 1 || c > 10_000)) {
  throw new Error(`--broadcast-counts: whole numbers 1–10,000, not ${args['broadcast-counts']}`);
}
const channelRows = new Set(args['channel-rows'].split(','));
const mainConnections = 10_000;
const channelCount = 1_000;
/** The goal's row ("100 channels × 10 subscribers, 1,000 ev/s: p99.9 ≤ 50 ms"). */
const goalChannelCount = 100;
const goalPerChannel = 10;
const goalRate = 1000;
/**
 * Its phase: 1,000 timed events a second (100 sampled subscribers × 10 events/s
 * each), so 25 s rest its p99.9 on 25,000 of them.
 */
const goalSeconds = Number(process.env['FANOUT_BENCH_GOAL_SECONDS'] ?? (quick ? 5 : 25));
/** Client processes of the steady scenarios (broadcast, channels). */
const clientProcesses = clientProcessCount(process.env['FANOUT_BENCH_CLIENT_PROCESSES'], 2);
const stormChannels = 100;
const partitions = 8;
const dataBytes = 128;
const sourceAddresses = ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4'];
const startedAt = new Date();
const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;

const say = (line: string): void => {
  console.log(`[${((Date.now() - startedAt.getTime()) / 1000).toFixed(0).padStart(4)} s] ${line}`);
};

// ---- machine ------------------------------------------------------------------

/** The per-process open-file limit (soft = hard here: node raises the soft one). */
function openFileLimit(): number {
  return openFileLimitFrom(readFileSync('/proc/self/limits', 'utf8'));
}

/** Ephemeral ports of one source address. */
function ephemeralPorts(): number {
  try {
    return ephemeralPortsFrom(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8'));
  } catch {
    return ephemeralPortsFrom('');
  }
}

const machine = {
  cpus: cpus().length,
  model: machineSummary(),
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  node: process.versions.node,
  openFileLimit: openFileLimit(),
  ephemeralPorts: ephemeralPorts(),
};
const idleLimits = idleLimitsFor(
  machine.openFileLimit,
  machine.ephemeralPorts,
  args['idle-per-process'] === undefined ? undefined : Number(args['idle-per-process']),
);
const load = (): number => Number(loadavg()[0]?.toFixed(2) ?? 0);

// ---- Kafka and publishing ---------------------------------------------------------------

const kafka = await testKafka();
const producer: Producer = kafka.kafka.producer({ idempotent: true });
await producer.connect();
/** The storm's and the cold start's events (the steady scenarios have a producer process of their own). */
const records = new BenchRecords({ idPrefix: 'b', partitions, dataBytes });
const sequences = records.sequences;

/**
 * The suite's topics stamp each batch with the broker's append time, which
 * the produce response returns and the edge reads as the record timestamp
 * (`latency-split.ts`).
 */
const appendTimeTopic = { 'message.timestamp.type': 'LogAppendTime' } as const;
/** Append times of the events sent since the last reset, by send time. */
const appendTimes = new AppendTimes();
const noteAppend = (note: AppendNote): void => {
  appendTimes.note(note.sent, note.appended, note.acknowledged);
};

/** Sends `batch` with `via` and notes each one's append time and acknowledgement time. */
async function sendNotingHere(
  via: Producer,
  topic: string,
  batch: readonly KafkaRecord[],
): Promise<void> {
  await sendNoting(via, topic, batch, records.sendTimes, noteAppend);
}

/** Topics whose records are written in another format than fanout's (a peer's own topic). */
const recordFormats = new Map<string, RecordFormat>();

async function send(topic: string, channels: readonly string[]): Promise<void> {
  const format = recordFormats.get(topic) ?? 'fanout';
  await sendNotingHere(
    producer,
    topic,
    channels.map((c) => records.of(format, c)),
  );
}

/**
 * Publishes `rate` events/s over `channels` from this process for
 * `forSeconds` (or until `stop()`), in 20 ms steps (`publishAtRate`).
 */
async function publishHere(
  topic: string,
  channels: readonly string[],
  rate: number,
  forSeconds: number,
  stopped: () => boolean = () => false,
): Promise<number> {
  return publishAtRate((batch) => send(topic, batch), channels, rate, forSeconds, stopped);
}

// ---- targets ---------------------------------------------------------------------------------

interface Server {
  /** Its processes: one, or the edges side by side on one port (`FANOUT_BENCH_EDGES`). */
  readonly pids: readonly number[];
  readonly port: number;
  /** `performance.now()` when the process was spawned. */
  readonly startedAt: number;
  /** `performance.now()` when it listened (its start resolved). */
  readonly listeningAt: number;
  /**
   * `performance.now()` when it first said it was ready (the edge's
   * `/readyz` answering 200, polled every 10 ms); a peer without a
   * readiness check is ready when it listens.
   */
  readonly ready: Promise<number>;
  /** Each edge's Prometheus metrics (delivery histogram, event-loop delay); a peer has none. */
  readonly metricsUrls?: readonly string[];
  stop(): Promise<void>;
}

/**
 * The edges' delivery histogram now (record timestamp → uWS hand-over,
 * summed over the edges); undefined for a peer. The scrape also restarts
 * each edge's event-loop delay gauges, so call it at a phase's start.
 */
async function edgeDeliveryBuckets(server: Server): Promise<HistogramBuckets | undefined> {
  const expositions = await edgeExpositions(server);
  return expositions === undefined ? undefined : deliveryBuckets(expositions);
}

/** The delivery histogram of every edge's exposition, added up bucket by bucket. */
const deliveryBuckets = (expositions: readonly string[]): HistogramBuckets =>
  histogramBuckets(expositions.join('\n'), 'fanout_edge_delivery_latency_seconds');

/** Every edge's `/metrics` text; undefined for a peer or when one does not answer. */
async function edgeExpositions(server: Server): Promise<string[] | undefined> {
  if (server.metricsUrls === undefined) return undefined;
  try {
    return await Promise.all(
      server.metricsUrls.map(async (url) => {
        const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
        return response.text();
      }),
    );
  } catch {
    return undefined;
  }
}

/** What the edges' delivery histogram observed since `before`, and their event loops' delay since then. */
async function edgeDeliverySince(
  server: Server,
  before: HistogramBuckets | undefined,
): Promise<EdgePhase | undefined> {
  const expositions = await edgeExpositions(server);
  if (before === undefined || expositions === undefined) return undefined;
  const after = deliveryBuckets(expositions);
  const delay = worstLoopDelay(expositions.map((text) => loopDelay(text)));
  return {
    delivery: bucketSummary(before, after),
    ...(delay === undefined ? {} : { loopDelay: delay }),
  };
}

/** When `url` first answers 200 (`performance.now()`), polled every 10 ms; NaN when not within `timeoutMs`. */
async function firstReady(url: string, timeoutMs = 120_000): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await response.arrayBuffer();
      if (response.status === 200) return performance.now();
    } catch {
      // not answering yet
    }
    await sleep(10);
  }
  return Number.NaN;
}

interface Target {
  readonly name: string;
  readonly label: string;
  /** Why it cannot run here, if it cannot. */
  readonly unavailable?: string;
  /** Resubscribes with the last position after a reconnect. */
  readonly resumes: boolean;
  /** How the benchmark's clients talk to it. */
  readonly protocol: ClientProtocol;
  /** How an idle connection subscribes, when not `fanout.json.v1`'s way. */
  readonly idleSession?: IdleSession;
  /** Its own topic, when it reads another record format than the suite's topic. */
  readonly topic?: string;
  /** The server's version and where its binary came from, for a peer not built here. */
  readonly version?: string;
  /** `one`: an event loop that saturates at one core; `many`: can use every core. */
  readonly threads: 'one' | 'many';
  /**
   * Starts a server reading `topic` (of `brokers`, the suite's broker unless
   * given); fanout as `edges` edges on one port (`FANOUT_BENCH_EDGES` unless
   * given), a peer as its one server.
   */
  start(topic: string, brokers?: readonly string[], edges?: number): Promise<Server>;
}

/**
 * fanout edges side by side on one port (1–4, default 1): one edge is one
 * event loop, so on a machine of several cores more edges share one
 * channel's fan-out, as more edge replicas do in a cluster.
 */
const edgeCount = Number(process.env['FANOUT_BENCH_EDGES'] ?? 1);
if (!Number.isInteger(edgeCount) || edgeCount < 1 || edgeCount > 4) {
  throw new Error(
    `FANOUT_BENCH_EDGES: a whole number 1–4, not ${process.env['FANOUT_BENCH_EDGES']}`,
  );
}

const edgeNodeArgs = (process.env['FANOUT_BENCH_EDGE_NODE_ARGS'] ?? '')
  .split(/\s+/)
  .filter((arg) => arg !== '');

const fanoutTarget: Target = {
  name: 'fanout',
  label: 'fanout edge',
  resumes: true,
  protocol: fanoutProtocol,
  threads: 'one',
  async start(topic, brokers = kafka.brokers, edges = edgeCount) {
    const startedAt = performance.now();
    const startEdge = (port: number): ReturnType<typeof startEdgeProcess> =>
      startEdgeProcess({
        brokers,
        topic,
        // As the image runs it: the bundle, with source maps (decision 050).
        script: edgeAsInImage.script,
        nodeArgs: [...edgeAsInImage.nodeArgs, ...edgeNodeArgs],
        env: {
          FANOUT_KAFKA_PARTITIONS: String(partitions),
          FANOUT_EDGE_PORT: String(port),
          FANOUT_EDGE_MAX_BACKPRESSURE_BYTES: String(4 * 1024 * 1024),
          FANOUT_EDGE_IDLE_TIMEOUT_SECONDS: '960',
          FANOUT_EDGE_MAX_CONNECTIONS: '100000',
          FANOUT_EDGE_SUBSCRIBE_RATE_PER_SECOND: '1000',
          // A restart closes every client (resumably) within 2 s instead of 25 s.
          FANOUT_EDGE_SHUTDOWN_TIMEOUT_MS: '2000',
        },
        timeoutMs: 60_000,
      });
    // Several edges listen on one port: uWebSockets listens with
    // SO_REUSEPORT (on a port given, not on port 0), and the kernel spreads
    // the connections over them.
    const first = await startEdge(edges === 1 ? 0 : await freePort());
    const running = [first];
    try {
      for (let i = 1; i < edges; i++) running.push(await startEdge(first.port));
    } catch (error) {
      await Promise.all(running.map((edge) => edge.kill('SIGTERM')));
      throw error;
    }
    const listeningAt = performance.now();
    return {
      pids: running.map((edge) => edge.pid),
      port: first.port,
      startedAt,
      listeningAt,
      ready: Promise.all(running.map((edge) => firstReady(`${edge.metricsBase}/readyz`))).then(
        (times) => Math.max(...times),
      ),
      metricsUrls: running.map((edge) => `${edge.metricsBase}/metrics`),
      stop: async () => {
        await Promise.all(running.map((edge) => edge.kill('SIGTERM')));
      },
    };
  },
};

const naiveTarget: Target = {
  name: 'naive',
  label: 'naive (ws + kafkajs)',
  resumes: false,
  protocol: fanoutProtocol,
  threads: 'one',
  async start(topic, brokers = kafka.brokers) {
    const startedAt = performance.now();
    const child: ChildProcessByStdio<null, Readable, Readable> = spawn(
      process.execPath,
      [join(repoRoot, 'test', 'dist', 'bench', 'naive-baseline-server.js')],
      {
        cwd: repoRoot,
        env: {
          PATH: process.env['PATH'] ?? '',
          NAIVE_BROKERS: brokers.join(','),
          NAIVE_TOPIC: topic,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stderr.on('data', (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4000);
    });
    const exited = once(child, 'exit');
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`naive baseline not ready in 60 s: ${output}`));
      }, 60_000);
      child.stdout.on('data', (chunk: Buffer) => {
        output = (output + chunk.toString()).slice(-4000);
        const found = /"msg":"naive ready","port":(\d+)/.exec(output)?.[1];
        if (found !== undefined) {
          clearTimeout(timer);
          resolve(Number(found));
        }
      });
      void exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`naive baseline exited: ${output}`));
      });
    });
    const listeningAt = performance.now();
    return {
      pids: [child.pid ?? -1],
      port,
      startedAt,
      listeningAt,
      ready: Promise.resolve(listeningAt),
      async stop() {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGTERM');
        const force = setTimeout(() => child.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(force);
      },
    };
  },
};

/** Centrifugo's HTTP API key for this run (the `ingest` scenario's publish path). */
const centrifugoApiKey = randomBytes(16).toString('hex');

/**
 * Centrifugo (`centrifugo-target.ts`): one node, memory engine, fed by its
 * Kafka consumer from a topic of its own that this process writes in the
 * consumer's publication data format; the same consumer group across its
 * restarts. Without a binary, its reason for absence.
 */
async function centrifugoTarget(): Promise<Target> {
  const found = findCentrifugo();
  const base = {
    name: 'centrifugo',
    label: 'Centrifugo',
    resumes: true,
    protocol: centrifugoProtocol,
    idleSession: centrifugoJsonSession,
    threads: 'many' as const,
  };
  if ('reason' in found) {
    return {
      ...base,
      unavailable: found.reason,
      start: () => Promise.reject(new Error(found.reason)),
    };
  }
  const topic = await kafka.createTopic({ name: 'bench-suite-centrifugo', partitions });
  recordFormats.set(topic, 'centrifugo');
  const consumerGroup = uniqueName('bench-centrifugo');
  /** Groups of the nodes running now: a restarted node takes its group back; nodes side by side (idle) get their own. */
  const groupsInUse = new Set<string>();
  return {
    ...base,
    topic,
    version: `${found.version} (from ${found.source})`,
    async start() {
      let group = consumerGroup;
      for (let n = 1; groupsInUse.has(group); n++) group = `${consumerGroup}-${n}`;
      groupsInUse.add(group);
      try {
        const startedAt = performance.now();
        const server = await startCentrifugo({
          binary: found.binary,
          brokers: kafka.brokers,
          topic,
          consumerGroup: group,
          apiKey: centrifugoApiKey,
        });
        const listeningAt = performance.now();
        return {
          pids: [server.pid],
          port: server.port,
          startedAt,
          listeningAt,
          ready: Promise.resolve(listeningAt),
          stop: () => server.stop().finally(() => groupsInUse.delete(group)),
        };
      } catch (error) {
        groupsInUse.delete(group);
        throw error;
      }
    },
  };
}

// ---- clients -------------------------------------------------------------------------------

interface FanoutResult {
  readonly subscribers: number;
  readonly eventsPerSecond: number;
  readonly events: number;
  readonly expected: number;
  readonly received: number;
  readonly deliveriesPerSecond: number;
  /** Server CPU, share of one core. */
  readonly serverCpu: number;
  readonly deliveriesPerCpuSecond: number;
  /** Latency of the sampled ordinary subscribers. */
  readonly latency: LatencySummary;
  /** The same events split at the broker's append (`latency-split.ts`). */
  readonly split: LatencySplit;
  /** The edge's own histogram over the phase: append → hand-over to uWS (fanout only). */
  readonly edge?: EdgePhase;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
  /** CPU of every process and of the machine, load average at the start and the end. */
  readonly cpu: PhaseCpu;
  readonly verdict: CpuVerdict;
  readonly load: number;
}

/** The broker: the process listening on the first broker's port (undefined if not found). */
function brokerPid(brokers: readonly string[] = kafka.brokers): number | undefined {
  return pidListeningOn(Number(brokers[0]?.split(':').at(-1)));
}

/** The processes of a cold-start phase: the server, this process (producer and every client), the broker. */
function watched(target: Target, server: Server, broker = brokerPid()): WatchedProcess[] {
  return [
    ...serverProcesses(target, server),
    { name: 'bench (producer + clients)', role: 'client', pid: process.pid, threads: 'one' },
    { name: 'Kafka broker', role: 'broker', pid: broker, threads: 'many' },
  ];
}

/** The processes of a steady scenario besides the server: the producer and the client processes. */
interface Steady {
  readonly clients: ClientProcesses;
  readonly producer: ProducerProcess;
  /** The record format of the target's topic. */
  readonly format: RecordFormat;
}

/** The server's processes for the CPU meter: `fanout edge`, or `fanout edge 1`, `2`, … side by side. */
function serverProcesses(target: Target, server: Server): WatchedProcess[] {
  return server.pids.map((pid, i) => ({
    name: server.pids.length === 1 ? target.label : `${target.label} ${i + 1}`,
    role: 'server',
    pid,
    threads: target.threads,
  }));
}

/**
 * The processes of a steady phase: the server, the producer, each client
 * process, this runner (which only asks for counts), the broker.
 */
function watchedSteady(target: Target, server: Server, steady: Steady): WatchedProcess[] {
  return [
    ...serverProcesses(target, server),
    { name: 'bench producer', role: 'producer', pid: steady.producer.pid, threads: 'one' },
    ...steady.clients.pids.map((pid, i): WatchedProcess => ({
      name: `bench clients ${i + 1}`,
      role: 'client',
      pid,
      threads: 'one',
    })),
    { name: 'bench runner', role: 'client', pid: process.pid, threads: 'one' },
    { name: 'Kafka broker', role: 'broker', pid: brokerPid(), threads: 'many' },
  ];
}

/**
 * One steady phase: the first `subscribers` subscribers (already subscribed,
 * `subscribersPerChannel` on each of `channels`) receive `rate` events/s
 * for `phaseSeconds`, published by the producer process; the sampled ones
 * among them (`sampledIndices` over those `subscribers`) are timed in the
 * client processes holding them.
 */
async function measureFanout(
  target: Target,
  server: Server,
  topic: string,
  steady: Steady,
  subscribers: number,
  channels: readonly string[],
  subscribersPerChannel: number,
  rate: number,
  phaseSeconds = seconds,
): Promise<FanoutResult> {
  const sampledCount = sampleSize(subscribers);
  await steady.clients.sample(sampledIndices(subscribers, sampledCount));
  const received = (): Promise<number> => steady.clients.received(0, subscribers);
  const publish = (forSeconds: number): Promise<{ sent: number; notes: readonly AppendNote[] }> =>
    steady.producer.publish({ topic, format: steady.format, channels, rate, seconds: forSeconds });
  // Warm up for a second, and let its deliveries arrive (30 s at most), so
  // none of them is counted in the measurement.
  const warmupBefore = await received();
  const warmup = await publish(1);
  const warmupDeadline = Date.now() + 30_000;
  while (
    (await received()) - warmupBefore < warmup.sent * subscribersPerChannel &&
    Date.now() < warmupDeadline
  ) {
    await sleep(20);
  }
  await sleep(500);
  await steady.clients.resetTimed();
  appendTimes.reset();
  const edgeBefore = await edgeDeliveryBuckets(server);
  const framesBefore = await received();
  const meter = CpuMeter.start(watchedSteady(target, server, steady));
  const started = performance.now();
  const published = await publish(phaseSeconds);
  for (const note of published.notes) noteAppend(note);
  const events = published.sent;
  const expected = events * subscribersPerChannel;
  const deadline = Date.now() + 30_000;
  let delivered: number;
  for (;;) {
    delivered = (await received()) - framesBefore;
    if (delivered >= expected || Date.now() > deadline) break;
    await sleep(20);
  }
  const elapsed = (performance.now() - started) / 1000;
  const cpu = meter.stop();
  const serverCpu = cpu.processes
    .filter((p) => p.role === 'server')
    .reduce((sum, p) => sum + p.cores, 0);
  const timed = await steady.clients.takeTimed();
  const latency = summarizeLatency(timed.latencies, sampledCount);
  const split = splitLatency(timed, appendTimes, sampledCount);
  appendTimes.reset();
  const edgeDelivery = await edgeDeliverySince(server, edgeBefore);
  return {
    subscribers,
    eventsPerSecond: rate,
    events,
    expected,
    received: delivered,
    deliveriesPerSecond: delivered / elapsed,
    serverCpu,
    deliveriesPerCpuSecond: serverCpu > 0 ? delivered / (serverCpu * elapsed) : Number.NaN,
    latency,
    split,
    ...(edgeDelivery === undefined ? {} : { edge: edgeDelivery }),
    p50Ms: latency.p50Ms,
    p99Ms: latency.p99Ms,
    p999Ms: latency.p999Ms,
    maxMs: latency.maxMs,
    cpu,
    verdict: cpuVerdict(cpu),
    load: load(),
  };
}

/** `p50/p99/p99.9/max` of a summary, one decimal. */
function percentileWords(l: LatencySummary): string {
  return [l.p50Ms, l.p99Ms, l.p999Ms, l.maxMs].map((v) => v.toFixed(1)).join('/');
}

/** The split of a phase's latency, for the log. */
function splitWords(split: LatencySplit, edge: EdgePhase | undefined): string {
  return `send → append ${percentileWords(split.toAppend)}, append → arrival ${percentileWords(split.appendToArrival)}, send → ack ${percentileWords(split.toAcknowledged)}, send → first arrival of the event ${percentileWords(split.firstArrival)}, arrival behind the first ${percentileWords(split.behindFirst)} ms${split.unmatched > 0 ? ` (${split.unmatched} not split)` : ''}${edge === undefined ? '' : `; edge append → uWS p50/p99/p99.9 ≤ ${[edge.delivery.p50Ms, edge.delivery.p99Ms, edge.delivery.p999Ms].join('/')} ms (${edge.delivery.count} events)${edge.loopDelay === undefined ? '' : `, edge event-loop delay p50/p99/max ${[edge.loopDelay.p50Ms, edge.loopDelay.p99Ms, edge.loopDelay.maxMs].map((v) => v.toFixed(1)).join('/')} ms`}`}`;
}

// ---- scenarios --------------------------------------------------------------------------------

/** One channel in each partition, for the idle scenario's warm-up. */
const idleWarmUpChannels = Array.from({ length: partitions }, (_, partition) => {
  for (let i = 0; ; i++) {
    const channel = `bench.idle.warm-up.${i}`;
    if (partitionForChannel(channel, partitions) === partition) return channel;
  }
});

/** Idle connections, each count spread over as many processes as it needs (`idle-connections.ts`). */
async function idle(target: Target, topic: string): Promise<IdleResult[]> {
  const results: IdleResult[] = [];
  for (const count of idleCounts) {
    const problem = planProblem(count, idleLimits);
    if (problem !== undefined) {
      results.push({ connections: count, skipped: problem, load: load() });
      continue;
    }
    const measured = await measureIdleConnections({
      connections: count,
      limits: idleLimits,
      // One edge a server: the idle run spreads connections over servers itself.
      startServer: async () => {
        const server = await target.start(topic, undefined, 1);
        return { pid: server.pids[0] ?? -1, port: server.port, stop: () => server.stop() };
      },
      ...(target.idleSession ? { session: target.idleSession } : {}),
      channelPrefix: `bench.idle.${target.name}.${count}.`,
      warmUpChannels: idleWarmUpChannels,
      openTimeoutMs: idleOpenSeconds * 1000,
      maxClientRssBytes: idleMaxClientRssMiB * 2 ** 20,
      log: (line) => {
        say(`${target.name} ${line}`);
      },
    });
    results.push({ connections: count, measured, load: load() });
    say(
      `${target.name} idle ${count}: ${measured.open.toLocaleString('en')} open (${measured.failed.toLocaleString('en')} failed) on ${measured.serverProcesses} server process(es), ${(measured.bytesPerConnection / 1024).toFixed(2)} KiB/conn (${measured.perProcess.map((p) => (p.bytesPerConnection / 1024).toFixed(2)).join(' / ')}), ${(measured.marginalBytesPerConnection / 1024).toFixed(2)} KiB each further connection after ${measured.halfConnections.toLocaleString('en')}; ${measured.clientProcesses} client process(es) at ${(measured.clientRssBytes / 2 ** 20).toFixed(0)} MiB`,
    );
    await sleep(1000);
  }
  return results;
}

/** The log line of one steady phase. */
function steadyWords(name: string, result: FanoutResult): string {
  return `${name}: ${formatNumber(result.deliveriesPerSecond)}/s, p50 ${result.p50Ms.toFixed(0)} ms, p99 ${result.p99Ms.toFixed(0)} ms, p99.9 ${result.p999Ms.toFixed(0)} ms (${result.latency.count} events on ${result.latency.sampledSubscribers} subscribers), ${result.received}/${result.expected}; ${splitWords(result.split, result.edge)}; ${cpuSummary(result.cpu)}: ${result.verdict.words}`;
}

/**
 * Broadcast and channels on one server, the subscribers held by
 * `clientProcesses` client processes and the events written by a producer
 * process; each figure lands in `into` as soon as it is measured.
 */
async function broadcastAndChannels(
  target: Target,
  topic: string,
  into: TargetResult,
): Promise<void> {
  const server = await target.start(topic);
  const broadcast: FanoutResult[] = [];
  // A later step failing (a peer not confirming 10,000 subscriptions) keeps the earlier figures.
  if (selectedScenarios.has('broadcast')) into.broadcast = broadcast;
  let producerProcess: ProducerProcess | undefined;
  let clients: ClientProcesses | undefined;
  try {
    producerProcess = await ProducerProcess.start({
      brokers: kafka.brokers,
      partitions,
      dataBytes,
    });
    clients = await ClientProcesses.open({
      count: clientProcesses,
      port: server.port,
      protocol: target.protocol.name,
      population: mainConnections,
      sourceAddresses,
    });
    const steady: Steady = {
      clients,
      producer: producerProcess,
      format: recordFormats.get(topic) ?? 'fanout',
    };
    const channel = `bench.broadcast.${target.name}`;
    if (selectedScenarios.has('broadcast')) {
      let subscribed = 0;
      for (const count of broadcastCounts) {
        await clients.subscribe(subscribed, count, [channel]);
        subscribed = count;
        const result = await measureFanout(
          target,
          server,
          topic,
          steady,
          count,
          [channel],
          count,
          broadcastRate,
        );
        broadcast.push(result);
        say(steadyWords(`${target.name} broadcast ${count}`, result));
      }
      await clients.unsubscribe(0, subscribed, [channel]);
      await sleep(1000);
    }
    if (selectedScenarios.has('channels')) {
      const channels = Array.from(
        { length: channelCount },
        (_, i) => `bench.ch.${target.name}.${i}`,
      );
      if (channelRows.has('spread')) {
        await clients.subscribe(0, mainConnections, channels);
        const spread = await measureFanout(
          target,
          server,
          topic,
          steady,
          mainConnections,
          channels,
          mainConnections / channelCount,
          channelsRate,
        );
        say(steadyWords(`${target.name} channels`, spread));
        into.channels = spread;
        await clients.unsubscribe(0, mainConnections, channels);
        await sleep(1000);
      }
      // The goal's own row: 100 channels × 10 subscribers at 1,000 events/s,
      // long enough for its p99.9 to rest on ≥ 20,000 timed events.
      const goalChannels = Array.from(
        { length: goalChannelCount },
        (_, i) => `bench.goal.${target.name}.${i}`,
      );
      const goalSubscribers = goalChannelCount * goalPerChannel;
      if (!channelRows.has('goal')) return;
      await clients.subscribe(0, goalSubscribers, goalChannels);
      const goal = await measureFanout(
        target,
        server,
        topic,
        steady,
        goalSubscribers,
        goalChannels,
        goalPerChannel,
        goalRate,
        goalSeconds,
      );
      say(steadyWords(`${target.name} goal channels`, goal));
      into.goalChannels = goal;
    }
  } finally {
    await clients?.close();
    await producerProcess?.stop();
    await server.stop();
  }
}

/** One storm client: one channel, the sequence numbers and last position it saw. */
class StormClient {
  socket: BenchClient | undefined;
  live = false;
  position: string | undefined;
  readonly seen = new Set<number>();
  received = 0;
  first = -1;
  highest = -1;
  /** The server answered a resume with "cannot resume" (Centrifugo: `recovered: false`). */
  resumeRefused = false;
  /** Wall-clock ms of the last `subscribed` answer. */
  subscribedAt = Number.NaN;
  /**
   * A sampled client's latencies: events sent from its last `subscribed`
   * answer for `latencyWindowMs` (replayed ones, sent before, do not count).
   */
  latency: LatencyRecorder | undefined;
  latencyWindowMs = Number.POSITIVE_INFINITY;
  /** Wall-clock ms before which no event counts for latency (the broker's return). */
  latencyFloor = Number.NEGATIVE_INFINITY;
  /** A reconnect of a connection the server closed is under way. */
  reconnecting = false;
  /** Connections the server closed that this client opened again. */
  reconnects = 0;
  /** Storm: its reconnect's steps, performance.now() (`caughtUpFrom`/`liveFrom` set at the restart). */
  readonly times = new ReconnectTimes(() => performance.now());

  /** Where its latency window starts: its `subscribed` answer, not before the floor. */
  windowStart(): number {
    return Math.max(this.subscribedAt, this.latencyFloor);
  }

  constructor(readonly channel: string) {}

  /** Connection attempts that failed (refused or closed during the handshake) and were retried. */
  failedAttempts = 0;

  /**
   * Connects and subscribes, as a real client would: a connection refused
   * or closed during the handshake (a server still starting, or busy) is
   * tried again after 100 ms, 200 ms, … up to 1 s, for at most 60 s.
   */
  async connect(
    protocol: ClientProtocol,
    port: number,
    source: string,
    resume: boolean,
  ): Promise<void> {
    const giveUp = Date.now() + 60_000;
    this.times.started();
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#connectOnce(protocol, port, source, resume);
        return;
      } catch (error) {
        this.failedAttempts++;
        if (Date.now() > giveUp) throw error;
        await sleep(Math.min(1000, 100 * attempt));
      }
    }
  }

  async #connectOnce(
    protocol: ClientProtocol,
    port: number,
    source: string,
    resume: boolean,
  ): Promise<void> {
    this.live = false;
    this.socket = await protocol.follow(
      port,
      source,
      this.channel,
      resume ? this.position : undefined,
      {
        subscribed: (position, resumed) => {
          this.live = true;
          this.subscribedAt = wallClockMs();
          this.times.answered();
          if (resumed === false) this.resumeRefused = true;
          if (position !== undefined) this.position = position;
        },
        event: (seq, position, sentAt) => {
          if (
            this.latency !== undefined &&
            sentAt !== undefined &&
            sentAt >= this.windowStart() &&
            sentAt < this.windowStart() + this.latencyWindowMs
          ) {
            this.latency.add(sentAt, wallClockMs());
          }
          this.received++;
          if (this.first < 0) this.first = seq;
          this.seen.add(seq);
          if (seq > this.highest) this.highest = seq;
          this.times.received(this.highest);
          if (position !== undefined) this.position = position;
        },
      },
    );
  }
}

interface StormResult {
  readonly clients: number;
  /** From the server's stop until every client receives events published after the restart. */
  readonly allLiveMs: number;
  /** From the new server's spawn until it listened. */
  readonly startToListeningMs: number;
  /** From the new server's spawn until it was ready (the edge's `/readyz`; a peer: listening). */
  readonly startToReadyMs: number;
  /** From the new server's readiness until every client received events published after the restart. */
  readonly readyToAllLiveMs: number;
  /**
   * From the new server's readiness until every client had every event
   * published before the restart (resumed and caught up: not waiting for
   * its channel's next event, which comes up to 1 s later at 1 event/s).
   */
  readonly readyToAllCaughtUpMs: number;
  /** CPU seconds of the benchmark process (clients, producer) from readiness to all live. */
  readonly benchCpuS: number;
  /** The kernel's listen-queue overflows and SYN retransmits during the reconnect. */
  readonly listen: string;
  /** Clients started, answered, caught up, live per 500 ms after readiness (cumulative). */
  readonly timeline: readonly string[];
  /** Clients receiving new events when the wait ended (all of them unless it timed out). */
  readonly liveClients: number;
  readonly restartMs: number;
  readonly expected: number;
  readonly missed: number;
  readonly duplicates: number;
  /** Clients the server told it could not resume them (Centrifugo's `recovered: false`). */
  readonly resumeRefused: number;
  /** Connection attempts refused or closed during the handshake, and tried again. */
  readonly failedAttempts: number;
  readonly load: number;
}

async function storm(target: Target, topic: string): Promise<StormResult> {
  let server = await target.start(topic);
  const channels = Array.from(
    { length: stormChannels },
    (_, i) => `bench.storm.${target.name}.${i}`,
  );
  const clients = Array.from(
    { length: mainConnections },
    (_, i) => new StormClient(channels[i % stormChannels] ?? ''),
  );
  let publishing = true;
  let publisher: Promise<number> | undefined;
  try {
    for (let i = 0; i < clients.length; i += 500) {
      await Promise.all(
        clients
          .slice(i, i + 500)
          .map((client, j) =>
            client.connect(
              target.protocol,
              server.port,
              sourceAddresses[(i + j) % 4] ?? '127.0.0.1',
              false,
            ),
          ),
      );
    }
    while (clients.some((client) => !client.live)) await sleep(50);
    publisher = publishHere(topic, channels, stormRate, 900, () => !publishing);
    await sleep(3000);
    const stopped = performance.now();
    await server.stop();
    for (const client of clients) client.socket?.close();
    server = await target.start(topic);
    const restartMs = performance.now() - stopped;
    const restarted = server;
    // Live again: an event published from now on has arrived (in order, so for
    // a resuming client everything before it too).
    const threshold = new Map(channels.map((c) => [c, sequences.get(c) ?? 0]));
    const isLive = (client: StormClient): boolean =>
      client.highest >= (threshold.get(client.channel) ?? 0);
    for (const client of clients) {
      client.times.expect(threshold.get(client.channel) ?? 0);
    }
    const counters = listenCounters();
    const benchCpuAtStart = process.cpuUsage();
    // At most `defaultHandshakeWindow` handshakes in flight, each client
    // starting as one before it is answered: waves of 1,000 that each waited
    // for their slowest overflowed the listen queue (backlog 512), and one
    // handshake dropped there held the next wave back by the 1 s of a SYN sent again.
    await inWindow(clients, defaultHandshakeWindow, (client, i) =>
      client.connect(
        target.protocol,
        server.port,
        sourceAddresses[(i + 1) % 4] ?? '127.0.0.1',
        target.resumes,
      ),
    );
    say(
      `${target.name} storm: ${clients.length} reconnected ${(performance.now() - stopped).toFixed(0)} ms after the stop`,
    );
    const giveUp = Date.now() + stormWaitSeconds * 1000;
    let nextReport = Date.now() + 5000;
    while (!clients.every(isLive) && Date.now() < giveUp) {
      await sleep(20);
      if (Date.now() > nextReport) {
        nextReport += 5000;
        const subscribed = clients.filter((client) => client.live).length;
        say(
          `${target.name} storm: ${subscribed} subscribed, ${clients.filter(isLive).length} receiving new events`,
        );
      }
    }
    // When the last client received its first new event (its own clock):
    // the loop above notices it only when this process next gets to run it,
    // seconds later while it is busy with 10,000 sockets.
    const liveClients = clients.filter(isLive).length;
    const allLiveAt =
      liveClients === clients.length
        ? Math.max(...clients.map((client) => client.times.liveAt))
        : performance.now();
    const allLiveMs = allLiveAt - stopped;
    const readyAt = await restarted.ready;
    const listen = listenCountersSince(counters);
    const benchCpu = process.cpuUsage(benchCpuAtStart);
    const allCaughtUpAt = Math.max(
      ...clients.map((client) => client.times.caughtUpAt(client.highest)),
    );
    const timeline = reconnectTimeline(readyAt, allLiveAt - readyAt, clients);
    say(
      `${target.name} storm: all caught up ${(allCaughtUpAt - readyAt).toFixed(0)} ms after ready; ${listen}; clients and producer ${((benchCpu.user + benchCpu.system) / 1e6).toFixed(2)} CPU s; per 500 ms after ready:\n  ${timeline.join('\n  ')}`,
    );
    say(
      `${target.name} storm: ${liveClients}/${clients.length} live ${allLiveMs.toFixed(0)} ms after the stop; the new server listened ${(restarted.listeningAt - restarted.startedAt).toFixed(0)} ms and was ready ${(readyAt - restarted.startedAt).toFixed(0)} ms after its start, all live ${(allLiveAt - readyAt).toFixed(0)} ms after ready`,
    );
    publishing = false;
    await publisher;
    await sleep(3000);
    let expected = 0;
    let missed = 0;
    let duplicates = 0;
    // Clients still catching up when the wait ended have not missed anything
    // yet: they are reported as not live, not as missing events.
    for (const client of clients.filter(isLive)) {
      const last = (sequences.get(client.channel) ?? 0) - 1;
      if (client.first < 0) {
        missed += last + 1;
        continue;
      }
      const due = last - client.first + 1;
      expected += due;
      missed += due - client.seen.size;
      duplicates += client.received - client.seen.size;
    }
    return {
      clients: clients.length,
      allLiveMs,
      startToListeningMs: restarted.listeningAt - restarted.startedAt,
      startToReadyMs: readyAt - restarted.startedAt,
      readyToAllLiveMs: allLiveAt - readyAt,
      readyToAllCaughtUpMs: allCaughtUpAt - readyAt,
      benchCpuS: (benchCpu.user + benchCpu.system) / 1e6,
      listen,
      timeline,
      liveClients,
      restartMs,
      expected,
      missed,
      duplicates,
      resumeRefused: clients.filter((client) => client.resumeRefused).length,
      failedAttempts: clients.reduce((sum, client) => sum + client.failedAttempts, 0),
      load: load(),
    };
  } finally {
    publishing = false;
    await publisher?.catch(() => 0);
    for (const client of clients) client.socket?.close();
    await server.stop();
  }
}

/** One restart of the cold-start scenario: how long things took, the latency after it. */
interface RestartFigures {
  /** What restarted: `edge` or `broker`. */
  readonly what: string;
  /** The restarted process: spawn → listening (the edge's ready log line; the broker's start). */
  readonly startToListeningMs: number;
  /** Spawn → ready (the edge's `/readyz` 200; the broker: its start resolved). */
  readonly startToReadyMs: number;
  /** From readiness until every client received an event published after it. */
  readonly readyToAllLiveMs: number;
  /** Clients receiving new events when the wait ended. */
  readonly liveClients: number;
  /** Events the producer wrote, and batches it failed to write, from the restart to the end of the window. */
  readonly published: number;
  readonly failedBatches: number;
  /** Connections the server closed after the restart that the clients opened again (resuming). */
  readonly reconnects: number;
  /** Latency of the sampled subscribers, events sent in the first seconds after they were live again. */
  readonly latency: LatencySummary;
  /** The same events split at the broker's append. */
  readonly split: LatencySplit;
  /**
   * After the broker restart: the same, of the events sent once the broker
   * served again (from the producer's first acknowledged batch after it:
   * events sent before waited in the producer for a broker that was not there).
   */
  readonly afterFirstAck?: { readonly latency: LatencySummary; readonly split: LatencySplit };
  /** Broker's return → the producer's first acknowledged batch after it. */
  readonly firstAckMs?: number;
  /** The edge's own histogram over the phase (append → uWS hand-over). */
  readonly edge?: EdgePhase;
  readonly cpu: PhaseCpu;
  readonly verdict: CpuVerdict;
}

interface ColdStartResult {
  readonly clients: number;
  readonly channels: number;
  readonly eventsPerSecond: number;
  readonly windowSeconds: number;
  /** The same sampled subscribers before any restart, for comparison, and the CPU then. */
  readonly steady: LatencySummary;
  readonly steadySplit: LatencySplit;
  readonly steadyEdge?: EdgePhase;
  readonly steadyCpu: PhaseCpu;
  readonly steadyVerdict: CpuVerdict;
  readonly restarts: RestartFigures[];
  /** Batches the producer could not write (the broker was down). */
  readonly failedSends: number;
  readonly load: number;
}

const coldStartChannels = 100;
const coldStartPerChannel = 10;
const coldStartRate = 1000;
/** Latency is taken over events sent in this many seconds after each subscriber is live again. */
const coldStartWindowSeconds = 10;

/**
 * Publishes `rate` events/s over `channels` with `via` until `stopped()`,
 * every 20 ms the events due since the last step (at most 1 s of them:
 * after a stall — the broker down — it carries on at the rate rather than
 * bursting); a batch the producer cannot write is dropped and counted.
 */
async function steadyPublish(
  via: Producer,
  topic: string,
  channels: readonly string[],
  rate: number,
  stopped: () => boolean,
  counts: { sent: number; failed: number; firstAcknowledged?: number },
): Promise<void> {
  let turn = 0;
  let last = performance.now();
  let carry = 0;
  while (!stopped()) {
    await sleep(20);
    const now = performance.now();
    carry += (Math.min(1000, now - last) / 1000) * rate;
    last = now;
    const count = Math.floor(carry);
    if (count === 0) continue;
    carry -= count;
    const batch = Array.from({ length: count }, () => channels[turn++ % channels.length] ?? '');
    try {
      await sendNotingHere(
        via,
        topic,
        batch.map((c) => records.fanout(c)),
      );
      counts.sent += count;
      counts.firstAcknowledged ??= wallClockMs();
    } catch {
      counts.failed++;
    }
  }
}

/**
 * Cold start (fanout only unless --coldstart-targets): 100 channels × 10 subscribers at
 * 1,000 events/s on a broker of the scenario's own; the edge restarts, then
 * the broker (SIGKILL and a start over the same data, as a crash; clients
 * the edge closes meanwhile reconnect and resume). After
 * each: spawn → listening → ready, ready → every client receiving new
 * events, and the latency of the sampled subscribers over the events sent
 * in their first 10 s live again (each from its own `subscribed` answer
 * after the edge restart; from the broker's return after the broker's).
 */
async function coldStart(target: Target): Promise<ColdStartResult> {
  const broker = await RestartableBroker.start('bench-coldstart');
  const client = new kafkajs.Kafka({
    clientId: 'fanout-bench-coldstart',
    brokers: [...broker.brokers],
    logLevel: kafkajs.logLevel.NOTHING,
    retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 1000 },
  });
  const admin = client.admin();
  const coldProducer = client.producer();
  let server: Server | undefined;
  let publishing = true;
  let publisher: Promise<void> | undefined;
  const published: { sent: number; failed: number; firstAcknowledged?: number } = {
    sent: 0,
    failed: 0,
  };
  const channels = Array.from(
    { length: coldStartChannels },
    (_, i) => `bench.coldstart.${target.name}.${i}`,
  );
  const clients = Array.from(
    { length: coldStartChannels * coldStartPerChannel },
    (_, i) => new StormClient(channels[i % coldStartChannels] ?? ''),
  );
  const sampled = sampledIndices(clients.length, sampleSize(clients.length)).map(
    (index) => clients[index],
  );
  const recorder = new LatencyRecorder();
  for (const c of sampled) if (c !== undefined) c.latency = recorder;
  const connectAllStorm = async (port: number, resume: boolean): Promise<void> => {
    for (let i = 0; i < clients.length; i += 500) {
      await Promise.all(
        clients
          .slice(i, i + 500)
          .map((c, j) =>
            c.connect(
              target.protocol,
              port,
              sourceAddresses[(i + j) % sourceAddresses.length] ?? '127.0.0.1',
              resume,
            ),
          ),
      );
    }
  };
  /** Waits until every client received an event sent after `threshold` was taken; when, and how many did. */
  const untilAllLive = async (
    threshold: Map<string, number>,
  ): Promise<{ at: number; live: number }> => {
    const isLive = (c: StormClient): boolean => c.highest >= (threshold.get(c.channel) ?? 0);
    const giveUp = Date.now() + stormWaitSeconds * 1000;
    let nextReport = Date.now() + 5000;
    while (!clients.every(isLive) && Date.now() < giveUp) {
      await sleep(10);
      if (Date.now() > nextReport) {
        nextReport += 5000;
        say(
          `${target.name} coldstart: ${clients.filter((c) => c.live).length} subscribed, ${clients.filter(isLive).length} receiving new events; ${published.sent} events published, ${published.failed} batches failed`,
        );
      }
    }
    return { at: performance.now(), live: clients.filter(isLive).length };
  };
  const nextSequences = (): Map<string, number> =>
    new Map(channels.map((c) => [c, sequences.get(c) ?? 0]));
  /**
   * Clients the server closes (an edge that lost Kafka closes them all)
   * reconnect and resume, as real clients do, to the server running now.
   */
  let reconnecting = false;
  let reconnector: Promise<void> | undefined;
  const keepConnected = async (): Promise<void> => {
    while (reconnecting) {
      const port = server?.port;
      clients.forEach((c, i) => {
        if (port === undefined || c.reconnecting || c.socket?.closed !== true) return;
        c.reconnecting = true;
        c.reconnects++;
        c.connect(
          target.protocol,
          port,
          sourceAddresses[i % sourceAddresses.length] ?? '127.0.0.1',
          target.resumes,
        )
          .catch(() => undefined)
          .finally(() => {
            c.reconnecting = false;
          });
      });
      await sleep(50);
    }
  };
  const restarts: RestartFigures[] = [];
  try {
    await admin.connect();
    const topicName = uniqueName('bench-coldstart');
    await admin.createTopics({
      topics: [
        {
          topic: topicName,
          numPartitions: partitions,
          replicationFactor: 1,
          configEntries: Object.entries(appendTimeTopic).map(([name, value]) => ({ name, value })),
        },
      ],
      waitForLeaders: true,
    });
    await coldProducer.connect();
    server = await target.start(topicName, broker.brokers);
    await server.ready;
    await connectAllStorm(server.port, false);
    while (clients.some((c) => !c.live)) await sleep(20);
    publisher = steadyPublish(
      coldProducer,
      topicName,
      channels,
      coldStartRate,
      () => !publishing,
      published,
    );
    await sleep(3000);
    // Steady state: the same sampled subscribers, no restart.
    recorder.reset();
    appendTimes.reset();
    for (const c of sampled) if (c !== undefined) c.latencyWindowMs = Number.POSITIVE_INFINITY;
    const steadyMeter = CpuMeter.start(watched(target, server, brokerPid(broker.brokers)));
    const steadyEdgeBefore = await edgeDeliveryBuckets(server);
    await sleep(coldStartWindowSeconds * 1000);
    const steadyTimed = recorder.takeTimed();
    const steady = summarizeLatency(steadyTimed.latencies, sampled.length);
    const steadySplit = splitLatency(steadyTimed, appendTimes, sampled.length);
    const steadyEdgeDelivery = await edgeDeliverySince(server, steadyEdgeBefore);
    const steadyCpu = steadyMeter.stop();
    say(
      `${target.name} coldstart: steady p50 ${steady.p50Ms.toFixed(1)} ms, p99 ${steady.p99Ms.toFixed(1)} ms, max ${steady.maxMs.toFixed(1)} ms (${steady.count} events on ${steady.sampledSubscribers} subscribers); ${splitWords(steadySplit, steadyEdgeDelivery)}`,
    );

    // The edge restarts; its clients reconnect (resuming where the server can).
    for (const c of sampled) if (c !== undefined) c.latencyWindowMs = coldStartWindowSeconds * 1000;
    await server.stop();
    for (const c of clients) c.socket?.close();
    const edgeThreshold = nextSequences();
    recorder.reset();
    appendTimes.reset();
    const edgeCounts = { ...published };
    const reconnectsNow = (): number => clients.reduce((sum, c) => sum + c.reconnects, 0);
    server = await target.start(topicName, broker.brokers);
    const edgeMeter = CpuMeter.start(watched(target, server, brokerPid(broker.brokers)));
    const edgeRestartBefore = await edgeDeliveryBuckets(server);
    await connectAllStorm(server.port, target.resumes);
    reconnecting = true;
    reconnector = keepConnected();
    const edgeLive = await untilAllLive(edgeThreshold);
    const edgeReady = await server.ready;
    // Every sampled client's window: from its `subscribed` answer, 10 s, and the deliveries after.
    const windowsEnd = Math.max(...sampled.map((c) => c?.windowStart() ?? 0));
    await sleep(Math.max(0, windowsEnd + coldStartWindowSeconds * 1000 - wallClockMs()) + 1000);
    const edgeCpu = edgeMeter.stop();
    const edgeTimed = recorder.takeTimed();
    const edgeRestartDelivery = await edgeDeliverySince(server, edgeRestartBefore);
    restarts.push({
      what: 'edge',
      startToListeningMs: server.listeningAt - server.startedAt,
      startToReadyMs: edgeReady - server.startedAt,
      readyToAllLiveMs: edgeLive.at - edgeReady,
      liveClients: edgeLive.live,
      published: published.sent - edgeCounts.sent,
      failedBatches: published.failed - edgeCounts.failed,
      reconnects: reconnectsNow(),
      latency: summarizeLatency(edgeTimed.latencies, sampled.length),
      split: splitLatency(edgeTimed, appendTimes, sampled.length),
      ...(edgeRestartDelivery === undefined ? {} : { edge: edgeRestartDelivery }),
      cpu: edgeCpu,
      verdict: cpuVerdict(edgeCpu),
    });

    // The broker crashes and starts again over its data; the clients stay connected.
    const brokerCounts = { ...published };
    const reconnectsBefore = reconnectsNow();
    const brokerEdgeBefore = await edgeDeliveryBuckets(server);
    await broker.kill();
    delete published.firstAcknowledged;
    const brokerStarted = performance.now();
    await broker.restart();
    const brokerBack = performance.now();
    const brokerThreshold = nextSequences();
    const backWall = wallClockMs();
    for (const c of sampled) if (c !== undefined) c.latencyFloor = backWall;
    recorder.reset();
    appendTimes.reset();
    const brokerMeter = CpuMeter.start(watched(target, server, brokerPid(broker.brokers)));
    const brokerLive = await untilAllLive(brokerThreshold);
    const brokerWindowsEnd = Math.max(...sampled.map((c) => c?.windowStart() ?? 0));
    await sleep(
      Math.max(0, brokerWindowsEnd + coldStartWindowSeconds * 1000 - wallClockMs()) + 1000,
    );
    const brokerCpu = brokerMeter.stop();
    say(
      `${target.name} coldstart: broker killed at ${new Date(backWall - (brokerBack - brokerStarted)).toISOString()}, serving again at ${new Date(backWall).toISOString()}, the producer's first acknowledged batch at ${published.firstAcknowledged === undefined ? 'never' : new Date(published.firstAcknowledged).toISOString()} (compare the edge's "partition fetch recovered" in FANOUT_TEST_LOG_DIR)`,
    );
    const brokerTimed = recorder.takeTimed();
    const brokerDelivery = await edgeDeliverySince(server, brokerEdgeBefore);
    const firstAck = published.firstAcknowledged ?? Number.NaN;
    const afterAck = { latencies: [] as number[], sent: [] as number[] };
    brokerTimed.sent.forEach((sent, i) => {
      const latency = brokerTimed.latencies[i];
      if (sent < firstAck || latency === undefined) return;
      afterAck.sent.push(sent);
      afterAck.latencies.push(latency);
    });
    restarts.push({
      what: 'broker',
      startToListeningMs: brokerBack - brokerStarted,
      startToReadyMs: brokerBack - brokerStarted,
      readyToAllLiveMs: brokerLive.at - brokerBack,
      liveClients: brokerLive.live,
      published: published.sent - brokerCounts.sent,
      failedBatches: published.failed - brokerCounts.failed,
      reconnects: reconnectsNow() - reconnectsBefore,
      latency: summarizeLatency(brokerTimed.latencies, sampled.length),
      split: splitLatency(brokerTimed, appendTimes, sampled.length),
      afterFirstAck: {
        latency: summarizeLatency(afterAck.latencies, sampled.length),
        split: splitLatency(afterAck, appendTimes, sampled.length),
      },
      firstAckMs: firstAck - backWall,
      ...(brokerDelivery === undefined ? {} : { edge: brokerDelivery }),
      cpu: brokerCpu,
      verdict: cpuVerdict(brokerCpu),
    });
    for (const r of restarts) {
      say(
        `${target.name} coldstart after the ${r.what} restart: listening ${r.startToListeningMs.toFixed(0)} ms, ready ${r.startToReadyMs.toFixed(0)} ms after start, ${r.liveClients} live ${r.readyToAllLiveMs.toFixed(0)} ms after ready; ${r.published} events published, ${r.failedBatches} batches failed, ${r.reconnects} connections closed by the server and opened again; p50 ${r.latency.p50Ms.toFixed(1)} ms, p99 ${r.latency.p99Ms.toFixed(1)} ms, max ${r.latency.maxMs.toFixed(1)} ms (${r.latency.count} events on ${r.latency.sampledSubscribers} subscribers); ${splitWords(r.split, r.edge)}${r.afterFirstAck === undefined ? '' : `; from the first acknowledged batch (${r.firstAckMs?.toFixed(0) ?? '?'} ms after the broker's return): p50 ${r.afterFirstAck.latency.p50Ms.toFixed(1)} ms, p99 ${r.afterFirstAck.latency.p99Ms.toFixed(1)} ms, max ${r.afterFirstAck.latency.maxMs.toFixed(1)} ms (${r.afterFirstAck.latency.count} events), ${splitWords(r.afterFirstAck.split, undefined)}`}; ${cpuSummary(r.cpu)}: ${r.verdict.words}`,
      );
    }
    publishing = false;
    await publisher;
    return {
      clients: clients.length,
      channels: coldStartChannels,
      eventsPerSecond: coldStartRate,
      windowSeconds: coldStartWindowSeconds,
      steady,
      steadySplit,
      ...(steadyEdgeDelivery === undefined ? {} : { steadyEdge: steadyEdgeDelivery }),
      steadyCpu,
      steadyVerdict: cpuVerdict(steadyCpu),
      restarts,
      failedSends: published.failed,
      load: load(),
    };
  } finally {
    publishing = false;
    reconnecting = false;
    await publisher;
    await reconnector;
    for (const c of clients) c.socket?.close();
    await server?.stop().catch(() => undefined);
    await coldProducer.disconnect().catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
    await broker.stop();
  }
}

interface IngestResult {
  /** The target whose publish path this is. */
  readonly target: string;
  readonly path: string;
  readonly eventsPerSecond: number;
  /** CPU of the processes of the path, of the broker and of the machine over the measurement. */
  readonly cpu: PhaseCpu;
  readonly verdict: CpuVerdict;
  readonly load: number;
}

/**
 * The CPU shares ingest-publish.bench.ts reports in its table row
 * (`CPU ingest`, `CPU broker`, `CPU producer`: `45 %` or `n/a`).
 */
function ingestRowCpu(row: string | undefined): {
  ingest: number;
  broker: number;
  producer: number;
} {
  const cells = (row ?? '').split('|').map((cell) => cell.trim());
  const share = (cell: string | undefined): number => {
    const value = /^(\d+(?:\.\d+)?) %$/.exec(cell ?? '')?.[1];
    return value === undefined ? Number.NaN : Number(value) / 100;
  };
  return { ingest: share(cells[7]), broker: share(cells[8]), producer: share(cells[9]) };
}

/** fanout's ingest: the batch workload of ingest-publish.bench.ts, in its own process. */
async function fanoutIngest(): Promise<IngestResult> {
  const child = spawn(
    process.execPath,
    [join(repoRoot, 'test', 'dist', 'bench', 'ingest-publish.bench.js')],
    {
      cwd: repoRoot,
      env: {
        ...process.env,
        FANOUT_TEST_KAFKA_BROKERS: kafka.brokers.join(','),
        FANOUT_BENCH_SCENARIOS: 'batch',
        FANOUT_BENCH_SECONDS: String(seconds),
        FANOUT_BENCH_WARMUP_SECONDS: '2',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  // The machine over the whole child run (its warm-up included); the processes as it reports them.
  const machineMeter = CpuMeter.start([]);
  const [code] = (await once(child, 'exit')) as [number | null];
  const machineCpu = machineMeter.stop();
  const row = output.split('\n').find((line) => /^\|\s*`?Publish`?, 100/.test(line));
  const eventsPerSecond = Number(row?.split('|')[2]?.replace(/[^\d.]/g, '') ?? Number.NaN);
  if (code !== 0 || !Number.isFinite(eventsPerSecond)) {
    throw new Error(`ingest benchmark failed (exit ${code}):\n${output.slice(-3000)}`);
  }
  const shares = ingestRowCpu(row);
  const cpu: PhaseCpu = {
    ...machineCpu,
    processes: [
      { name: 'fanout ingest', role: 'server', threads: 'one', cores: shares.ingest },
      { name: 'producer (gRPC client)', role: 'client', threads: 'one', cores: shares.producer },
      { name: 'Kafka broker', role: 'broker', threads: 'many', cores: shares.broker },
    ],
  };
  return {
    target: 'fanout',
    path: 'fanout ingest (gRPC Publish → Kafka)',
    eventsPerSecond,
    cpu,
    verdict: cpuVerdict(cpu),
    load: load(),
  };
}

/** The naive path: a kafkajs producer writing 100-event batches straight to Kafka, 8 in flight. */
async function naiveIngest(topic: string): Promise<IngestResult> {
  const naive = kafka.kafka.producer();
  await naive.connect();
  const channels = Array.from({ length: 64 }, (_, i) => `bench.naive-ingest.${i}`);
  const batch = (): { key: string; value: Buffer }[] =>
    Array.from({ length: 100 }, (_, i) => {
      const channel = channels[i % 64] ?? '';
      return { key: channel, value: records.fanout(channel).value };
    });
  let events = 0;
  let running = true;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    while (running) {
      await naive.send({ topic, acks: -1, messages: batch() });
      events += 100;
    }
  };
  const meter = CpuMeter.start([
    { name: 'producer (bench)', role: 'client', pid: process.pid, threads: 'one' },
    { name: 'Kafka broker', role: 'broker', pid: brokerPid(), threads: 'many' },
  ]);
  const workers = Array.from({ length: 8 }, worker);
  await sleep(seconds * 1000);
  running = false;
  await Promise.all(workers);
  const elapsed = (performance.now() - started) / 1000;
  const cpu = meter.stop();
  await naive.disconnect();
  return {
    target: 'naive',
    path: 'kafkajs producer straight to Kafka',
    eventsPerSecond: events / elapsed,
    cpu,
    verdict: cpuVerdict(cpu),
    load: load(),
  };
}

/** Centrifugo's publish path: its HTTP API, `/api/batch` with 100 publishes a call, 8 in flight. */
async function centrifugoIngest(target: Target): Promise<IngestResult> {
  const server = await target.start(target.topic ?? '');
  try {
    // Over the warm-up too: the publish helper measures inside its own call.
    const meter = CpuMeter.start([
      ...serverProcesses(target, server),
      { name: 'producer (bench)', role: 'client', pid: process.pid, threads: 'one' },
    ]);
    const eventsPerSecond = await centrifugoPublishThroughput({
      port: server.port,
      apiKey: centrifugoApiKey,
      seconds,
      warmupSeconds: 2,
    });
    const cpu = meter.stop();
    return {
      target: 'centrifugo',
      path: 'Centrifugo HTTP API (/api/batch → memory broker)',
      eventsPerSecond,
      cpu,
      verdict: cpuVerdict(cpu),
      load: load(),
    };
  } finally {
    await server.stop();
  }
}

// ---- run --------------------------------------------------------------------------------------

interface TargetResult {
  readonly target: string;
  readonly label: string;
  readonly unavailable?: string;
  /** A peer's version and the source of its binary. */
  version?: string;
  idle?: IdleResult[];
  broadcast?: FanoutResult[];
  channels?: FanoutResult;
  /** The goal's own row: 100 channels × 10 subscribers, 1,000 events/s. */
  goalChannels?: FanoutResult;
  storm?: StormResult;
  coldstart?: ColdStartResult;
  errors: string[];
}

const targets = [
  fanoutTarget,
  naiveTarget,
  ...(selectedTargets.has('centrifugo') ? [await centrifugoTarget()] : []),
].filter((t) => selectedTargets.has(t.name));
const results: TargetResult[] = [];
const ingestResults: IngestResult[] = [];
const topic = await kafka.createTopic({
  name: 'bench-suite',
  partitions,
  config: appendTimeTopic,
});
say(`machine: ${machine.cpus} × ${machine.model}, load ${load()}; topic ${topic}`);

try {
  for (const target of targets) {
    const result: TargetResult = {
      target: target.name,
      label: target.label,
      ...(target.unavailable === undefined ? {} : { unavailable: target.unavailable }),
      errors: [],
    };
    if (target.version !== undefined) result.version = target.version;
    results.push(result);
    if (target.unavailable !== undefined) {
      say(`${target.name}: not run — ${target.unavailable}`);
      continue;
    }
    const attempt = async (name: string, run: () => Promise<void>): Promise<void> => {
      if (!selectedScenarios.has(name)) return;
      try {
        await run();
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        result.errors.push(`${name}: ${message}`);
        say(`${target.name} ${name} failed: ${message}`);
      }
    };
    // A peer that reads another record format than fanout's has its own topic.
    const targetTopic = target.topic ?? topic;
    await attempt('idle', async () => {
      result.idle = await idle(target, targetTopic);
    });
    if (selectedScenarios.has('broadcast') || selectedScenarios.has('channels')) {
      await attempt(selectedScenarios.has('broadcast') ? 'broadcast' : 'channels', async () => {
        await broadcastAndChannels(target, targetTopic, result);
      });
    }
    await attempt('storm', async () => {
      result.storm = await storm(target, targetTopic);
      say(`${target.name} storm: ${JSON.stringify(result.storm)}`);
    });
    if (coldStartTargets.has(target.name)) {
      await attempt('coldstart', async () => {
        result.coldstart = await coldStart(target);
      });
    }
  }
  if (selectedScenarios.has('ingest')) {
    const paths: [string, () => Promise<IngestResult>][] = [
      ['fanout', fanoutIngest],
      ['naive', () => naiveIngest(topic)],
      ...targets
        .filter((t) => t.name === 'centrifugo' && t.unavailable === undefined)
        .map((t): [string, () => Promise<IngestResult>] => [
          'centrifugo',
          () => centrifugoIngest(t),
        ]),
    ];
    for (const [name, run] of paths) {
      if (!selectedTargets.has(name)) continue;
      try {
        ingestResults.push(await run());
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        results.find((r) => r.target === name)?.errors.push(`ingest: ${message}`);
        say(`${name} ingest failed: ${message}`);
      }
    }
    say(`ingest: ${JSON.stringify(ingestResults)}`);
  }
  if (selectedScenarios.has('state')) {
    // fanout only (its peers have no state channels): its own program, on this broker.
    const child = spawn(
      process.execPath,
      [
        join(repoRoot, 'test', 'dist', 'bench', 'state-channels.bench.js'),
        '--out',
        join(args.out, 'state-channels.json'),
      ],
      {
        cwd: repoRoot,
        env: { ...process.env, FANOUT_TEST_KAFKA_BROKERS: kafka.brokers.join(',') },
        stdio: ['ignore', 'inherit', 'inherit'],
      },
    );
    const [code] = (await once(child, 'exit')) as [number | null];
    say(
      code === 0
        ? `state: figures in ${join(args.out, 'state-channels.json')}`
        : `state failed: exit ${code ?? 'by a signal'}`,
    );
  }
} finally {
  await producer.disconnect();
  await kafka.close();
  await stopOwnKafka();
}

// ---- report -----------------------------------------------------------------------------------

const outDir = args.out;
mkdirSync(outDir, { recursive: true });
const date = startedAt.toISOString().slice(0, 10);
const machineLine = `${machine.cpus} vCPU ${machine.model}, ${machine.memoryGiB} GiB, Node ${machine.node}, Kafka single broker on the same machine`;
const caption = [`${command} (${quick ? 'quick' : 'full'} run), ${date}`, machineLine];

const byName = new Map(results.map((r) => [r.target, r]));
const fanout = byName.get('fanout');
/** The peers that ran, in the order they ran: every ratio is fanout ÷ peer. */
const peers = results.filter((r) => r.target !== 'fanout' && r.unavailable === undefined);
const shortName = (r: TargetResult): string =>
  r.target === 'centrifugo' ? 'Centrifugo' : r.target === 'fanout' ? 'fanout' : r.target;
/** a ÷ b, or undefined when either is missing. */
const divide = (a: number | undefined, b: number | undefined): number | undefined =>
  a !== undefined && b !== undefined && Number.isFinite(a) && Number.isFinite(b) && b !== 0
    ? a / b
    : undefined;
const idleAt = (r: TargetResult | undefined, count: number): IdleResult | undefined =>
  r?.idle?.find((i) => i.connections === count);
const broadcastAt = (r: TargetResult | undefined, count: number): FanoutResult | undefined =>
  r?.broadcast?.find((b) => b.subscribers === count);
const allLive = (r: StormResult | undefined): number | undefined =>
  r !== undefined && r.liveClients === r.clients ? r.allLiveMs : undefined;
const ingestOf = (name: string): number | undefined =>
  ingestResults.find((i) => i.target === name)?.eventsPerSecond;

/** fanout ÷ peer for every figure both measured (memory, latency, time: < 1 is fanout's better). */
function ratiosTo(peer: TargetResult): Record<string, number | undefined> {
  const ratios: Record<string, number | undefined> = {};
  for (const count of idleCounts) {
    ratios[`idle ${count} bytes per connection`] = divide(
      idleAt(fanout, count)?.measured?.bytesPerConnection,
      idleAt(peer, count)?.measured?.bytesPerConnection,
    );
  }
  const fanoutRows: [string, FanoutResult | undefined, FanoutResult | undefined][] = [
    ...broadcastCounts.map(
      (count): [string, FanoutResult | undefined, FanoutResult | undefined] => [
        `broadcast ${count}`,
        broadcastAt(fanout, count),
        broadcastAt(peer, count),
      ],
    ),
    ['channels', fanout?.channels, peer.channels],
    ['goal channels', fanout?.goalChannels, peer.goalChannels],
  ];
  for (const [name, f, p] of fanoutRows) {
    ratios[`${name} deliveries/s`] = divide(f?.deliveriesPerSecond, p?.deliveriesPerSecond);
    ratios[`${name} p99`] = divide(f?.p99Ms, p?.p99Ms);
  }
  ratios['storm time until all receive new events'] = divide(
    allLive(fanout?.storm),
    allLive(peer.storm),
  );
  ratios['ingest events/s'] = divide(ingestOf('fanout'), ingestOf(peer.target));
  return ratios;
}

const json = {
  command,
  quick,
  date: startedAt.toISOString(),
  machine,
  loadAtEnd: load(),
  settings: {
    seconds,
    broadcastRate,
    channelsRate,
    goalSeconds,
    goalRate,
    clientProcesses,
    stormRate,
    dataBytes,
    partitions,
  },
  targets: results,
  ingest: ingestResults,
  /** fanout ÷ peer, per peer; undefined (left out) where either side has no figure. */
  ratios: Object.fromEntries(peers.map((peer) => [peer.target, ratiosTo(peer)])),
};
/** Written as the repository's formatter would write it, so the files pass its check. */
async function writeFormatted(file: string, text: string): Promise<void> {
  const options = (await prettier.resolveConfig(file)) ?? {};
  writeFileSync(file, await prettier.format(text, { ...options, filepath: file }));
}

await writeFormatted(join(outDir, 'results.json'), JSON.stringify(json, null, 2));

/** fanout ÷ peer in words: `1.0× (same)` within ±5 %, else two decimals (`ratio-words.ts`). */
const times = ratioWords;
const ratio = (a: number | undefined, b: number | undefined): string => times(divide(a, b));
const num = (v: number | undefined, digits = 0): string =>
  v === undefined || !Number.isFinite(v)
    ? '–'
    : v.toLocaleString('en', { maximumFractionDigits: digits });
const centrifugo = byName.get('centrifugo');
const centrifugoRan = centrifugo !== undefined && centrifugo.unavailable === undefined;

/** The cold-start scenario's section (none when it did not run). */
function coldStartSection(): string[] {
  const ran = results.filter((r) => r.coldstart !== undefined);
  if (ran.length === 0) return [];
  const first = ran[0]?.coldstart;
  const lines = [
    '## Cold start: latency in the first seconds after an edge or broker restart',
    '',
    `${num(first?.channels)} channels × ${num((first?.clients ?? 0) / (first?.channels ?? 1))} subscribers, ${num(first?.eventsPerSecond)} events/s, on a broker of the scenario's own. The edge is stopped (SIGTERM) and started again and its clients reconnect (resuming); then the broker is killed (SIGKILL) and started again over its data; clients whose connection the edge closes meanwhile (an edge that cannot reach Kafka closes its clients) reconnect and resume, as real clients do (counted: reconnects). Latency: the sampled subscribers (1 in 10, at least 100), events sent in the first ${first?.windowSeconds ?? coldStartWindowSeconds} s after each was live again (after the edge restart from its own \`subscribed\` answer, so replayed events do not count; after the broker restart from the broker's return or its own later \`subscribed\` answer). Goal: p99 ≤ 100 ms. Steady: the same subscribers before any restart. Start → ready: the edge from its spawn to \`/readyz\` 200; the broker from its start to its answer.`,
    '',
    '| target | restart | start → listening | start → ready | ready → all live | reconnects | latency p50 / p99 / p99.9 / max ms (events on subscribers) | p99 ≤ 100 ms | CPU | the limit | load 1/5/15 start → end |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- | --- | --- |',
  ];
  for (const r of ran) {
    const c = r.coldstart;
    if (c === undefined) continue;
    lines.push(
      `| ${r.label} | none (steady) | | | | | ${latencyCell(c.steady)} | ${c.steady.p99Ms <= 100 ? 'yes' : 'no'} | ${cpuCell(c.steadyCpu)} | ${c.steadyVerdict.words} | ${loadCell(c.steadyCpu)} |`,
    );
    for (const x of c.restarts) {
      lines.push(
        `| ${r.label} | ${x.what} | ${ms(x.startToListeningMs)} | ${ms(x.startToReadyMs)} | ${allLiveCell(x.liveClients, c.clients, x.readyToAllLiveMs)} | ${num(x.reconnects)} | ${latencyCell(x.latency)} | ${x.latency.p99Ms <= 100 ? 'yes' : 'no'} | ${cpuCell(x.cpu)} | ${x.verdict.words} | ${loadCell(x.cpu)} |`,
      );
    }
    lines.push(
      '',
      "Split at the broker's append (as in the fan-out split above); after the broker restart, the second row counts only events sent after the producer's first acknowledged batch, when the broker served again:",
      '',
      '| phase | latency p50 / p99 / p99.9 / max ms | send → append ms | append → arrival ms | send → ack ms | send → first arrival of the event ms | arrival behind the first ms | edge: append → uWS hand-over ms (events) | edge event-loop delay p50 / p99 / max ms |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      `| steady | ${latencyCell(c.steady)} | ${splitCells(c.steadySplit, c.steadyEdge)} |`,
      ...c.restarts.flatMap((x) => [
        `| after the ${x.what} restart | ${latencyCell(x.latency)} | ${splitCells(x.split, x.edge)} |`,
        ...(x.afterFirstAck === undefined
          ? []
          : [
              `| after the ${x.what} restart, from the first acknowledged batch (${ms(x.firstAckMs)} after its return) | ${latencyCell(x.afterFirstAck.latency)} | ${splitCells(x.afterFirstAck.split, undefined)} |`,
            ]),
      ]),
    );
    if (c.failedSends > 0)
      lines.push(
        '',
        `${r.label}: ${num(c.failedSends)} producer batches failed while the broker was down (dropped, not retried).`,
      );
  }
  lines.push('');
  return lines;
}

const md: string[] = [
  '<!-- Written by `npm run bench` (test/bench/run-benchmarks.ts); edit the runner, not this file. -->',
  '',
  '# Benchmark results',
  '',
  `Command: \`${command}\` · date ${startedAt.toISOString()} · machine: ${machineLine} · open-file limit ${machine.openFileLimit.toLocaleString('en')} per process · load average at the end ${json.loadAtEnd}.`,
  '',
  `Ratios are fanout ÷ peer (${peers.map(shortName).join(', ') || 'none ran'}); within ±5 % of 1 a ratio reads "1.0× (same)". Each ratio column says which direction is better: deliveries/s and events/s, ${betterWords('higher')}; latency, memory and time, ${betterWords('lower')}. Every row names the CPU of each process taking part and of the whole machine, which one was the limit, and the load average at its start and end: the machine is shared.`,
  '',
];
for (const r of results) {
  if (r.unavailable !== undefined)
    md.push(`**${r.label}: not run** — ${r.unavailable.replace(/\.$/, '')}.`, '');
  if (r.version !== undefined && r.unavailable === undefined)
    md.push(`${r.label}: ${r.version}.`, '');
  for (const error of r.errors) md.push(`**${r.label}: ${error}**`, '');
}
if (centrifugoRan) {
  md.push(
    '### How Centrifugo runs here',
    '',
    "- One node, memory engine, fed from Kafka by its own Kafka consumer (publication data mode: the record's value is the publication's data, a header names the channel) from a topic of its own with the same partitions, keys, data and rates the suite writes for fanout (fanout's topic holds its protobuf envelopes, which Centrifugo cannot read). Its consumer is a consumer group that commits offsets; fanout's edge reads partitions without a group.",
    '- Clients connect without a token and subscribe anonymously to channels without a namespace, as fanout runs here (`edge.authRequired` off). Those channels keep a history (1,000 publications, 10 min) with forced recovery, as fanout always keeps its replay buffer.',
    '- Centrifugo writes several messages into one WebSocket frame when they queue up (newline-separated); its client counts messages, not frames, and answers its application-level pings.',
    '- Idle connections: the same measurement; a count above one process’s open-file limit runs on several independent nodes, each with a Kafka consumer group of its own, and every connection completes `connect` and `subscribe` and answers pings.',
    '- Reconnect storm: clients resume with `recover: true` and the offset and epoch of the last publication they saw. The memory engine\'s history lives in the process, so a restarted node has new epochs and answers `recovered: false` ("told: cannot resume" below); what was published meanwhile is counted as missed. Centrifugo\'s Redis engine keeps history across restarts; it is not run here.',
    "- Publish throughput: Centrifugo's server HTTP API (`/api/batch`, 100 publishes a call, 8 calls in flight, API key) into its memory broker — it does not write to Kafka, where fanout's ingest acknowledges only after Kafka (acks=all).",
    '',
  );
}

md.push(
  '## Idle connections: memory per connection (server RSS growth)',
  '',
  ...idleSection(idleCounts, results),
);
md.push('', `![memory per connection](memory-per-connection.svg)`, '');

/** `1,234 ms`, or `not known` (a server never ready within the wait). */
const ms = (value: number | undefined): string =>
  value === undefined || !Number.isFinite(value) ? 'not known' : `${num(value)} ms`;
/** Time until all clients were live again, or how many were when the wait ended. */
const allLiveCell = (live: number, clients: number, value: number): string =>
  live < clients ? `not all: ${num(live)} of ${num(clients)}` : ms(value);
const pct = (share: number | undefined): string =>
  share === undefined || !Number.isFinite(share) ? '?' : `${Math.round(share * 100)} %`;
/** `fanout edge 47 % (waited 21 %) · bench clients 1 31 % (waited 9 %) · Kafka broker 12 % · machine 81 % of 2` */
const cpuCell = (cpu: PhaseCpu | undefined): string =>
  cpu === undefined
    ? '–'
    : [
        ...cpu.processes.map(
          (p) =>
            `${p.name} ${pct(p.cores)}${p.waiting === undefined ? '' : ` (waited ${pct(p.waiting)})`}`,
        ),
        `machine ${pct(cpu.machine)} of ${cpu.cpuCount}`,
      ].join(' · ');
const loadCell = (cpu: PhaseCpu | undefined): string =>
  cpu === undefined ? '–' : `${cpu.loadStart.join('/')} → ${cpu.loadEnd.join('/')}`;
const latencyCell = (l: LatencySummary | undefined): string =>
  l === undefined
    ? '–'
    : `${num(l.p50Ms, 1)} / ${num(l.p99Ms, 1)} / ${num(l.p999Ms, 1)} / ${num(l.maxMs, 1)} (${num(l.count)} on ${num(l.sampledSubscribers)})`;

const splitCells = (split: LatencySplit, edge: EdgePhase | undefined): string =>
  `${latencyCell(split.toAppend)} | ${latencyCell(split.appendToArrival)} | ${latencyCell(split.toAcknowledged)} | ${latencyCell(split.firstArrival)} | ${latencyCell(split.behindFirst)} | ${edge === undefined ? '–' : `${bucketBound(edge.delivery.p50Ms)} / ${bucketBound(edge.delivery.p99Ms)} / ${bucketBound(edge.delivery.p999Ms)} (${num(edge.delivery.count)})`} | ${edge?.loopDelay === undefined ? '–' : `${num(edge.loopDelay.p50Ms, 1)} / ${num(edge.loopDelay.p99Ms, 1)} / ${num(edge.loopDelay.maxMs, 1)}`}`;
/** `≤ 25`, or `> 5,000` past the last bucket. */
const bucketBound = (ms: number): string =>
  ms === Number.POSITIVE_INFINITY ? '> 5,000' : `≤ ${num(ms, 1)}`;

/** Timed events a second in the goal's row: its rate × subscribers a channel × the sampled share. */
const goalTimedPerSecond =
  (goalRate * goalPerChannel * sampleSize(goalChannelCount * goalPerChannel)) /
  (goalChannelCount * goalPerChannel);
/** The goal's row of the fan-out table. */
const goalLabel = `${goalChannelCount} channels × ${goalPerChannel} subscribers, ${num(goalRate)} ev/s (goal p99.9 ≤ 50 ms)`;

/** fanout's latency split at the broker's append, one row per phase measured. */
function splitSection(rows: readonly (readonly [string, FanoutResult | undefined])[]): string[] {
  const measured = rows.filter(
    (row): row is readonly [string, FanoutResult] => row[1] !== undefined,
  );
  if (measured.length === 0) return [];
  return [
    "Where fanout's latency goes: each timed event split at the broker's append time (the suite's topics use `message.timestamp.type=LogAppendTime`; the produce response returns the stamp): send → append is the bench's producer and the broker, append → arrival the edge, loopback and the client's event loop; send → ack is what the producer waits for; first arrival is, per event, its earliest arrival at any sampled subscriber, and behind the first is each arrival's wait after it (the client processes reading one frame per socket, and the edge writing them one socket after another). The edge's column is its own histogram `fanout_edge_delivery_latency_seconds` (append → hand-over to uWebSockets) over the same phase, as bucket bounds (≤ 1, 2.5, 5, 10, 25, 50, 100, 250 ms); beside it the edge's event-loop delay over the phase (prom-client's `fanout_nodejs_eventloop_lag_*`, beyond its 10 ms sampling interval; the worst edge's where several run): how long work waited for the loop, behind its socket writes and fetches and while the loop waited for a core. The CPU columns say, for each event loop, how much of the phase it waited for a core (`/proc/<pid>/schedstat`).",
    '',
    '| scenario | send → append ms | append → arrival ms | send → ack ms | send → first arrival of the event ms | arrival behind the first ms | edge: append → uWS hand-over ms (events) | edge event-loop delay p50 / p99 / max ms |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...measured.map(([name, v]) => `| ${name} | ${splitCells(v.split, v.edge)} |`),
    '',
  ];
}

const fanoutRows = (
  scenario: string,
  pick: (r: TargetResult | undefined) => FanoutResult | undefined,
): string[] =>
  // A scenario no target measured (not selected) has no rows.
  [fanout, ...peers].every((r) => pick(r) === undefined)
    ? []
    : [fanout, ...peers].map((r) => {
        const v = pick(r);
        const isFanout = r === fanout;
        return `| ${scenario} | ${r?.label ?? 'fanout edge'} | ${num(v?.deliveriesPerSecond)} | ${isFanout ? '' : ratio(pick(fanout)?.deliveriesPerSecond, v?.deliveriesPerSecond)} | ${latencyCell(v?.latency)} | ${isFanout ? '' : ratio(pick(fanout)?.p99Ms, v?.p99Ms)} | ${num(v?.received)} / ${num(v?.expected)} | ${cpuCell(v?.cpu)} | ${v?.verdict.words ?? '–'} | ${loadCell(v?.cpu)} |`;
      });
md.push(
  '## Fan-out: deliveries per second and latency',
  '',
  `${seconds} s per measurement (${goalSeconds} s for the goal's row of ${goalChannelCount} channels × ${goalPerChannel} subscribers: its sampled subscribers time ${num(goalTimedPerSecond)} events a second, so its p99.9 rests on ${num(goalTimedPerSecond * goalSeconds)}); events of ${dataBytes} bytes of data; latency in ms from the hand-over to the Kafka producer to arrival at a sample of the measured subscribers themselves (1 in 10, at least 100; spread over all of them by a hash of their index): p50 / p99 / p99.9 / max, then how many events were timed on how many subscribers. The subscribers are spread over ${clientProcesses} client process${clientProcesses === 1 ? '' : 'es'} ("bench clients 1…${clientProcesses}", subscriber i in process i mod ${clientProcesses}); the sampled ones are ordinary subscribers there that also decode the send time of what they receive, each process timing its own, and the percentiles are over every timed event of every process. The events are written by a producer process of its own ("bench producer": kafkajs, acks=all, the pacing and the send time stamps); the runner ("bench runner") only asks the processes for their counts. So a client process at a full core makes the figures the client's, not the server's. CPU is a share of one core per process (server, producer, each client process, runner, Kafka broker) and of all cores for the machine (/proc/stat).`,
  '',
  `| scenario | server | deliveries/s (${betterWords('higher')}) | fanout ÷ server | latency p50 / p99 / p99.9 / max ms (events on subscribers) | p99 fanout ÷ server (${betterWords('lower')}) | received / expected | CPU | the limit | load 1/5/15 start → end |`,
  '| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- | --- |',
);
for (const count of broadcastCounts) {
  md.push(
    ...fanoutRows(`1 channel × ${num(count)} subscribers, ${broadcastRate} ev/s`, (r) =>
      broadcastAt(r, count),
    ),
  );
}
md.push(
  ...fanoutRows(
    `${num(channelCount)} channels × ${mainConnections / channelCount} subscribers, ${num(channelsRate)} ev/s`,
    (r) => r?.channels,
  ),
  ...fanoutRows(goalLabel, (r) => r?.goalChannels),
  '',
  ...splitSection([
    ...broadcastCounts.map(
      (count) =>
        [
          `1 channel × ${num(count)} subscribers, ${broadcastRate} ev/s`,
          broadcastAt(fanout, count),
        ] as const,
    ),
    [
      `${num(channelCount)} channels × ${mainConnections / channelCount} subscribers, ${num(channelsRate)} ev/s`,
      fanout?.channels,
    ] as const,
    [goalLabel, fanout?.goalChannels] as const,
  ]),
  '![throughput vs subscribers](throughput-vs-subscribers.svg)',
  '',
  '![latency percentiles](latency-percentiles.svg)',
  '',
  '## Reconnect storm',
  '',
  `${num(mainConnections)} subscribers over ${stormChannels} channels, ${stormRate} events/s with a sequence number per channel; the server is stopped (SIGTERM) and a fresh one started; every client reconnects — fanout's with \`since\` = the last position it saw, the naive baseline's plainly (it has no replay)${centrifugoRan ? ", Centrifugo's with `recover: true` and the offset and epoch of the last publication it saw" : ''}. Missed: events published after a client's first one that it never received. Told: cannot resume: clients the server answered that it could not resume them. A connection refused or closed during its handshake is tried again (100 ms, 200 ms, … 1 s apart), as a real client would; the retries are counted.`,
  '',
  `In the goal's terms (edge ready ≤ 1 s after its start; every client live again ≤ 5 s after the edge is ready; 0 missed): start → ready is from the new server's spawn to its \`/readyz\` answering 200 (polled every 10 ms; a peer without one: listening), ready → all live until every client received an event published after the restart.`,
  '',
  '| target | start → listening | start → ready | ready → all clients live again | all live, after the stop | of which server restart | events due | missed | repeated | told: cannot resume | connection attempts retried | load |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
);
for (const r of results) {
  if (r.storm === undefined) continue;
  md.push(
    `| ${r.label} | ${ms(r.storm.startToListeningMs)} | ${ms(r.storm.startToReadyMs)} | ${allLiveCell(r.storm.liveClients, r.storm.clients, r.storm.readyToAllLiveMs)} | ${r.storm.liveClients < r.storm.clients ? `not all: ${num(r.storm.liveClients)} of ${num(r.storm.clients)} after ` : ''}${num(r.storm.allLiveMs)} ms | ${num(r.storm.restartMs)} ms | ${num(r.storm.expected)} | ${num(r.storm.missed)} | ${num(r.storm.duplicates)} | ${num(r.storm.resumeRefused)} | ${num(r.storm.failedAttempts)} | ${r.storm.load} |`,
  );
}
md.push(
  '',
  `Ratio of time until all receive new events (${betterWords('lower')}): ${peers.map((p) => `fanout ÷ ${shortName(p)} ${ratio(allLive(fanout?.storm), allLive(p.storm))}`).join('; ') || '–'} — fanout's clients first receive every event published while they were away; the naive baseline's skip them (its "missed")${centrifugoRan ? "; so do Centrifugo's when it answers that it cannot resume them" : ''}.`,
  '',
  ...coldStartSection(),
  '## Publish throughput',
  '',
  `| path | events/s | fanout ingest ÷ path (${betterWords('higher')}) | CPU | the limit | load 1/5/15 start → end |`,
  '| --- | ---: | ---: | --- | --- | --- |',
  ...ingestResults.map(
    (i) =>
      `| ${i.path} | ${num(i.eventsPerSecond)} | ${i.target === 'fanout' ? '' : ratio(ingestOf('fanout'), i.eventsPerSecond)} | ${cpuCell(i.cpu)} | ${i.verdict.words} | ${loadCell(i.cpu)} |`,
  ),
  '',
  `The ingest adds gRPC, authentication, validation and the idempotent producer; the naive path has none of them.${centrifugoRan ? " Centrifugo's HTTP API authenticates (API key) and validates, and answers once its memory broker holds the publications: it writes nothing to Kafka." : ''}`,
  '',
);
await writeFormatted(join(outDir, 'results.md'), `${md.join('\n')}\n`);

/** One caption line per peer: fanout ÷ it for each x of a chart. */
const ratioCaption = (
  what: string,
  xs: readonly string[],
  value: (r: TargetResult | undefined, index: number) => number | undefined,
): string[] =>
  peers.map(
    (p) =>
      `fanout ÷ ${shortName(p)}, ${what}: ${xs.map((x, i) => `${x} ${times(divide(value(fanout, i), value(p, i)))}`).join(', ')}`,
  );

const reported = results.filter((r) => r.unavailable === undefined);
writeFileSync(
  join(outDir, 'throughput-vs-subscribers.svg'),
  lineChart(
    {
      title: 'Broadcast: deliveries/s vs subscribers of one channel',
      yLabel: 'deliveries/s',
      caption: [
        ...caption,
        ...ratioCaption(
          'deliveries/s',
          broadcastCounts.map((c) => num(c)),
          (r, i) => broadcastAt(r, broadcastCounts[i] ?? 0)?.deliveriesPerSecond,
        ),
      ],
    },
    broadcastCounts.map((c) => num(c)),
    reported.map((r) => ({
      name: r.label,
      values: broadcastCounts.map((c) => broadcastAt(r, c)?.deliveriesPerSecond ?? Number.NaN),
    })),
    `subscribers (${broadcastRate} events/s)`,
  ),
);
const latencyGroups: {
  label: string;
  pick: (r: TargetResult | undefined) => FanoutResult | undefined;
}[] = [
  {
    label: `1 ch × ${((broadcastCounts.at(-1) ?? 0) / 1000).toFixed(0)}k`,
    pick: (r) => broadcastAt(r, broadcastCounts.at(-1) ?? 0),
  },
  {
    label: `${channelCount / 1000}k ch × ${mainConnections / channelCount}`,
    pick: (r) => r?.channels,
  },
  {
    label: `${goalChannelCount} ch × ${goalPerChannel}`,
    pick: (r) => r?.goalChannels,
  },
];
writeFileSync(
  join(outDir, 'latency-percentiles.svg'),
  barChart(
    {
      title: 'Delivery latency percentiles (ms, log scale)',
      yLabel: 'ms',
      caption: [
        ...caption,
        ...ratioCaption(
          'p99',
          latencyGroups.map((g) => g.label),
          (r, i) => latencyGroups[i]?.pick(r)?.p99Ms,
        ),
      ],
    },
    latencyGroups.flatMap((g) => [`p50\n${g.label}`, `p99\n${g.label}`, `p99.9\n${g.label}`]),
    reported.map((r) => ({
      name: r.label,
      values: latencyGroups.flatMap((g) => {
        const v = g.pick(r);
        return [v?.p50Ms ?? Number.NaN, v?.p99Ms ?? Number.NaN, v?.p999Ms ?? Number.NaN];
      }),
    })),
    { log: true },
  ),
);
writeFileSync(
  join(outDir, 'memory-per-connection.svg'),
  barChart(
    {
      title: 'Server memory per idle WebSocket (KiB of RSS growth)',
      yLabel: 'KiB',
      caption: [
        ...caption,
        ...ratioCaption(
          'bytes per connection',
          idleCounts.map((c) => num(c)),
          (r, i) => idleAt(r, idleCounts[i] ?? 0)?.measured?.bytesPerConnection,
        ),
      ],
    },
    idleCounts.map((c) => idleGroupLabel(c, reported)),
    reported.map((r) => ({
      name: r.label,
      values: idleCounts.map((c) => {
        const bytes = idleAt(r, c)?.measured?.bytesPerConnection;
        return bytes === undefined ? Number.NaN : bytes / 1024;
      }),
    })),
  ),
);
say(`wrote ${relative(repoRoot, outDir)}/results.{json,md} and 3 charts`);
