/**
 * What one edge process delivers: an edge runs as its own process
 * (`services/edge/dist/main.js`) against the local broker; this process
 * writes fanout events straight into Kafka (the ingest benchmark measures
 * ingest) and follows N WebSocket subscribers over loopback with a client
 * that counts frames without decoding them, sampling a few connections for
 * latency. Scenarios, in order:
 *
 *   memory     N idle connections, then each with one subscription: edge RSS per connection
 *   light      N subscribers of one channel; events at FANOUT_BENCH_LIGHT_RATE/s (latency)
 *   broadcast  N subscribers of one channel; events at FANOUT_BENCH_BROADCAST_RATE/s
 *   channels   N subscribers over 100 channels; events at FANOUT_BENCH_CHANNELS_RATE/s
 *   resume     10,000 missed events on one channel: subscribe with `since`, time
 *              until the last arrived; hot (the edge holds them) and cold (a fresh
 *              edge process reads them from Kafka)
 *
 * Events carry 128 bytes of data; deliveries/s is what the subscribers
 * received; edge CPU comes from /proc, so deliveries per edge CPU-second
 * holds even when the edge is not saturated. Latency is from the moment
 * this process handed the event to the Kafka producer to its arrival at a
 * sample of the measured subscribers themselves (1 in 10, at least 100,
 * spread by a hash of their index; `latency-sampling.ts`), read by the same
 * thread as all the others — so it includes the time this process takes to
 * read 10,000 sockets, as a real client's would. Each row gives the CPU of
 * the edge, of this process (producer and every client), of the Kafka
 * broker and of the whole machine, the load average, and which of them was
 * the limit (`cpu-verdict.ts`).
 *
 *   npm run bench:edge
 *   FANOUT_BENCH_EDGE_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" npm run bench:edge
 *   FANOUT_BENCH_CONNECTIONS=10000 FANOUT_BENCH_SECONDS=10 FANOUT_BENCH_BROADCAST_RATE=100 \
 *   FANOUT_BENCH_CHANNELS_RATE=10000 npm run bench:edge
 *   FANOUT_BENCH_WS_SUBPROTOCOL=fanout.json.v2 npm run bench:edge   (batch frames)
 *
 * The subscribers (and the latency sampler's connections) speak
 * FANOUT_BENCH_WS_SUBPROTOCOL, `fanout.json.v1` by default; deliveries count
 * events, the events of a batch frame one by one.
 *
 * Loopback only, bounded in time; stops everything it started.
 */
import { cpus } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { encodeEvent, partitionForChannel } from '@fanout/shared';
import type { Producer } from 'kafkajs';
import { startEdgeProcess, stopOwnKafka, testKafka, type EdgeProcess } from '../support/index.js';
import { publishAtRate } from './bench-records.js';
import { benchSubprotocol } from './fanout-client.js';
import {
  ignoreFrame,
  LatencyRecorder,
  sampledIndices,
  sampleSize,
  summarizeLatency,
  type LatencySummary,
} from './latency-sampling.js';
import { cpuTimes, machineSummary, rssBytes } from './process-stats.js';
import { CpuMeter, cpuSummary, cpuVerdict, type CpuVerdict, type PhaseCpu } from './cpu-verdict.js';
import { pidListeningOn } from './listening-process.js';
import { RawWsClient } from '../support/raw-ws-client.js';
import { newestPosition, timeResume } from './resume-timer.js';

const connectionCount = Number(process.env['FANOUT_BENCH_CONNECTIONS'] ?? 10_000);
const seconds = Number(process.env['FANOUT_BENCH_SECONDS'] ?? 10);
const broadcastRate = Number(process.env['FANOUT_BENCH_BROADCAST_RATE'] ?? 100);
const lightRate = Number(process.env['FANOUT_BENCH_LIGHT_RATE'] ?? 10);
const channelsRate = Number(process.env['FANOUT_BENCH_CHANNELS_RATE'] ?? 10_000);
const resumeEvents = 10_000;
const channelCount = 100;
const partitions = 8;
const dataBytes = 128;

