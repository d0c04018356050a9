/**
 * The Kafka producer of ingest alone: kafkajs, `@platformatic/kafka`'s
 * producer and ingest's own produce pipeline (record-producer.ts: the
 * platformatic client's connections, our record batches), all idempotent
 * with acks=all, writing the same records in the same
 * batches to a fresh topic on the local broker, one produce request at a
 * time (what an idempotent producer allows). No gRPC, no validation: only
 * what it costs to turn events into produce requests and get them
 * acknowledged.
 *
 * Records are what ingest writes: a `fanout.v1.Event` envelope with 256
 * bytes of data, the channel as key (64 channels), the partition computed
 * from it, the `fanout-producer` and `traceparent` headers. Each client
 * runs FANOUT_BENCH_SECONDS (10) per batch size in FANOUT_BENCH_BATCHES
 * (250,1000), after a warm-up of FANOUT_BENCH_WARMUP_SECONDS (2), and the
 * set is repeated FANOUT_BENCH_ROUNDS times (2), alternating;
 * FANOUT_BENCH_CLIENTS (kafkajs,platformatic,pipeline) picks the clients. Reports
 * events/s, CPU of this process and of the broker, and CPU time per event.
 *
 *   npx tsc -b && node test/dist/bench/ingest-producers.bench.js
 *
 * Bounded in time; stops the broker it started.
 */
import { randomBytes } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Producer, ProduceAcks } from '@platformatic/kafka';
import { connect as tcpConnect } from 'node:net';
import { connectRecordProducer, encodeRecordHeaders } from '@fanout/ingest';
import { encodeEvent, loadConfig, partitionForChannel } from '@fanout/shared';
import kafkajs from 'kafkajs';
import {
  LocalKafkaEnvironment,
  startKafkaEnvironment,
  type KafkaEnvironment,
} from '../support/index.js';
import { cpuSeconds, machineSummary } from './process-stats.js';

const measureSeconds = Number(process.env['FANOUT_BENCH_SECONDS'] ?? 10);
const warmupSeconds = Number(process.env['FANOUT_BENCH_WARMUP_SECONDS'] ?? 2);
const rounds = Number(process.env['FANOUT_BENCH_ROUNDS'] ?? 2);
const batchSizes = (process.env['FANOUT_BENCH_BATCHES'] ?? '250,1000')
  .split(',')
  .map((value) => Number(value.trim()))
  .filter((value) => value > 0);
const clientNames = (process.env['FANOUT_BENCH_CLIENTS'] ?? 'kafkajs,platformatic,pipeline')
  .split(',')
  .map((value) => value.trim());
const partitions = 12;
const channelCount = 64;
const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

// ---- the records ---------------------------------------------------------------

interface BenchRecord {
  readonly channel: string;
  readonly key: Buffer;
  readonly partition: number;
  readonly value: Buffer;
}

const data = randomBytes(256);
const channels = Array.from({ length: channelCount }, (_, i) => `bench.channel-${i}`);
/** Envelopes are encoded once: both clients get the very same bytes. */
const pool: BenchRecord[] = Array.from({ length: 4096 }, (_, n) => {
  const channel = channels[n % channelCount] ?? 'bench';
  const now = Date.now();
  const value = encodeEvent({
    id: randomBytes(16).toString('hex'),
    channel,
    type: '',
    data,
    contentType: 'application/octet-stream',
    time: { seconds: Math.floor(now / 1000), nanos: (now % 1000) * 1_000_000 },
    headers: {},
    trace: { traceparent, tracestate: '' },
    producer: 'anonymous',
  });
  return {
    channel,
    key: Buffer.from(channel),
    partition: partitionForChannel(channel, partitions),
    value: Buffer.from(value.buffer, value.byteOffset, value.byteLength),
  };
});
let cursor = 0;
function nextBatch(size: number): BenchRecord[] {
  const batch: BenchRecord[] = [];
  for (let i = 0; i < size; i++) {
    const record = pool[cursor % pool.length];
    if (record !== undefined) batch.push(record);
    cursor++;
  }
  return batch;
}

