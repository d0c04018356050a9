/**
 * Makes sure the events topic exists: creates it with the configured shape
 * when absent, and reports (without changing anything) when it exists with a
 * different partition count or replication factor. Returns what the topic
 * really is, which is what the writer must use.
 */
import { fetchTopicId, type FanoutConfig, type Logger } from '@fanout/shared';
import type { Admin } from 'kafkajs';

export interface TopicShape {
  readonly topic: string;
  readonly partitions: number;
  readonly replicationFactor: number;
}

export interface TopicState extends TopicShape {
  /** The topic id as a position epoch. */
  readonly epoch: string;
  /** True when the topic existed with a shape other than the configured one. */
  readonly mismatch: boolean;
}

export interface TopicSetupOptions {
  readonly admin: Admin;
  /** The connection settings, for the topic id lookup. */
  readonly kafka: FanoutConfig['kafka'];
  readonly wanted: TopicShape;
  readonly logger: Logger;
  /** Create the topic when it is absent (ingest does; readers don't). */
  readonly create: boolean;
}

export async function describeTopic(
  admin: Admin,
  topic: string,
): Promise<{ partitions: number; replicationFactor: number } | undefined> {
  const topics = await admin.listTopics();
  if (!topics.includes(topic)) return undefined;
  const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
  const partitions = metadata.topics[0]?.partitions ?? [];
  return {
    partitions: partitions.length,
    replicationFactor: Math.min(...partitions.map((partition) => partition.replicas.length)),
  };
}

export async function ensureTopic(options: TopicSetupOptions): Promise<TopicState> {
  const { admin, wanted, logger } = options;
  let actual = await describeTopic(admin, wanted.topic);
  if (actual === undefined) {
    if (!options.create) throw new Error(`topic ${wanted.topic} does not exist`);
    logger.info(
      {
        topic: wanted.topic,
        partitions: wanted.partitions,
        replicationFactor: wanted.replicationFactor,
      },
      'creating topic',
    );
    await admin.createTopics({
      topics: [
        {
          topic: wanted.topic,
          numPartitions: wanted.partitions,
          replicationFactor: wanted.replicationFactor,
        },
      ],
      waitForLeaders: true,
    });
    actual = await describeTopic(admin, wanted.topic);
    if (actual === undefined) throw new Error(`topic ${wanted.topic} was not created`);
  }
  const mismatch =
    actual.partitions !== wanted.partitions ||
    actual.replicationFactor !== wanted.replicationFactor;
  if (mismatch) {
    logger.warn(
      {
        topic: wanted.topic,
        configured: { partitions: wanted.partitions, replicationFactor: wanted.replicationFactor },
        actual,
      },
      'topic exists with a different shape than configured; using it as it is',
    );
  }
  const epoch = await fetchTopicId({ kafka: options.kafka, topic: wanted.topic });
  if (epoch === undefined) throw new Error(`topic ${wanted.topic} has no id`);
  return { topic: wanted.topic, ...actual, epoch, mismatch };
}