const kafka = await testKafka();
const topic = await kafka.createTopic({ name: 'bench-edge', partitions });
const producer: Producer = kafka.kafka.producer({ idempotent: true });
await producer.connect();
const edgeEnv = {
  FANOUT_LOG_LEVEL: 'info',
  FANOUT_EDGE_MAX_BACKPRESSURE_BYTES: String(4 * 1024 * 1024),
  FANOUT_EDGE_IDLE_TIMEOUT_SECONDS: '960',
  // Room for the 10,000 events of the hot resume, whatever else the partition holds.
  FANOUT_EDGE_REPLAY_BUFFER_EVENTS: '20000',
};
/** FANOUT_BENCH_EDGE_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the edge. */
const edgeNodeArgs = (process.env['FANOUT_BENCH_EDGE_NODE_ARGS'] ?? '')
  .split(/\s+/)
  .filter((arg) => arg !== '');
let edge: EdgeProcess = await startEdgeProcess({
  brokers: kafka.brokers,
  topic,
  env: edgeEnv,
  nodeArgs: edgeNodeArgs,
});

// ---- publishing -----------------------------------------------------------

let sequence = 0;
const padding = 'x'.repeat(dataBytes);

/** 128 bytes of JSON data holding the send time (ms, this process's clock). */
function dataAt(sentAt: number): Uint8Array {
  const head = `{"t":${sentAt.toFixed(3)},"p":"`;
  return Buffer.from(`${head}${padding.slice(0, dataBytes - head.length - 2)}"}`);
}

function record(channel: string): { key: string; value: Buffer; partition: number } {
  const now = performance.timeOrigin + performance.now();
  const value = encodeEvent({
    id: `b${sequence++}`,
    channel,
    type: 'bench',
    contentType: 'application/json',
    data: dataAt(now),
    time: { seconds: Math.floor(now / 1000), nanos: Math.floor((now % 1000) * 1e6) },
    producer: 'bench',
  });
  return {
    key: channel,
    value: Buffer.from(value.buffer, value.byteOffset, value.byteLength),
    partition: partitionForChannel(channel, partitions),
  };
}

async function send(channels: readonly string[]): Promise<void> {
  await producer.send({ topic, acks: -1, messages: channels.map(record) });
}

// ---- clients ----------------------------------------------------------------

async function connectAll(count: number): Promise<RawWsClient[]> {
  const clients: RawWsClient[] = [];
  for (let i = 0; i < count; i += 500) {
    const wave = Array.from(
      { length: Math.min(500, count - i) },
      () => new RawWsClient(edge.port, '/v1/ws', benchSubprotocol),
    );
    await Promise.all(wave.map((client) => client.ready));
    clients.push(...wave);
  }
  return clients;
}

/** Subscribes every client; waits for the `subscribed` frames (one per client). */
async function subscribeAll(
  clients: readonly RawWsClient[],
  channelOf: (index: number) => string,
): Promise<void> {
  const before = clients.map((client) => client.frames);
  clients.forEach((client, index) => {
    client.sendText(
      JSON.stringify({
        subscribe: { requestId: 1, subscriptions: [{ channel: channelOf(index) }] },
      }),
    );
  });
  const deadline = Date.now() + 60_000;
  while (clients.some((client, index) => client.frames <= (before[index] ?? 0))) {
    if (Date.now() > deadline) throw new Error('subscriptions were not all confirmed in 60 s');
    await sleep(50);
  }
}

function unsubscribeAll(
  clients: readonly RawWsClient[],
  channelOf: (index: number) => string,
): void {
  clients.forEach((client, index) => {
    client.sendText(
      JSON.stringify({ unsubscribe: { requestId: 2, channels: [channelOf(index)] } }),
    );
  });
}

interface FanoutResult {
  readonly scenario: string;
  readonly events: number;
  readonly expected: number;
  readonly received: number;
  readonly deliveriesPerSecond: number;
  /** WebSocket frames the subscribers received per second (a batch frame holds several deliveries). */
  readonly framesPerSecond: number;
  readonly edgeCpu: number;
  /** The part of `edgeCpu` spent in the kernel (system time): socket writes, loopback delivery. */
  readonly edgeSystemCpu: number;
  readonly deliveriesPerCpuSecond: number;
  /** CPU of this process (producer and clients), as a share of one core. */
  readonly clientCpu: number;
  /** Latency of the sampled subscribers. */
  readonly latency: LatencySummary;
  /** CPU of every process and of the machine; load average at the start and the end. */
  readonly cpu: PhaseCpu;
  readonly verdict: CpuVerdict;
}

/** The broker: the process listening on the first broker's port (undefined if not found). */
const brokerPid = pidListeningOn(Number(kafka.brokers[0]?.split(':').at(-1)));