// ---- the clients ---------------------------------------------------------------

interface Client {
  readonly name: string;
  /** Writes the batch, resolves with the base offset of each partition. */
  send(batch: readonly BenchRecord[]): Promise<Map<number, number>>;
  close(): Promise<void>;
}

async function kafkajsClient(brokers: readonly string[], topic: string): Promise<Client> {
  const kafka = new kafkajs.Kafka({
    clientId: 'fanout-bench',
    brokers: [...brokers],
    logLevel: kafkajs.logLevel.NOTHING,
    // Nagle's algorithm off, as in the other clients: a small produce request
    // should not wait for the broker's delayed ACK.
    socketFactory: ({ host, port, onConnect }) => {
      const socket = tcpConnect({ host, port }, onConnect);
      socket.setNoDelay(true);
      socket.setKeepAlive(true, 60_000);
      return socket;
    },
  });
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 1000 },
  });
  await producer.connect();
  return {
    name: 'kafkajs 2.2.4',
    async send(batch) {
      const now = String(Date.now());
      const metadata = await producer.send({
        topic,
        acks: -1,
        timeout: 10_000,
        compression: kafkajs.CompressionTypes.None,
        messages: batch.map((record) => ({
          key: record.channel,
          value: record.value,
          partition: record.partition,
          timestamp: now,
          headers: { 'fanout-producer': 'anonymous', traceparent },
        })),
      });
      return new Map(metadata.map((entry) => [entry.partition, Number(entry.baseOffset)]));
    },
    async close() {
      await producer.disconnect();
    },
  };
}

async function platformaticClient(brokers: readonly string[], topic: string): Promise<Client> {
  const producer = new Producer({
    clientId: 'fanout-bench',
    bootstrapBrokers: [...brokers],
    idempotent: true,
    acks: ProduceAcks.ALL,
    retries: 2,
    retryDelay: 100,
    compression: 'none',
    autocreateTopics: false,
    timeout: 10_000,
  });
  await producer.initIdempotentProducer({});
  await producer.metadata({ topics: [topic] });
  const producerHeaderName = Buffer.from('fanout-producer');
  const producerHeader = Buffer.from('anonymous');
  const traceHeaderName = Buffer.from('traceparent');
  const traceHeader = Buffer.from(traceparent);
  return {
    name: '@platformatic/kafka 1.35.0',
    async send(batch) {
      const timestamp = BigInt(Date.now());
      const result = await producer.send({
        messages: batch.map((record) => ({
          topic,
          key: record.key,
          value: record.value,
          partition: record.partition,
          timestamp,
          headers: new Map([
            [producerHeaderName, producerHeader],
            [traceHeaderName, traceHeader],
          ]),
        })),
      });
      return new Map(
        (result.offsets ?? []).map((entry) => [entry.partition, Number(entry.offset)]),
      );
    },
    async close() {
      await producer.close();
    },
  };
}

async function pipelineClient(brokers: readonly string[], topic: string): Promise<Client> {
  const config = loadConfig({ env: { FANOUT_KAFKA_BROKERS: brokers.join(',') } });
  const producer = await connectRecordProducer({
    kafka: config.kafka,
    topic,
    clientId: 'bench',
    ackTimeoutMs: 10_000,
  });
  const headers = encodeRecordHeaders([
    ['fanout-producer', 'anonymous'],
    ['traceparent', traceparent],
  ]);
  return {
    name: 'fanout produce pipeline',
    async send(batch) {
      const timestamp = Date.now();
      const outcomes = await producer.send(
        batch.map((record) => ({
          key: record.key,
          value: record.value,
          partition: record.partition,
          timestamp,
          headers,
        })),
      );
      const offsets = new Map<number, number>();
      for (const [partition, outcome] of outcomes) {
        if (typeof outcome !== 'number') throw outcome;
        offsets.set(partition, outcome);
      }
      return offsets;
    },
    close: () => producer.close(),
  };
}

// ---- the measurement -------------------------------------------------------------

