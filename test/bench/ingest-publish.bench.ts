/**
 * How many events per second one ingest process takes into Kafka, and how
 * long a producer waits for the acknowledgement. The service runs as its
 * own process (`services/ingest/dist/main.js`, configured by environment
 * variables like in production) against a local single-broker Kafka; this
 * process is the producer, on loopback. Three workloads, each after a
 * warm-up and for a fixed time:
 *
 *   unary   Publish with 1 event, FANOUT_BENCH_UNARY_CONCURRENCY calls in flight (64)
 *   batch   Publish with 100 events, FANOUT_BENCH_BATCH_CONCURRENCY calls in flight (8)
 *   stream  PublishStream with the window full: FANOUT_BENCH_STREAM_WINDOW events
 *           unacknowledged at all times (ingest.streamWindow, 2000)
 *
 * Events have 256 bytes of data, spread over 64 channels; every
 * acknowledgement is Kafka's (acks=all, idempotent producer). Reports
 * events/s, the acknowledgement latency (per call; per event for the
 * stream) and the CPU the ingest, the broker and this producer used.
 *
 * FANOUT_BENCH_REPEAT runs each workload that many times (default 3) and
 * reports the run with the median events/s beside all of them: on a shared
 * 2-core machine single runs of the same build differ by 10 % and more.
 *
 *   npm run bench:ingest
 *   FANOUT_BENCH_SECONDS=10 FANOUT_BENCH_WARMUP_SECONDS=3 FANOUT_BENCH_SCENARIOS=batch,stream
 *
 * Other FANOUT_* variables (FANOUT_KAFKA_COMPRESSION, FANOUT_INGEST_KAFKA_BATCH_MAX_EVENTS,
 * ...) reach the ingest process unchanged, to try settings;
 * FANOUT_BENCH_INGEST_NODE_ARGS adds node options to it (`--cpu-prof`). The broker is the
 * local one (FANOUT_TEST_KAFKA=container uses a container). Bounded in time;
 * stops everything it started.
 */
import { randomBytes } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { createHistogram, performance, type RecordableHistogram } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { fanout } from '@fanout/shared';
import {
  chooseKafkaEnvironmentKind,
  LocalKafkaEnvironment,
  startIngestProcess,
  startKafkaEnvironment,
  type IngestProcess,
  type KafkaEnvironment,
} from '../support/index.js';
import { loadClient, RequestCache, type LoadClient } from './ingest-load-client.js';
import { cpuSeconds } from './process-stats.js';

const measureSeconds = Number(process.env['FANOUT_BENCH_SECONDS'] ?? 10);
const warmupSeconds = Number(process.env['FANOUT_BENCH_WARMUP_SECONDS'] ?? 3);
const scenarioNames = (process.env['FANOUT_BENCH_SCENARIOS'] ?? 'unary,batch,stream')
  .split(',')
  .map((name) => name.trim())
  .filter((name) => name !== '');
const repeat = Number(process.env['FANOUT_BENCH_REPEAT'] ?? 3);
if (!Number.isInteger(repeat) || repeat < 1)
  throw new Error('FANOUT_BENCH_REPEAT must be 1 or more');
const unaryConcurrency = Number(process.env['FANOUT_BENCH_UNARY_CONCURRENCY'] ?? 64);
const batchConcurrency = Number(process.env['FANOUT_BENCH_BATCH_CONCURRENCY'] ?? 8);
const streamWindow = Number(
  process.env['FANOUT_BENCH_STREAM_WINDOW'] ?? process.env['FANOUT_INGEST_STREAM_WINDOW'] ?? 2000,
);
/** Extra node options of the ingest process, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`. */
const ingestNodeArgs = (process.env['FANOUT_BENCH_INGEST_NODE_ARGS'] ?? '')
  .split(/\s+/)
  .filter((arg) => arg !== '');
const eventBytes = 256;
const batchSize = 100;
const channelCount = 64;
/** Longest wait for in-flight calls after a run; then the run is abandoned. */
const drainTimeoutMs = 15_000;

const data = randomBytes(eventBytes);
const channels = Array.from({ length: channelCount }, (_, i) => `bench.channel-${i}`);
const eventAt = (n: number): fanout.v1.PublishEvent.$Properties => ({
  channel: channels[n % channelCount] ?? 'bench',
  data,
  contentType: 'application/octet-stream',
});
/** Events repeat every `channelCount`: their requests are encoded once. */
const requests = new RequestCache(eventAt, channelCount);

interface IngestCounters {
  /** Sum and count of the produce-request batch size histogram. */
  readonly batchSum: number;
  readonly batchCount: number;
  /** Sum and count of the accept-to-Kafka-acknowledgement histogram (seconds). */
  readonly ackSum: number;
  readonly ackCount: number;
}