async function measureFanout(
  scenario: string,
  clients: readonly RawWsClient[],
  channels: readonly string[],
  subscribersPerChannel: number,
  rate: number,
): Promise<FanoutResult> {
  const recorder = new LatencyRecorder();
  const sampled = sampledIndices(clients.length, sampleSize(clients.length)).map(
    (index) => clients[index],
  );
  for (const client of sampled) client?.sample(recorder.record);
  // Warm up one second, then measure.
  await publishAtRate(send, channels, rate, 1);
  await sleep(500);
  recorder.reset();
  const eventsBefore = clients.reduce((sum, client) => sum + client.events, 0);
  const framesBefore = clients.reduce((sum, client) => sum + client.frames, 0);
  const systemBefore = cpuTimes(edge.pid)?.system ?? 0;
  const meter = CpuMeter.start([
    { name: 'edge', role: 'server', pid: edge.pid, threads: 'one' },
    { name: 'bench (producer + clients)', role: 'client', pid: process.pid, threads: 'one' },
    { name: 'Kafka broker', role: 'broker', pid: brokerPid, threads: 'many' },
  ]);
  const started = performance.now();
  const events = await publishAtRate(send, channels, rate, seconds);
  const expected = events * subscribersPerChannel;
  const deadline = Date.now() + 30_000;
  let received: number;
  let frames: number;
  for (;;) {
    received = clients.reduce((sum, client) => sum + client.events, 0) - eventsBefore;
    frames = clients.reduce((sum, client) => sum + client.frames, 0) - framesBefore;
    if (received >= expected || Date.now() > deadline) break;
    await sleep(20);
  }
  const elapsed = (performance.now() - started) / 1000;
  const cpu = meter.stop();
  const edgeCpu = cpu.processes[0]?.cores ?? Number.NaN;
  const edgeSystemCpu = (cpuTimes(edge.pid)?.system ?? 0) - systemBefore;
  for (const client of sampled) client?.sample(ignoreFrame);
  return {
    scenario,
    events,
    expected,
    received,
    deliveriesPerSecond: received / elapsed,
    framesPerSecond: frames / elapsed,
    edgeCpu,
    edgeSystemCpu: edgeSystemCpu / elapsed,
    deliveriesPerCpuSecond: edgeCpu > 0 ? received / (edgeCpu * elapsed) : Number.NaN,
    clientCpu: cpu.processes[1]?.cores ?? Number.NaN,
    latency: summarizeLatency(recorder.take(), sampled.length),
    cpu,
    verdict: cpuVerdict(cpu),
  };
}

// ---- run ----------------------------------------------------------------------

