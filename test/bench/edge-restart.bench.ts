/**
 * An edge restart under moderate load, on this machine: how long from the
 * new process's spawn until it is ready (and the CPU seconds it spent on
 * that), how long until every client that resumed from its last position
 * receives live events again, what it missed or got twice, the latency of
 * live events in the first seconds after ready, and the CPU seconds the
 * edge spent on the reconnect. Each round: an edge serves the clients, is
 * stopped (SIGTERM), a new one is started, and every client reconnects at
 * once with `since` = the last position it saw. Events keep flowing
 * throughout (`"s"` sequence per channel, `"t"` send time).
 *
 *   npm run build && node test/dist/bench/edge-restart.bench.js
 *   FANOUT_BENCH_CLIENTS=10000 FANOUT_BENCH_RATE=100 FANOUT_BENCH_ROUNDS=3
 *   FANOUT_BENCH_EDGE_ENV="FANOUT_EDGE_WARMUP_EVENTS=0"   # an edge without warm-up
 *   FANOUT_BENCH_HANDSHAKES=500          # reconnect handshakes in flight at once (default)
 *   FANOUT_BENCH_HANDSHAKES=waves:1000   # waves of 1,000, each waiting for its slowest
 *   FANOUT_BENCH_EDGE_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof"
 *   FANOUT_BENCH_EDGE_ROOT=/path/to/other/checkout   # its build of the edge (a before/after)
 *
 * Loopback only, bounded; stops everything it started.
 */