async function ingestCounters(metricsUrl: string): Promise<IngestCounters> {
  const text = await (await fetch(metricsUrl)).text();
  const value = (name: string) =>
    Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  return {
    batchSum: value('fanout_ingest_kafka_batch_events_sum'),
    batchCount: value('fanout_ingest_kafka_batch_events_count'),
    ackSum: value('fanout_ingest_kafka_ack_seconds_sum'),
    ackCount: value('fanout_ingest_kafka_ack_seconds_count'),
  };
}

// ---- load ----------------------------------------------------------------------

interface Load {
  /** Events acknowledged while `measuring` was set. */
  acked: number;
  errors: number;
  measuring: boolean;
  stopped: boolean;
  readonly latency: RecordableHistogram;
}

function newLoad(): Load {
  return { acked: 0, errors: 0, measuring: false, stopped: false, latency: createHistogram() };
}

function recordAck(load: Load, startedAt: number, events: number): void {
  if (!load.measuring) return;
  load.acked += events;
  load.latency.record(Math.max(1, Math.round((performance.now() - startedAt) * 1000)));
}

/** `concurrency` loops, each publishing `size` events and waiting for the answer. */
function unaryLoad(client: LoadClient, load: Load, size: number, concurrency: number) {
  let n = 0;
  const loop = async (): Promise<void> => {
    while (!load.stopped) {
      const request = requests.publishRequest(n, size);
      n += size;
      const startedAt = performance.now();
      try {
        await client.publish(request, size, 30_000);
        recordAck(load, startedAt, size);
      } catch (error) {
        load.errors++;
        if (load.errors === 1) console.error(`publish failed: ${String(error)}`);
        await sleep(10);
      }
    }
  };
  return Promise.all(Array.from({ length: concurrency }, loop)).then(() => undefined);
}

/** One PublishStream with `window` events unacknowledged at all times. */
function streamLoad(client: LoadClient, load: Load, window: number): Promise<void> {
  const stream = client.publishStream();
  const sentAt = new Map<number, number>();
  let sequence = 0;
  let writable = true;
  const fill = () => {
    while (!load.stopped && writable && sentAt.size < window) {
      sequence++;
      sentAt.set(sequence, performance.now());
      writable = stream.write(requests.streamRequest(sequence, sequence));
    }
  };
  stream.on('drain', () => {
    writable = true;
    fill();
  });
  return new Promise<void>((resolve, reject) => {
    stream.on('data', (ack: fanout.v1.PublishStreamResponse) => {
      const startedAt = sentAt.get(ack.sequence);
      sentAt.delete(ack.sequence);
      if (ack.error) {
        load.errors++;
        if (load.errors === 1) console.error(`stream event failed: ${ack.error.message}`);
      } else if (startedAt !== undefined) {
        recordAck(load, startedAt, 1);
      }
      if (load.stopped && sentAt.size === 0) stream.end();
      else fill();
    });
    stream.on('end', resolve);
    stream.on('error', reject);
    fill();
    const stopWhenAsked = setInterval(() => {
      if (load.stopped && sentAt.size === 0) {
        clearInterval(stopWhenAsked);
        stream.end();
      }
    }, 50);
    stream.on('close', () => {
      clearInterval(stopWhenAsked);
    });
  });
}

interface Result {
  readonly scenario: string;
  readonly eventsPerSecond: number;
  /** events/s of every run of the scenario, in run order (on the median run only). */
  readonly runs?: readonly number[];
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
  readonly meanKafkaBatch: number;
  /** Mean time from the ingest accepting an event to Kafka acknowledging it. */
  readonly meanKafkaAckMs: number;
  readonly ingestCpu: number | undefined;
  readonly brokerCpu: number | undefined;
  readonly producerCpu: number;
}