const results: string[] = [];
try {
  // memory
  await sleep(1000);
  const rssBase = rssBytes(edge.pid) ?? 0;
  const clients = await connectAll(connectionCount);
  await sleep(2000);
  const rssIdle = rssBytes(edge.pid) ?? 0;
  const broadcastChannel = 'bench.broadcast';
  await subscribeAll(clients, () => broadcastChannel);
  await sleep(2000);
  const rssSubscribed = rssBytes(edge.pid) ?? 0;
  const idlePerConnection = (rssIdle - rssBase) / connectionCount;
  const subscribedPerConnection = (rssSubscribed - rssBase) / connectionCount;
  console.log(
    `memory: ${connectionCount} connections, edge RSS ${(rssBase / 2 ** 20).toFixed(1)} → ${(rssIdle / 2 ** 20).toFixed(1)} MiB idle → ${(rssSubscribed / 2 ** 20).toFixed(1)} MiB subscribed`,
  );

  // broadcast, light: latency when nothing queues
  const light = await measureFanout(
    `1 channel × ${connectionCount} subscribers, ${lightRate} events/s`,
    clients,
    [broadcastChannel],
    connectionCount,
    lightRate,
  );
  console.log(`light: ${JSON.stringify(light)}`);

  // broadcast
  const broadcast = await measureFanout(
    `1 channel × ${connectionCount} subscribers, ${broadcastRate} events/s`,
    clients,
    [broadcastChannel],
    connectionCount,
    broadcastRate,
  );
  console.log(`broadcast: ${JSON.stringify(broadcast)}`);

  // 100 channels
  unsubscribeAll(clients, () => broadcastChannel);
  await sleep(1000);
  const channels = Array.from({ length: channelCount }, (_, i) => `bench.ch-${i}`);
  await subscribeAll(clients, (index) => channels[index % channelCount] ?? '');
  const spread = await measureFanout(
    `${channelCount} channels × ${connectionCount / channelCount} subscribers, ${channelsRate} events/s`,
    clients,
    channels,
    connectionCount / channelCount,
    channelsRate,
  );
  console.log(`channels: ${JSON.stringify(spread)}`);
  for (const client of clients) client.close();
  await sleep(1000);

  // resume, hot: the edge follows the channel live, so it holds the missed events
  const resumeChannel = 'bench.resume';
  const follower = new RawWsClient(edge.port, '/v1/ws', 'fanout.json.v1');
  await follower.ready;
  follower.sendText(
    JSON.stringify({ subscribe: { requestId: 1, subscriptions: [{ channel: resumeChannel }] } }),
  );
  await sleep(300);
  await send([resumeChannel]);
  await sleep(300);
  const since = await newestPosition(edge.httpBase, resumeChannel);
  for (let sent = 0; sent < resumeEvents; sent += 2000) {
    await send(Array.from({ length: 2000 }, () => resumeChannel));
  }
  // subscribed + the first event + the missed ones: then the edge holds them all.
  const waitUntil = Date.now() + 30_000;
  while (follower.frames < 2 + resumeEvents && Date.now() < waitUntil) await sleep(20);
  const hotMs = await timeResume(edge.port, since, resumeChannel, resumeEvents);
  follower.close();
  console.log(`resume hot: ${hotMs.toFixed(1)} ms`);

  // resume, cold: a fresh edge process has nothing in memory
  // SIGTERM: a profiled edge writes its profile on a clean exit.
  await edge.kill('SIGTERM');
  edge = await startEdgeProcess({ brokers: kafka.brokers, topic, env: edgeEnv });
  const coldMs = await timeResume(edge.port, since, resumeChannel, resumeEvents);
  const coldAgainMs = await timeResume(edge.port, since, resumeChannel, resumeEvents);
  console.log(
    `resume cold: ${coldMs.toFixed(1)} ms (partition not yet read), then ${coldAgainMs.toFixed(1)} ms`,
  );

  const mib = (bytes: number): string => `${(bytes / 1024).toFixed(2)} KiB`;
  const row = (r: FanoutResult): string =>
    `| ${r.scenario} | ${Math.round(r.deliveriesPerSecond).toLocaleString('en')} | ${Math.round(r.framesPerSecond).toLocaleString('en')} | ${Math.round(r.deliveriesPerCpuSecond).toLocaleString('en')} | ${r.latency.p50Ms.toFixed(1)} / ${r.latency.p99Ms.toFixed(1)} / ${r.latency.p999Ms.toFixed(1)} / ${r.latency.maxMs.toFixed(1)} ms (${r.latency.count.toLocaleString('en')} on ${r.latency.sampledSubscribers}) | ${r.received.toLocaleString('en')} / ${r.expected.toLocaleString('en')} | ${cpuSummary(r.cpu)} | ${r.verdict.words} |`;
  results.push(
    `Machine: ${cpus().length} × ${machineSummary()}, Node ${process.versions.node}; ${connectionCount} connections (${benchSubprotocol}), ${seconds} s per scenario, ${dataBytes}-byte event data. Latency on a sample of the subscribers (events timed on subscribers); CPU as a share of one core per process, of all cores for the machine.`,
    '',
    '| scenario | deliveries/s | frames/s | deliveries per edge CPU-second | latency p50 / p99 / p99.9 / max | received / expected | CPU (edge, bench, broker, machine; load start → end) | the limit |',
    '| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |',
    row(light),
    row(broadcast),
    row(spread),
    '',
    '| memory per connection | edge RSS growth |',
    '| --- | ---: |',
    `| idle WebSocket | ${mib(idlePerConnection)} |`,
    `| with one subscription | ${mib(subscribedPerConnection)} |`,
    '',
    `| resume of ${resumeEvents.toLocaleString('en')} missed events | until the last arrived |`,
    '| --- | ---: |',
    `| hot (in the edge's buffer) | ${hotMs.toFixed(1)} ms |`,
    `| cold (fresh edge process, read from Kafka) | ${coldMs.toFixed(1)} ms |`,
    `| cold, partition already read by the edge | ${coldAgainMs.toFixed(1)} ms |`,
  );
  console.log(`\n${results.join('\n')}`);
} finally {
  await edge.kill('SIGTERM').catch(() => undefined);
  await producer.disconnect();
  await kafka.close();
  await stopOwnKafka();
}
