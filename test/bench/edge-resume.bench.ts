/**
 * How long a client that missed 10,000 events waits until it has them all,
 * when the edge does not hold them: on a freshly started edge process (the
 * partition is not read yet; nothing in memory), and on an edge that reads
 * the partition but whose replay buffer no longer covers the position.
 * Each round starts a new edge process; the table gives the median and the
 * spread over the rounds.
 *
 *   npm run bench:edge-resume
 *   FANOUT_BENCH_ROUNDS=7 FANOUT_BENCH_EDGE_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof"
 *
 * Loopback only, bounded; stops everything it started.
 */
import { cpus, loadavg } from 'node:os';
import { encodeEvent, partitionForChannel } from '@fanout/shared';
import type { Producer } from 'kafkajs';
import { startEdgeProcess, stopOwnKafka, testKafka, type EdgeProcess } from '../support/index.js';
import { machineSummary } from './process-stats.js';
import { newestPosition, timeResume } from './resume-timer.js';

const rounds = Number(process.env['FANOUT_BENCH_ROUNDS'] ?? 5);
const missed = 10_000;
const partitions = 8;
const channel = 'bench.resume';
const edgeNodeArgs = (process.env['FANOUT_BENCH_EDGE_NODE_ARGS'] ?? '')
  .split(/\s+/)
  .filter((arg) => arg !== '');
/** A replay buffer smaller than the gap: the second resume is cold too. */
const edgeEnv = { FANOUT_EDGE_REPLAY_BUFFER_EVENTS: '1000' };

const kafka = await testKafka();
const topic = await kafka.createTopic({ name: 'bench-resume', partitions });
const producer: Producer = kafka.kafka.producer({ idempotent: true });
await producer.connect();

function record(sequence: number): { key: string; value: Buffer; partition: number } {
  const now = Date.now();
  const value = encodeEvent({
    id: `r${sequence}`,
    channel,
    type: 'bench',
    contentType: 'application/json',
    data: Buffer.from(`{"n":${sequence},"p":"${'x'.repeat(100)}"}`),
    time: { seconds: Math.floor(now / 1000), nanos: (now % 1000) * 1e6 },
    producer: 'bench',
  });
  return {
    key: channel,
    value: Buffer.from(value.buffer, value.byteOffset, value.byteLength),
    partition: partitionForChannel(channel, partitions),
  };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

let edge: EdgeProcess | undefined;
try {
  await producer.send({ topic, acks: -1, messages: [record(0)] });
  edge = await startEdgeProcess({ brokers: kafka.brokers, topic, env: edgeEnv });
  const since = await newestPosition(edge.httpBase, channel);
  await edge.kill('SIGTERM');
  edge = undefined;
  for (let sent = 1; sent <= missed; sent += 2000) {
    await producer.send({
      topic,
      acks: -1,
      messages: Array.from({ length: 2000 }, (_, i) => record(sent + i)),
    });
  }

  const fresh: number[] = [];
  const reading: number[] = [];
  for (let round = 0; round < rounds; round++) {
    edge = await startEdgeProcess({
      brokers: kafka.brokers,
      topic,
      env: edgeEnv,
      nodeArgs: edgeNodeArgs,
    });
    fresh.push(await timeResume(edge.port, since, channel, missed));
    reading.push(await timeResume(edge.port, since, channel, missed));
    await edge.kill('SIGTERM');
    edge = undefined;
    console.log(
      `round ${round + 1}: fresh edge ${fresh.at(-1)?.toFixed(1)} ms, edge reading the partition ${reading.at(-1)?.toFixed(1)} ms`,
    );
  }
  const row = (what: string, values: readonly number[]): string =>
    `| ${what} | ${median(values).toFixed(0)} ms | ${Math.min(...values).toFixed(0)}–${Math.max(...values).toFixed(0)} ms |`;
  console.log(
    [
      '',
      `Machine: ${cpus().length} × ${machineSummary()}, Node ${process.versions.node}, load ${loadavg()[0]?.toFixed(2) ?? '?'}; ${rounds} rounds, ${missed} missed events.`,
      '',
      `| resume of ${missed.toLocaleString('en')} missed events, not in memory | median | range |`,
      '| --- | ---: | ---: |',
      row('fresh edge process (partition not read yet)', fresh),
      row('edge reading the partition, replay buffer passed', reading),
    ].join('\n'),
  );
} finally {
  await edge?.kill('SIGTERM');
  await producer.disconnect();
  await kafka.close();
  await stopOwnKafka();
}