async function run(
  scenario: string,
  ingest: IngestProcess,
  brokerPid: number | undefined,
  client: LoadClient,
): Promise<Result> {
  const load = newLoad();
  const running =
    scenario === 'unary'
      ? unaryLoad(client, load, 1, unaryConcurrency)
      : scenario === 'batch'
        ? unaryLoad(client, load, batchSize, batchConcurrency)
        : streamLoad(client, load, streamWindow);
  await sleep(warmupSeconds * 1000);

  const countersBefore = await ingestCounters(`${ingest.metricsBase}/metrics`);
  const ingestCpuBefore = cpuSeconds(ingest.pid);
  const brokerCpuBefore = cpuSeconds(brokerPid);
  const producerCpuBefore = process.cpuUsage();
  const began = performance.now();
  load.measuring = true;
  await sleep(measureSeconds * 1000);
  load.measuring = false;
  const elapsed = (performance.now() - began) / 1000;
  const producerCpu = process.cpuUsage(producerCpuBefore);
  const ingestCpuAfter = cpuSeconds(ingest.pid);
  const brokerCpuAfter = cpuSeconds(brokerPid);
  const countersAfter = await ingestCounters(`${ingest.metricsBase}/metrics`);

  load.stopped = true;
  await Promise.race([
    running,
    sleep(drainTimeoutMs).then(() => {
      throw new Error(`${scenario}: calls still in flight ${drainTimeoutMs} ms after the run`);
    }),
  ]);
  const share = (before: number | undefined, after: number | undefined) =>
    before === undefined || after === undefined ? undefined : (after - before) / elapsed;
  return {
    scenario,
    eventsPerSecond: Math.round(load.acked / elapsed),
    p50Ms: load.latency.percentile(50) / 1000,
    p99Ms: load.latency.percentile(99) / 1000,
    errors: load.errors,
    meanKafkaBatch:
      (countersAfter.batchSum - countersBefore.batchSum) /
      (countersAfter.batchCount - countersBefore.batchCount),
    meanKafkaAckMs:
      ((countersAfter.ackSum - countersBefore.ackSum) /
        (countersAfter.ackCount - countersBefore.ackCount)) *
      1000,
    ingestCpu: share(ingestCpuBefore, ingestCpuAfter),
    brokerCpu: share(brokerCpuBefore, brokerCpuAfter),
    producerCpu: (producerCpu.user + producerCpu.system) / 1e6 / elapsed,
  };
}

// ---- main ------------------------------------------------------------------------

const labels: Record<string, string> = {
  unary: 'Publish, 1 event',
  batch: `Publish, ${batchSize} events`,
  stream: 'PublishStream, window full',
};
for (const name of scenarioNames) {
  if (labels[name] === undefined)
    throw new Error(`unknown scenario "${name}" (unary, batch, stream)`);
}

const kind = process.env['FANOUT_TEST_KAFKA'] ? await chooseKafkaEnvironmentKind() : 'local';
const kafka: KafkaEnvironment = await startKafkaEnvironment(kind);
const brokerPid = kafka instanceof LocalKafkaEnvironment ? kafka.pid : undefined;
let ingest: IngestProcess | undefined;
let client: LoadClient | undefined;
const results: Result[] = [];
try {
  ingest = await startIngestProcess({
    brokers: kafka.brokers,
    topic: `bench-ingest-${randomBytes(4).toString('hex')}`,
    // Every FANOUT_* setting of this process reaches the ingest (see the top).
    env: process.env,
    nodeArgs: ingestNodeArgs,
  });
  client = loadClient(ingest.grpcAddress);
  for (const scenario of scenarioNames) {
    const runs: Result[] = [];
    for (let i = 0; i < repeat; i++) {
      runs.push(await run(scenario, ingest, brokerPid, client));
      console.error(`${scenario} run ${i + 1}/${repeat}: ${JSON.stringify(runs[runs.length - 1])}`);
    }
    const median = [...runs].sort((a, b) => a.eventsPerSecond - b.eventsPerSecond)[
      Math.floor((runs.length - 1) / 2)
    ];
    if (median !== undefined) {
      results.push({ ...median, runs: runs.map((result) => result.eventsPerSecond) });
    }
  }
} finally {
  client?.close();
  await ingest?.stop();
  await kafka.stop();
}

const percent = (share: number | undefined) =>
  share === undefined ? 'n/a' : `${Math.round(share * 100)} %`;
console.log(
  JSON.stringify(
    {
      machine: {
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model ?? '',
        node: process.version,
        loadAverage: loadavg().map((value) => Math.round(value * 100) / 100),
      },
      settings: {
        measureSeconds,
        warmupSeconds,
        repeat,
        eventBytes,
        batchSize,
        unaryConcurrency,
        batchConcurrency,
        streamWindow,
        channels: channelCount,
        kafka: kind,
      },
      results,
    },
    null,
    2,
  ),
);
console.log('');
console.log(
  `| workload | events/s (median of ${repeat}) | all runs | ack p50 | ack p99 | events per Kafka request | CPU ingest | CPU broker | CPU producer |`,
);
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
const number = (value: number) => value.toLocaleString('en-US');
for (const result of results) {
  console.log(
    `| ${labels[result.scenario] ?? result.scenario} | ${number(result.eventsPerSecond)} | ${(result.runs ?? []).map(number).join(' / ')} | ${result.p50Ms.toFixed(1)} ms | ${result.p99Ms.toFixed(1)} ms | ${Math.round(result.meanKafkaBatch)} | ${percent(result.ingestCpu)} | ${percent(result.brokerCpu)} | ${percent(result.producerCpu)} |`,
  );
}
