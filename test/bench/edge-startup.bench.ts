/**
 * Edge start-up on this machine: from the process's spawn to its ready log
 * line (the client port listening) and to its `/readyz` answering 200, the CPU
 * seconds it spent until then, and the steps its ready line reports
 * (`startupMs`: modules loaded, app building, Kafka layout read, warmed,
 * listening), for each way of running it: the `tsc` output
 * (`services/edge/dist/main.js`) and the bundle
 * (`services/edge/dist/bundle/edge.js`, decision 050), with and without
 * `--enable-source-maps` (the images run with it). The topic has 8 partitions
 * with events in them, so warm-up reads something. Starts alternate between
 * the variants, so a load change on the machine hits them alike.
 *
 *   npm run bench:edge-startup
 *   FANOUT_BENCH_ROUNDS=7 FANOUT_BENCH_VARIANTS=tsc,bundle+maps
 *
 * Loopback only; stops everything it started.
 */
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { encodeEvent, partitionForChannel } from '@fanout/shared';
import { startEdgeProcess, stopOwnKafka, testKafka } from '../support/index.js';
import { repoRoot } from '../support/repo-paths.js';
import { cpuSeconds, machineSummary } from './process-stats.js';

interface Variant {
  readonly name: string;
  readonly script: string;
  readonly nodeArgs: readonly string[];
}

const allVariants: readonly Variant[] = [
  { name: 'tsc', script: 'services/edge/dist/main.js', nodeArgs: [] },
  { name: 'tsc+maps', script: 'services/edge/dist/main.js', nodeArgs: ['--enable-source-maps'] },
  { name: 'bundle', script: 'services/edge/dist/bundle/edge.js', nodeArgs: [] },
  {
    name: 'bundle+maps',
    script: 'services/edge/dist/bundle/edge.js',
    nodeArgs: ['--enable-source-maps'],
  },
];
const wanted = new Set(
  (process.env['FANOUT_BENCH_VARIANTS'] ?? allVariants.map((v) => v.name).join(',')).split(','),
);
const variants = allVariants.filter((v) => wanted.has(v.name));
const rounds = Number(process.env['FANOUT_BENCH_ROUNDS'] ?? 5);
const partitions = 8;
const events = 4000;

for (const variant of variants) {
  if (!existsSync(join(repoRoot, variant.script))) {
    throw new Error(`${variant.script} is missing: run npm run build first`);
  }
}

interface Start {
  readonly listeningMs: number;
  readonly readyMs: number;
  readonly cpuSeconds: number;
  readonly steps: Readonly<Record<string, number>>;
}

const kafka = await testKafka();
const topic = await kafka.createTopic({ name: 'bench-edge-startup', partitions });
const producer = kafka.kafka.producer({ idempotent: true });
await producer.connect();
const messages = Array.from({ length: events }, (_, i) => {
  const channel = `bench.startup.${i % 100}`;
  const value = encodeEvent({
    id: `${channel}-${i}`,
    channel,
    type: 'bench',
    contentType: 'application/json',
    data: Buffer.from(`{"i":${i}}`),
    time: { seconds: Math.floor(Date.now() / 1000), nanos: 0 },
    producer: 'bench',
  });
  return {
    key: channel,
    value: Buffer.from(value.buffer, value.byteOffset, value.byteLength),
    partition: partitionForChannel(channel, partitions),
  };
});
await producer.send({ topic, acks: -1, messages });
await producer.disconnect();

async function readyAfter(metricsBase: string): Promise<void> {
  for (;;) {
    const response = await fetch(`${metricsBase}/readyz`).catch(() => undefined);
    await response?.arrayBuffer();
    if (response?.status === 200) return;
    await sleep(10);
  }
}

async function startOnce(variant: Variant): Promise<Start> {
  const began = performance.now();
  const edge = await startEdgeProcess({
    brokers: kafka.brokers,
    topic,
    script: variant.script,
    nodeArgs: variant.nodeArgs,
    env: { FANOUT_LOG_LEVEL: 'info' },
  });
  const listeningMs = performance.now() - began;
  await readyAfter(edge.metricsBase);
  const readyMs = performance.now() - began;
  const cpu = cpuSeconds(edge.pid) ?? Number.NaN;
  await edge.kill('SIGTERM');
  return { listeningMs, readyMs, cpuSeconds: cpu, steps: edge.startupMs };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? Number.NaN)
    : ((sorted[middle - 1] ?? Number.NaN) + (sorted[middle] ?? Number.NaN)) / 2;
}

const results = new Map<string, Start[]>(variants.map((v) => [v.name, []]));
const loadBefore = loadavg();
// One start of each first, not counted: the file system cache warm for all.
for (const variant of variants) await startOnce(variant);
for (let round = 0; round < rounds; round++) {
  for (const variant of variants) {
    const start = await startOnce(variant);
    results.get(variant.name)?.push(start);
    process.stderr.write(
      `${variant.name}: listening ${start.listeningMs.toFixed(0)} ms, ready ${start.readyMs.toFixed(0)} ms, ${start.cpuSeconds.toFixed(2)} CPU-s, steps ${JSON.stringify(start.steps)}\n`,
    );
  }
}
const loadAfter = loadavg();
await stopOwnKafka();

const stepNames = ['modules', 'building', 'kafka', 'warmed', 'listening'];
const lines = [
  `Edge start-up, median of ${rounds} starts each (${machineSummary()}; load average 1/5/15 ${loadBefore.map((l) => l.toFixed(2)).join(' / ')} before, ${loadAfter.map((l) => l.toFixed(2)).join(' / ')} after); the edge's own steps in ms from its start:`,
  '',
  `| variant | spawn → listening | spawn → ready | CPU-s at ready | ${stepNames.join(' | ')} |`,
  `| --- | ---: | ---: | ---: | ${stepNames.map(() => '---:').join(' | ')} |`,
];
for (const variant of variants) {
  const starts = results.get(variant.name) ?? [];
  const step = (name: string): string =>
    median(starts.map((s) => s.steps[name] ?? Number.NaN)).toFixed(0);
  lines.push(
    `| ${variant.name} | ${median(starts.map((s) => s.listeningMs)).toFixed(0)} ms | ${median(starts.map((s) => s.readyMs)).toFixed(0)} ms | ${median(starts.map((s) => s.cpuSeconds)).toFixed(2)} | ${stepNames.map(step).join(' | ')} |`,
  );
}
process.stdout.write(`${lines.join('\n')}\n`);
