/**
 * State checkpoints: a channel with N past changes (default 1,000,000; one
 * put then merges, produced straight to Kafka in batches with the record
 * encoding the ingest writes: key = channel, value = `fanout.v1.Event` with
 * `state`). Measures
 *
 * - the checkpointer: time (and process CPU) of an edge folding all N
 *   changes and writing its checkpoints (every 1000 changes);
 * - a fresh edge's first snapshot: time from its start (ready) to the first
 *   `GET /v1/state/{c}` answer, with checkpoints (read only) and without.
 *
 *   npm run bench:state-checkpoints      (BENCH_CHANGES=N)
 *
 * Loopback only, bounded by N; stops by itself. Memory per state channel is
 * measured by `npm run bench:edge-memory`-style heap deltas in
 * docs/benchmarks.md.
 */
import { encodeEvent, fanout } from '@fanout/shared';
import { startEdgeProcess, stopOwnKafka, testKafka, type EdgeProcess } from '../support/index.js';

const changes = Number(process.env['BENCH_CHANGES'] ?? 1_000_000);
const channel = 'bench.state.counter';

const kafka = await testKafka();
const topic = await kafka.createTopic({ name: 'bench-state', partitions: 1 });
const producer = kafka.kafka.producer({ idempotent: true });
await producer.connect();
const producedAt = performance.now();
const batch = 10_000;
for (let sent = 0; sent < changes; sent += batch) {
  await producer.send({
    topic,
    acks: -1,
    messages: Array.from({ length: Math.min(batch, changes - sent) }, (_, i) => {
      const n = sent + i;
      return {
        key: channel,
        value: Buffer.from(
          encodeEvent({
            channel,
            id: `c${n}`,
            type: 'state',
            contentType: 'application/json',
            data: Buffer.from(JSON.stringify(n === 0 ? { title: 'counter', n } : { n })),
            state:
              n === 0
                ? fanout.v1.StateOperation.STATE_OPERATION_PUT
                : fanout.v1.StateOperation.STATE_OPERATION_MERGE,
          }),
        ),
      };
    }),
  });
}
await producer.disconnect();
console.log(
  `produced ${changes} changes in ${((performance.now() - producedAt) / 1000).toFixed(1)} s`,
);

async function metric(edge: EdgeProcess, name: string): Promise<number> {
  const text = await (await fetch(`${edge.metricsBase}/metrics`)).text();
  const line = text
    .split('\n')
    .find((entry) => entry.startsWith(`${name} `) || entry.startsWith(`${name}{`));
  return Number(line?.split(' ').at(-1) ?? 0);
}

const checkpointEnv = {
  FANOUT_EDGE_STATE_CHECKPOINTS_ENABLED: 'true',
  FANOUT_EDGE_STATE_CHECKPOINTS_EVERY_CHANGES: '1000',
  FANOUT_EDGE_STATE_CHECKPOINTS_EVERY_SECONDS: '1',
};

// The checkpointer folds the whole partition.
const writerStart = performance.now();
const writer = await startEdgeProcess({
  brokers: kafka.brokers,
  topic,
  env: checkpointEnv,
});
const cpuBefore = await metric(writer, 'process_cpu_seconds_total');
while ((await metric(writer, 'fanout_edge_state_checkpointer_folds_total')) < changes) {
  await new Promise((resolve) => setTimeout(resolve, 200));
}
const foldSeconds = (performance.now() - writerStart) / 1000;
const cpu = (await metric(writer, 'process_cpu_seconds_total')) - cpuBefore;
await new Promise((resolve) => setTimeout(resolve, 2500));
const written = await metric(writer, 'fanout_edge_state_checkpoints_written_total');
const rss = await metric(writer, 'process_resident_memory_bytes');
await writer.kill('SIGTERM');
console.log(
  `checkpointer: folded ${changes} changes in ${foldSeconds.toFixed(1)} s (incl. start), ${((cpu / changes) * 1e6).toFixed(1)} µs CPU per change, ${written} checkpoint records, RSS ${(rss / 1048576).toFixed(0)} MiB`,
);

async function firstSnapshot(env: Readonly<Record<string, string>>, label: string): Promise<void> {
  const edge = await startEdgeProcess({ brokers: kafka.brokers, topic, env, timeoutMs: 120_000 });
  const began = performance.now();
  const response = await fetch(`${edge.httpBase}/v1/state/${channel}?`);
  const body = (await response.json()) as { state?: { n?: number } };
  const ms = performance.now() - began;
  const records = await metric(edge, 'fanout_edge_state_start_records_sum');
  await edge.kill('SIGTERM');
  console.log(
    `${label}: first snapshot ${ms.toFixed(0)} ms after ready (status ${response.status}, n=${body.state?.n ?? '?'}, ${records} records folded at start)`,
  );
}

await firstSnapshot(
  {
    ...checkpointEnv,
    FANOUT_EDGE_STATE_CHECKPOINTS_WRITE: 'false',
    FANOUT_EDGE_KAFKA_WAIT_MS: '120000',
  },
  'fresh edge with checkpoints',
);
await firstSnapshot({ FANOUT_EDGE_KAFKA_WAIT_MS: '120000' }, 'fresh edge without checkpoints');
await kafka.close();
await stopOwnKafka();
