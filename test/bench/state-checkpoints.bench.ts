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
 * The writer's CPU and resident memory are read from /proc/<pid> (Linux);
 * the load average is printed with the figures, since other work on the
 * machine slows every figure down. Loopback only, bounded by N; stops by
 * itself. Memory per state channel: `npm run bench:state-memory`.
 */
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { encodeEvent, fanout } from '@fanout/shared';
import { startEdgeProcess, stopOwnKafka, testKafka, type EdgeProcess } from '../support/index.js';

const changes = Number(process.env['BENCH_CHANGES'] ?? 1_000_000);
const channel = 'bench.state.counter';

/** CPU seconds (user + system) and resident bytes of a process, from /proc. */
function processFigures(pid: number): { cpuSeconds: number; rssBytes: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = 100; // USER_HZ on Linux
  const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / ticks;
  const rssBytes = Number(fields[21]) * 4096;
  return { cpuSeconds, rssBytes };
}

function load(): string {
  return loadavg()
    .map((value) => value.toFixed(1))
    .join(' ');
}

console.log(`${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), load average ${load()}`);
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
const cpuBefore = processFigures(writer.pid).cpuSeconds;
while ((await metric(writer, 'fanout_edge_state_checkpointer_folds_total')) < changes) {
  await new Promise((resolve) => setTimeout(resolve, 200));
}
const foldSeconds = (performance.now() - writerStart) / 1000;
const { cpuSeconds, rssBytes } = processFigures(writer.pid);
const cpu = cpuSeconds - cpuBefore;
await new Promise((resolve) => setTimeout(resolve, 2500));
const written = await metric(writer, 'fanout_edge_state_checkpoints_written_total');
const bytes = await metric(writer, 'fanout_edge_state_checkpoint_bytes_written_total');
await writer.kill('SIGTERM');
if (written === 0)
  throw new Error(
    'the checkpointer wrote no checkpoint: the figures below would not show checkpoints',
  );
console.log(
  `checkpointer: folded ${changes} changes in ${foldSeconds.toFixed(1)} s (incl. its start), ${((cpu / changes) * 1e6).toFixed(1)} µs CPU per change (${cpu.toFixed(1)} s after ready), ${written} checkpoint records of ${bytes} bytes, RSS ${(rssBytes / 1048576).toFixed(0)} MiB; load average ${load()}`,
);

async function firstSnapshot(env: Readonly<Record<string, string>>, label: string): Promise<void> {
  const edge = await startEdgeProcess({ brokers: kafka.brokers, topic, env, timeoutMs: 120_000 });
  const began = performance.now();
  const response = await fetch(`${edge.httpBase}/v1/state/${channel}?`);
  const body = (await response.json()) as { state?: { n?: number } };
  const ms = performance.now() - began;
  const records = await metric(edge, 'fanout_edge_state_start_records_sum');
  const fromCheckpoint = await metric(edge, 'fanout_edge_state_checkpoints_read_total');
  await edge.kill('SIGTERM');
  if (body.state?.n !== changes - 1)
    throw new Error(`${label}: n=${body.state?.n}, expected ${changes - 1}`);
  console.log(
    `${label}: first snapshot ${ms.toFixed(0)} ms after ready (status ${response.status}, n=${body.state.n}, ${fromCheckpoint > 0 ? 'from a checkpoint' : 'from the log'}, ${records} records folded at start); load average ${load()}`,
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