import { cpus, loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { encodeEvent, partitionForChannel } from '@fanout/shared';
import type { Producer } from 'kafkajs';
import {
  edgeAsInImage,
  startEdgeProcess,
  stopOwnKafka,
  testKafka,
  type EdgeProcess,
} from '../support/index.js';
import { RawWsClient } from '../support/raw-ws-client.js';
import { cpuSeconds, machineSummary } from './process-stats.js';
import {
  defaultHandshakeWindow,
  inWindow,
  listenCounters,
  listenCountersSince,
  reconnectTimeline,
  ReconnectTimes,
} from './storm-reconnect.js';

const clientsPerRound = Number(process.env['FANOUT_BENCH_CLIENTS'] ?? 2000);
const rate = Number(process.env['FANOUT_BENCH_RATE'] ?? 100);
const rounds = Number(process.env['FANOUT_BENCH_ROUNDS'] ?? 3);
const channelCount = 100;
const partitions = 8;
/** Live-event latency is reported for this many seconds after ready. */
const latencySeconds = 10;
const liveWaitMs = 120_000;
/**
 * Reconnect handshakes in flight at once (a window: each client starts as
 * one before it is answered); `waves:1000` reconnects in waves of 1,000
 * that each wait for their slowest handshake, as before.
 */
const handshakes = process.env['FANOUT_BENCH_HANDSHAKES'] ?? String(defaultHandshakeWindow);
const edgeNodeArgs = (process.env['FANOUT_BENCH_EDGE_NODE_ARGS'] ?? '')
  .split(/\s+/)
  .filter((arg) => arg !== '');
const edgeRoot = process.env['FANOUT_BENCH_EDGE_ROOT'];
const edgeEnv = Object.fromEntries(
  (process.env['FANOUT_BENCH_EDGE_ENV'] ?? '')
    .split(/\s+/)
    .filter((pair) => pair.includes('='))
    .map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
);

const kafka = await testKafka();
const topic = await kafka.createTopic({ name: 'bench-edge-restart', partitions });
const producer: Producer = kafka.kafka.producer({ idempotent: true });
await producer.connect();
const channels = Array.from({ length: channelCount }, (_, i) => `bench.restart.${i}`);
const sequences = new Map<string, number>();

function record(channel: string): { key: string; value: Buffer; partition: number } {
  const sequence = sequences.get(channel) ?? 0;
  sequences.set(channel, sequence + 1);
  const now = Date.now();
  const value = encodeEvent({
    id: `${channel}-${sequence}`,
    channel,
    type: 'bench',
    contentType: 'application/json',
    data: Buffer.from(`{"s":${sequence},"t":${now}}`),
    time: { seconds: Math.floor(now / 1000), nanos: (now % 1000) * 1e6 },
    producer: 'bench',
  });
  return {
    key: channel,
    value: Buffer.from(value.buffer, value.byteOffset, value.byteLength),
    partition: partitionForChannel(channel, partitions),
  };
}

/** Publishes `rate` events/s over the channels until `stopped()`, in 20 ms steps. */
async function publish(stopped: () => boolean): Promise<void> {
  const began = performance.now();
  let sent = 0;
  let turn = 0;
  while (!stopped()) {
    const due = Math.floor(((performance.now() - began) / 1000) * rate);
    if (due > sent) {
      const batch = Array.from({ length: due - sent }, () =>
        record(channels[turn++ % channelCount] ?? ''),
      );
      await producer.send({ topic, acks: -1, messages: batch });
      sent += batch.length;
    } else await sleep(20);
  }
}

/** One client: one channel, what it saw. */
class Client {
  socket: RawWsClient | undefined;
  position: string | undefined;
  readonly seen = new Set<number>();
  received = 0;
  first = -1;
  highest = -1;
  retries = 0;
  /** This reconnect's steps, epoch ms (`caughtUpFrom`/`liveFrom` set at ready). */
  readonly times = new ReconnectTimes(Date.now);

  constructor(
    readonly channel: string,
    readonly onEvent: (sentAt: number, receivedAt: number) => void,
  ) {}

  async connect(port: number, source: string, resume: boolean): Promise<void> {
    this.times.started();
    // A handshake the loaded machine drops (listen backlog) is tried again, as a client would.
    for (let attempt = 1; ; attempt++) {
      const socket = new RawWsClient(port, '/v1/ws', 'fanout.json.v1', source);
      this.socket = socket;
      try {
        await socket.ready;
        break;
      } catch (error) {
        this.retries++;
        if (attempt >= 10) throw error;
        await sleep(100 * attempt);
      }
    }
    const socket = this.socket;
    this.times.answered();
    socket.sample((payload) => {
      const text = payload.toString('latin1');
      if (!text.startsWith('{"event"')) return;
      const now = Date.now();
      const sequence = Number(/"s":(\d+)/.exec(text)?.[1] ?? -1);
      const sentAt = Number(/"t":(\d+)/.exec(text)?.[1] ?? -1);
      this.position = /"position":"([^"]+)"[}\]]*$/.exec(text)?.[1] ?? this.position;
      this.received++;
      if (this.first < 0) this.first = sequence;
      this.seen.add(sequence);
      this.highest = Math.max(this.highest, sequence);
      this.times.received(this.highest, now);
      this.onEvent(sentAt, now);
    });
    const since = resume && this.position !== undefined ? { since: this.position } : {};
    socket.sendText(
      JSON.stringify({
        subscribe: { requestId: 1, subscriptions: [{ channel: this.channel, ...since }] },
      }),
    );
  }
}

function startEdge(): Promise<EdgeProcess> {
  return startEdgeProcess({
    brokers: kafka.brokers,
    topic,
    // As the image runs it (decision 050); a checkout to compare with runs its `tsc` output.
    ...(edgeRoot === undefined
      ? { script: edgeAsInImage.script, nodeArgs: [...edgeAsInImage.nodeArgs, ...edgeNodeArgs] }
      : { root: edgeRoot, nodeArgs: edgeNodeArgs }),
    env: {
      FANOUT_KAFKA_PARTITIONS: String(partitions),
      FANOUT_EDGE_MAX_CONNECTIONS: '100000',
      FANOUT_EDGE_SHUTDOWN_TIMEOUT_MS: '2000',
      ...edgeEnv,
    },
    timeoutMs: 60_000,
  });
}

