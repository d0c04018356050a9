/**
 * Kafka for one test file: the broker the test runner started for the whole
 * run (`FANOUT_TEST_KAFKA_BROKERS`), or — when a file is run on its own — one
 * started for this process and stopped when it exits. Every test gets its own
 * topics with unique names.
 */
import { randomBytes } from 'node:crypto';
import kafkajs from 'kafkajs';
import { startKafkaEnvironment, type KafkaEnvironment } from './kafka-environment.js';

const { Kafka, logLevel } = kafkajs;
type Kafka = InstanceType<typeof Kafka>;
type Admin = ReturnType<Kafka['admin']>;

export interface TopicRecord {
  readonly partition: number;
  readonly offset: number;
  readonly key: string;
  readonly value: Buffer;
  readonly headers: Readonly<Record<string, string>>;
}

/**
 * Every record of a topic, up to the high watermarks at the time of the call,
 * read with a consumer group of its own that never commits.
 */
export async function readTopic(kafka: Kafka, topic: string, timeoutMs = 30_000): Promise<TopicRecord[]> {
  const admin = kafka.admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const remaining = new Map(
    offsets
      .map((o) => [o.partition, Number(o.high)] as const)
      .filter(([, high]) => high > 0),
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
              });
              if (offset === high - 1) remaining.delete(partition);
            }
            if (remaining.size === 0) {
              clearTimeout(timer);
              resolve();
            }
            return Promise.resolve();
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return records.sort((a, b) => a.partition - b.partition || a.offset - b.offset);
}

export interface TestKafka {
  readonly brokers: readonly string[];
  /** A kafkajs client for the broker (no logging). */
  readonly kafka: Kafka;
  readonly admin: Admin;
  /** Creates a topic with a unique name (`t-<random>-<name>`) and waits for its leaders. */
  createTopic(options?: { name?: string; partitions?: number }): Promise<string>;
  deleteTopic(topic: string): Promise<void>;
  close(): Promise<void>;
}

let ownEnvironment: Promise<KafkaEnvironment> | undefined;

async function brokers(): Promise<readonly string[]> {
  const fromRunner = process.env.FANOUT_TEST_KAFKA_BROKERS;
  if (fromRunner !== undefined && fromRunner !== '') return fromRunner.split(',');
  ownEnvironment ??= startKafkaEnvironment().then((environment) => {
    process.once('beforeExit', () => void environment.stop());
    return environment;
  });
  return (await ownEnvironment).brokers;
}

/** Stops the broker this process started itself, if any (call from an `after` hook). */
export async function stopOwnKafka(): Promise<void> {
  if (ownEnvironment === undefined) return;
  const environment = await ownEnvironment;
  ownEnvironment = undefined;
  await environment.stop();
}

export function uniqueName(name = 'topic'): string {
  return `t-${randomBytes(4).toString('hex')}-${name.replace(/[^a-zA-Z0-9._-]/g, '-')}`;
}

export async function testKafka(): Promise<TestKafka> {
  const list = await brokers();
  const kafka = new Kafka({
    clientId: 'fanout-test',
    brokers: [...list],
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  await admin.connect();
  const created: string[] = [];
  return {
    brokers: list,
    kafka,
    admin,
    async createTopic(options = {}) {
      const topic = uniqueName(options.name);
      await admin.createTopics({
        topics: [{ topic, numPartitions: options.partitions ?? 1, replicationFactor: 1 }],
        waitForLeaders: true,
      });
      created.push(topic);
      return topic;
    },
    async deleteTopic(topic) {
      await admin.deleteTopics({ topics: [topic] });
    },
    async close() {
      if (created.length > 0) await admin.deleteTopics({ topics: created }).catch(() => {});
      await admin.disconnect();
    },
  };
}
