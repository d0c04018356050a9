/**
 * Kafka for one test file: the broker the test runner started for the whole
 * run (`FANOUT_TEST_KAFKA_BROKERS`), or, when a file runs on its own, one
 * started for this process and stopped when it exits. Every test gets its
 * own topics, with unique names.
 */
import { randomBytes } from 'node:crypto';
import kafkajs, { type Admin, type Kafka } from 'kafkajs';
import type { KafkaEnvironment } from './kafka-environment.js';
import { startKafkaEnvironment } from './start-kafka-environment.js';

export interface CreateTopicOptions {
  /** Readable part of the name: `t-<random>-<name>` (default `topic`). */
  readonly name?: string;
  readonly partitions?: number;
  /** Topic configuration, e.g. `{ 'retention.ms': '60000' }`. */
  readonly config?: Readonly<Record<string, string>>;
}

export interface TestKafka {
  readonly brokers: string[];
  /** A kafkajs client for the broker, with logging off. */
  readonly kafka: Kafka;
  /** A connected admin client. */
  readonly admin: Admin;
  /** Creates a topic with a unique name and waits for its partition leaders. */
  createTopic(options?: CreateTopicOptions): Promise<string>;
  deleteTopic(topic: string): Promise<void>;
  /** Deletes the topics this helper created and disconnects the admin client. */
  close(): Promise<void>;
}

let ownEnvironment: Promise<KafkaEnvironment> | undefined;

function brokersFromRunner(): string[] | undefined {
  const list = (process.env['FANOUT_TEST_KAFKA_BROKERS'] ?? '')
    .split(',')
    .map((broker) => broker.trim())
    .filter((broker) => broker !== '');
  return list.length > 0 ? list : undefined;
}

async function brokers(): Promise<string[]> {
  const fromRunner = brokersFromRunner();
  if (fromRunner !== undefined) return fromRunner;
  ownEnvironment ??= startKafkaEnvironment().then((environment) => {
    // The broker does not keep this process alive; when the event loop runs
    // dry, stop it cleanly. If the process dies instead, the broker notices.
    process.once('beforeExit', () => void environment.stop());
    return environment;
  });
  return (await ownEnvironment).brokers;
}

/** Stops the broker this process started for itself, if any. Optional: it also stops at exit. */
export async function stopOwnKafka(): Promise<void> {
  if (ownEnvironment === undefined) return;
  const environment = await ownEnvironment;
  ownEnvironment = undefined;
  await environment.stop();
}

/** `t-<8 hex>-<name>`, with characters Kafka does not allow in topic names replaced. */
export function uniqueName(name = 'topic'): string {
  return `t-${randomBytes(4).toString('hex')}-${name.replace(/[^a-zA-Z0-9._-]/g, '-')}`.slice(
    0,
    249,
  );
}

export interface TopicRecord {
  readonly partition: number;
  readonly offset: number;
  readonly key: string;
  readonly value: Buffer;
  readonly headers: Readonly<Record<string, string>>;
  /** The record's timestamp, epoch ms (the broker's append time on a LogAppendTime topic). */
  readonly timestamp: number;
}

/**
 * Every record of a topic, up to the high watermarks at the time of the call,
 * sorted by partition and offset; read with a consumer group of its own that
 * never commits.
 */
export async function readTopic(
  kafka: Kafka,
  topic: string,
  timeoutMs = 30_000,
): Promise<TopicRecord[]> {
  const admin = kafka.admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets(topic).finally(() => admin.disconnect());
  const remaining = new Map(
    offsets
      .map((o) => [o.partition, Number(o.high), Number(o.low)] as const)
      .filter(([, high, low]) => high > low)
      .map(([partition, high]) => [partition, high] as const),
  );
  const records: TopicRecord[] = [];
  if (remaining.size === 0) return records;
  const consumer = kafka.consumer({ groupId: uniqueName('reader') });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`readTopic ${topic}: timed out with ${records.length} records`));
      }, timeoutMs);
      consumer
        .run({
          autoCommit: false,
          eachMessage: ({ partition, message }) => {
            const offset = Number(message.offset);
            const high = remaining.get(partition);
            if (high !== undefined && offset < high) {
              const headers: Record<string, string> = {};
              for (const [name, value] of Object.entries(message.headers ?? {})) {
                if (value !== undefined) headers[name] = value.toString();
              }
              records.push({
                partition,
                offset,
                key: message.key?.toString() ?? '',
                value: message.value ?? Buffer.alloc(0),
                headers,
                timestamp: Number(message.timestamp),
              });
              if (offset >= high - 1) remaining.delete(partition);
            }
            if (remaining.size === 0) {
              clearTimeout(timer);
              resolve();
            }
            return Promise.resolve();
          },
        })
        .catch((error: unknown) => {
          clearTimeout(timer);
          reject(error instanceof Error ? error : new Error(String(error)));
        });
    });
  } finally {
    await consumer.disconnect();
  }
  return records.sort((a, b) => a.partition - b.partition || a.offset - b.offset);
}

export async function testKafka(): Promise<TestKafka> {
  const list = await brokers();
  const kafka = new kafkajs.Kafka({
    clientId: 'fanout-test',
    brokers: list,
    logLevel: kafkajs.logLevel.NOTHING,
  });
  const admin = kafka.admin();
  await admin.connect();
  const created = new Set<string>();
  return {
    brokers: list,
    kafka,
    admin,
    async createTopic(options = {}) {
      const topic = uniqueName(options.name);
      await admin.createTopics({
        topics: [
          {
            topic,
            numPartitions: options.partitions ?? 1,
            replicationFactor: 1,
            configEntries: Object.entries(options.config ?? {}).map(([name, value]) => ({
              name,
              value,
            })),
          },
        ],
        waitForLeaders: true,
      });
      created.add(topic);
      return topic;
    },
    async deleteTopic(topic) {
      await admin.deleteTopics({ topics: [topic] });
      created.delete(topic);
    },
    async close() {
      if (created.size > 0) {
        await admin.deleteTopics({ topics: [...created] }).catch(() => {});
        created.clear();
      }
      await admin.disconnect();
    },
  };
}