interface Result {
  readonly client: string;
  readonly round: number;
  readonly batch: number;
  readonly eventsPerSecond: number;
  readonly requestMs: number;
  readonly clientCpu: number;
  readonly brokerCpu: number | undefined;
  readonly cpuMicrosPerEvent: number;
}

async function measure(
  client: Client,
  batchSize: number,
  round: number,
  brokerPid: number | undefined,
): Promise<Result> {
  const until = (deadline: number) => async () => {
    let events = 0;
    let requests = 0;
    while (performance.now() < deadline) {
      const batch = nextBatch(batchSize);
      const offsets = await client.send(batch);
      for (const record of batch) {
        if (!offsets.has(record.partition)) throw new Error(`${client.name}: no base offset`);
      }
      events += batch.length;
      requests++;
    }
    return { events, requests };
  };
  await until(performance.now() + warmupSeconds * 1000)();
  const cpuBefore = process.cpuUsage();
  const brokerBefore = cpuSeconds(brokerPid);
  const began = performance.now();
  const { events, requests } = await until(began + measureSeconds * 1000)();
  const elapsed = (performance.now() - began) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const brokerAfter = cpuSeconds(brokerPid);
  const cpuSecondsUsed = (cpu.user + cpu.system) / 1e6;
  return {
    client: client.name,
    round,
    batch: batchSize,
    eventsPerSecond: Math.round(events / elapsed),
    requestMs: Math.round(((elapsed * 1000) / requests) * 100) / 100,
    clientCpu: Math.round((cpuSecondsUsed / elapsed) * 100) / 100,
    brokerCpu:
      brokerBefore === undefined || brokerAfter === undefined
        ? undefined
        : Math.round(((brokerAfter - brokerBefore) / elapsed) * 100) / 100,
    cpuMicrosPerEvent: Math.round((cpuSecondsUsed / events) * 1e7) / 10,
  };
}

const environment: KafkaEnvironment = await startKafkaEnvironment('local');
const brokerPid = environment instanceof LocalKafkaEnvironment ? environment.pid : undefined;
const results: Result[] = [];
try {
  const admin = new kafkajs.Kafka({
    brokers: [...environment.brokers],
    logLevel: kafkajs.logLevel.NOTHING,
  }).admin();
  await admin.connect();
  const topic = `bench-producers-${randomBytes(4).toString('hex')}`;
  await admin.createTopics({
    topics: [{ topic, numPartitions: partitions }],
    waitForLeaders: true,
  });
  await admin.disconnect();
  const makers = [
    ['kafkajs', kafkajsClient],
    ['platformatic', platformaticClient],
    ['pipeline', pipelineClient],
  ]
    .filter(([name]) => clientNames.includes(name as string))
    .map(([, make]) => make as typeof kafkajsClient);
  for (let round = 1; round <= rounds; round++) {
    for (const make of makers) {
      const client = await make(environment.brokers, topic);
      try {
        for (const batchSize of batchSizes) {
          const result = await measure(client, batchSize, round, brokerPid);
          results.push(result);
          console.error(JSON.stringify(result));
        }
      } finally {
        await client.close();
      }
    }
  }
} finally {
  await environment.stop();
}

console.log(
  JSON.stringify(
    {
      machine: {
        cpus: cpus().length,
        cpuModel: machineSummary(),
        node: process.version,
        loadAverage: loadavg().map((value) => Math.round(value * 100) / 100),
      },
      settings: { measureSeconds, warmupSeconds, partitions, channels: channelCount },
      results,
    },
    null,
    2,
  ),
);
console.log('');
console.log(
  '| client | events per request | events/s | request ms | CPU client | CPU broker | client CPU µs per event |',
);
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const result of results) {
  console.log(
    `| ${result.client} (round ${result.round}) | ${result.batch} | ${result.eventsPerSecond.toLocaleString('en-US')} | ${result.requestMs} | ${Math.round(result.clientCpu * 100)} % | ${result.brokerCpu === undefined ? 'n/a' : `${Math.round(result.brokerCpu * 100)} %`} | ${result.cpuMicrosPerEvent} |`,
  );
}
