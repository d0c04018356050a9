/**
 * The checkpoint topic (`<kafka.topic>.state`, compacted) as the edge uses
 * it: read like the events topic (a `KafkaEventLog` of its own: layout,
 * offsets, fetches by offset on lanes), and, only when this edge writes
 * checkpoints, created when absent (same partition count as the events
 * topic, `cleanup.policy=compact`) and written with a producer. An edge that
 * only reads checkpoints never connects a producer or an admin client.
 */
import { Admin, GenericError, MultipleErrors, ProduceAcks, Producer } from '@platformatic/kafka';
import { kafkaConnectionOptions, parseBrokerAddress, type FanoutConfig } from '@fanout/shared';
import { KafkaEventLog } from './kafka-event-log.js';
import type { EventLog } from './event-log.js';

/** The checkpoint topic of an events topic. */
export function checkpointTopicOf(topic: string): string {
  return `${topic}.state`;
}

/** One checkpoint record to write. */
export interface CheckpointWrite {
  readonly partition: number;
  readonly key: Buffer;
  readonly value: Buffer;
}

export interface CheckpointLog {
  readonly topic: string;
  /** Reads of the checkpoint topic. */
  readonly read: EventLog;
  /** Creates the topic with `partitions` partitions when it does not exist. */
  ensureTopic(partitions: number, replicationFactor: number): Promise<void>;
  /** Writes records (acks=all), in order within each partition. */
  write(records: readonly CheckpointWrite[]): Promise<void>;
  close(): Promise<void>;
}

/** Kafka's TOPIC_ALREADY_EXISTS. */
function alreadyExists(error: unknown): boolean {
  if (error instanceof MultipleErrors) return error.findBy('apiCode', 36) !== null;
  return error instanceof GenericError && error.findBy('apiCode', 36) !== null;
}

export class KafkaCheckpointLog implements CheckpointLog {
  readonly topic: string;
  readonly read: EventLog;
  readonly #config: FanoutConfig['kafka'];
  #producer: Producer | undefined;

  constructor(config: FanoutConfig['kafka']) {
    this.topic = checkpointTopicOf(config.topic);
    this.#config = config;
    this.read = new KafkaEventLog({ ...config, topic: this.topic }, 'checkpoints');
  }

  #common(clientId: string): {
    clientId: string;
    bootstrapBrokers: ReturnType<typeof parseBrokerAddress>[];
  } & ReturnType<typeof kafkaConnectionOptions> {
    return {
      ...kafkaConnectionOptions(this.#config),
      clientId: `${this.#config.clientId}-${clientId}`,
      bootstrapBrokers: this.#config.brokers.map(parseBrokerAddress),
    };
  }

  async ensureTopic(partitions: number, replicationFactor: number): Promise<void> {
    const admin = new Admin({ ...this.#common('checkpoint-admin'), retries: 2 });
    try {
      const topics = await admin.listTopics();
      if (topics.includes(this.topic)) return;
      try {
        await admin.createTopics({
          topics: [this.topic],
          partitions,
          replicas: replicationFactor,
          configs: [
            { name: 'cleanup.policy', value: 'compact' },
            { name: 'min.compaction.lag.ms', value: '0' },
            { name: 'segment.ms', value: '3600000' },
          ],
        });
      } catch (error) {
        if (!alreadyExists(error)) throw error;
      }
    } finally {
      await admin.close();
    }
  }

  async write(records: readonly CheckpointWrite[]): Promise<void> {
    if (records.length === 0) return;
    this.#producer ??= new Producer({
      ...this.#common('checkpoints'),
      acks: ProduceAcks.ALL,
      retries: 2,
      autocreateTopics: false,
    });
    await this.#producer.send({
      messages: records.map((record) => ({
        topic: this.topic,
        partition: record.partition,
        key: record.key,
        value: record.value,
      })),
    });
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.#producer?.close(), this.read.close()]);
  }
}