async function replays(edge: EdgeProcess): Promise<{ hot: number; cold: number }> {
  const text = await (await fetch(`${edge.metricsBase}/metrics`)).text();
  const count = (kind: string): number =>
    Number(
      new RegExp(`^fanout_edge_replays_total\\{[^}]*kind="${kind}"[^}]*\\} (\\d+)`, 'm').exec(
        text,
      )?.[1] ?? 0,
    );
  return { hot: count('hot'), cold: count('cold') };
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? Number.NaN;
}

interface Round {
  /** Handshakes tried again after the connection was dropped. */
  retried: number;
  readyMs: number;
  readyCpuS: number;
  /** From ready until every client's handshake was answered. */
  reconnectedMs: number;
  allLiveAfterReadyMs: number;
  reconnectCpuS: number;
  /** CPU seconds of this process (the clients and the producer), ready → every client live. */
  benchCpuS: number;
  /** From ready until every client received every event published before ready. */
  allCaughtUpAfterReadyMs: number;
  /** Clients per step (cumulative) in 500 ms buckets after ready. */
  timeline: string[];
  /** The kernel's listen-queue overflows and SYN retransmits, ready → every client live. */
  listen: string;
  missed: number;
  duplicates: number;
  hot: number;
  cold: number;
  latency: { second: number; p50: number; p99: number; max: number; count: number }[];
}

async function round(): Promise<Round> {
  const sources = ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4'];
  let readyAt = Number.POSITIVE_INFINITY;
  const latencies: number[][] = Array.from({ length: latencySeconds }, () => []);
  const onEvent = (sentAt: number, receivedAt: number): void => {
    // Live events published after the new edge was ready.
    if (sentAt < readyAt) return;
    latencies[Math.floor((receivedAt - readyAt) / 1000)]?.push(receivedAt - sentAt);
  };
  const clients = Array.from(
    { length: clientsPerRound },
    (_, i) => new Client(channels[i % channelCount] ?? '', onEvent),
  );
  let first: EdgeProcess | undefined = await startEdge();
  let second: EdgeProcess | undefined;
  let stopped = false;
  const publisher = publish(() => stopped);
  try {
    for (let i = 0; i < clients.length; i += 500) {
      await Promise.all(
        clients
          .slice(i, i + 500)
          .map((c, j) => c.connect(first?.port ?? 0, sources[(i + j) % 4] ?? '', false)),
      );
    }
    const until = Date.now() + 30_000;
    while (clients.some((c) => c.highest < 0) && Date.now() < until) await sleep(50);
    await sleep(2000);
    await first.kill('SIGTERM');
    first = undefined;
    for (const client of clients) client.socket?.close();
    const spawned = performance.now();
    second = await startEdge();
    const readyMs = performance.now() - spawned;
    readyAt = Date.now();
    const readyCpuS = cpuSeconds(second.pid) ?? Number.NaN;
    const threshold = new Map(channels.map((c) => [c, sequences.get(c) ?? 0]));
    for (const client of clients) {
      client.times.expect(threshold.get(client.channel) ?? 0);
    }
    const benchCpuAtReady = process.cpuUsage();
    const port = second.port;
    const counters = listenCounters();
    if (handshakes.startsWith('waves:')) {
      const wave = Number(handshakes.slice('waves:'.length));
      for (let i = 0; i < clients.length; i += wave) {
        await Promise.all(
          clients
            .slice(i, i + wave)
            .map((c, j) => c.connect(port, sources[(i + j) % 4] ?? '', true)),
        );
      }
    } else {
      await inWindow(clients, Number(handshakes), (c, i) =>
        c.connect(port, sources[i % 4] ?? '', true),
      );
    }
    const reconnectedMs = Date.now() - readyAt;
    const giveUp = Date.now() + liveWaitMs;
    const isLive = (c: Client): boolean => c.highest >= (threshold.get(c.channel) ?? 0);
    while (!clients.every(isLive) && Date.now() < giveUp) await sleep(10);
    // When the last client received its first new event (its own clock; the
    // loop above notices later when this process is busy with the sockets).
    const allLiveAfterReadyMs =
      (clients.every(isLive) ? Math.max(...clients.map((c) => c.times.liveAt)) : Date.now()) -
      readyAt;
    const reconnectCpuS = (cpuSeconds(second.pid) ?? Number.NaN) - readyCpuS;
    const listen = listenCountersSince(counters);
    const benchCpu = process.cpuUsage(benchCpuAtReady);
    const benchCpuS = (benchCpu.user + benchCpu.system) / 1e6;
    const allCaughtUpAfterReadyMs =
      Math.max(...clients.map((c) => c.times.caughtUpAt(c.highest))) - readyAt;
    const timeline = reconnectTimeline(readyAt, allLiveAfterReadyMs, clients);
    const { hot, cold } = await replays(second);
    const retried = clients.reduce((sum, client) => sum + client.retries, 0);
    await sleep(Math.max(0, latencySeconds * 1000 - (Date.now() - readyAt)));
    stopped = true;
    await publisher;
    await sleep(2000);
    let missed = 0;
    let duplicates = 0;
    for (const client of clients) {
      const last = (sequences.get(client.channel) ?? 0) - 1;
      missed += last - client.first + 1 - client.seen.size;
      duplicates += client.received - client.seen.size;
    }
    const latency = latencies.map((values, second) => {
      const sorted = [...values].sort((a, b) => a - b);
      return {
        second,
        p50: percentile(sorted, 0.5),
        p99: percentile(sorted, 0.99),
        max: sorted.at(-1) ?? Number.NaN,
        count: sorted.length,
      };
    });
    return {
      retried,
      readyMs,
      readyCpuS,
      reconnectedMs,
      allLiveAfterReadyMs,
      reconnectCpuS,
      benchCpuS,
      allCaughtUpAfterReadyMs,
      timeline,
      listen,
      missed,
      duplicates,
      hot,
      cold,
      latency,
    };
  } finally {
    stopped = true;
    await publisher.catch(() => undefined);
    for (const client of clients) client.socket?.close();
    await first?.kill('SIGTERM');
    await second?.kill('SIGTERM');
  }
}

