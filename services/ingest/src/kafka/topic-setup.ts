/**
 * Makes sure the events topic exists: creates it with the configured shape
 * when absent, and reports (without changing anything) when it exists with a
 * different partition count or replication factor. Returns what the topic
 * really is, which is what the writer must use.
 */
import { setTimeout as delay } from 'node:timers/promises';
import {
  GenericError,
  MultipleErrors,
  type Admin,
  type ClusterPartitionMetadata,
} from '@platformatic/kafka';
import { fetchTopicId, type FanoutConfig, type Logger } from '@fanout/shared';

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
  const partitions = await partitionsOf(admin, topic);
  return {
    partitions: partitions.length,
    replicationFactor: Math.min(...partitions.map((partition) => partition.replicas.length)),
  };
}

/** The topic's partitions as the broker reports them now (not from a cache). */
async function partitionsOf(admin: Admin, topic: string): Promise<ClusterPartitionMetadata[]> {
  const metadata = await admin.metadata({ topics: [topic], forceUpdate: true });
  // Indexed by partition number; a partition the answer lacks (a hole) is left out.
  return Object.values(metadata.topics.get(topic)?.partitions ?? []);
}

/** How long a created topic may take to have a leader for every partition. */
const leaderWaitMs = 5000;
const leaderPollMs = 100;

/**
 * Waits until every partition of the created topic has a leader, so that the
 * first writes do not meet a topic that is still being placed.
 */
async function waitForLeaders(admin: Admin, topic: string, partitions: number): Promise<void> {
  const deadline = Date.now() + leaderWaitMs;
  for (;;) {
    try {
      const placed = await partitionsOf(admin, topic);
      if (placed.length >= partitions && placed.every((partition) => partition.leader >= 0)) return;
    } catch {
      // Not known to the broker answering yet; asked again below.
    }
    if (Date.now() >= deadline) throw new Error('Timed out while waiting for topic leaders');
    await delay(leaderPollMs);
  }
}

/** Kafka's TOPIC_ALREADY_EXISTS: another process created the topic first. */
function isTopicAlreadyExists(error: unknown): boolean {
  if (error instanceof MultipleErrors) return error.findBy('apiCode', 36) !== null;
  return error instanceof GenericError && error.findBy('apiCode', 36) !== null;
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
    try {
      await admin.createTopics({
        topics: [wanted.topic],
        partitions: wanted.partitions,
        replicas: wanted.replicationFactor,
      });
      await waitForLeaders(admin, wanted.topic, wanted.partitions);
    } catch (error) {
      if (!isTopicAlreadyExists(error)) throw error;
    }
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