try {
  console.log(
    `# edge restart: ${clientsPerRound} clients over ${channelCount} channels, ${rate} events/s, ${partitions} partitions; ${machineSummary()}, ${cpus().length} cores, load ${loadavg()[0]?.toFixed(1)}; handshakes ${handshakes}; edge env ${JSON.stringify(edgeEnv)}${edgeRoot === undefined ? '' : `, edge of ${edgeRoot}`}`,
  );
  for (let i = 0; i < rounds; i++) {
    const r = await round();
    console.log(
      `round ${i + 1}: ready ${r.readyMs.toFixed(0)} ms after spawn (${r.readyCpuS.toFixed(2)} CPU s); all ${clientsPerRound} reconnected ${r.reconnectedMs} ms and live ${r.allLiveAfterReadyMs} ms after ready (${r.reconnectCpuS.toFixed(2)} edge CPU s, ${r.benchCpuS.toFixed(2)} CPU s of the clients and producer); all caught up ${r.allCaughtUpAfterReadyMs} ms after ready; missed ${r.missed}, duplicates ${r.duplicates}; replays hot ${r.hot}, cold ${r.cold}; handshakes retried ${r.retried}; load ${loadavg()[0]?.toFixed(1)}`,
    );
    console.log(`  ${r.listen}`);
    console.log('  clients per 500 ms after ready (cumulative):');
    for (const line of r.timeline) console.log(`    ${line}`);
    for (const s of r.latency) {
      console.log(
        `  live latency ${s.second}-${s.second + 1} s after ready: p50 ${s.p50} ms, p99 ${s.p99} ms, max ${s.max} ms (${s.count} deliveries)`,
      );
    }
  }
} finally {
  await producer.disconnect();
  await stopOwnKafka();
}
