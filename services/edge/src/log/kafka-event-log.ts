/**
 * The edge's read-only view of the events topic in Kafka (the `EventLog` of
 * production): partition reads at chosen offsets, without a consumer group
 * and without committing anything.
 *
 * kafkajs only consumes through a consumer group (it has no manual partition
 * assignment), so the edge reads with `@platformatic/kafka`'s low-level
 * Fetch instead; see docs/decisions/004-edge-partition-reads.md. Kafka answers
 * the requests of one connection in order, so each lane of the log is a
 * connection pool of its own: a long-polling live fetch never delays a cold
 * replay or a metadata request, and the reverse.
 */
import { ConnectionPool, Consumer, type ConnectionOptions } from '@platformatic/kafka';
import {
  FanoutError,
  kafkaConnectionOptions,
  parseBrokerAddress,
  topicIdToEpoch,
  type FanoutConfig,
} from '@fanout/shared';
import {
  logUnavailable,
  type EventLog,
  type FetchOptions,
  type LogLane,
  type LogRecord,
  type PartitionFetch,
  type PartitionOffsets,
  type PartitionRead,
  type PartitionReadStatus,
  type TopicLayout,
} from './event-log.js';

/** Converts Kafka's UUID text to the epoch used in positions (the ingest's conversion). */
export const epochFromTopicId: (topicId: string) => string = topicIdToEpoch;

interface ProtocolErrorLike {
  readonly apiId?: string;
  readonly hasStaleMetadata?: boolean;
  readonly errors?: readonly ProtocolErrorLike[];
  readonly response?: unknown;
}

function errorFacts(error: unknown): ProtocolErrorLike {
  return typeof error === 'object' && error !== null ? error : {};
}

interface RawFetchResponse {
  readonly responses: readonly {
    readonly partitions: readonly {
      readonly partitionIndex: number;
      readonly errorCode: number;
      readonly highWatermark: bigint;
      readonly logStartOffset: bigint;
      readonly records?: readonly {
        readonly firstOffset: bigint;
        readonly firstTimestamp: bigint;
        readonly records: readonly {
          readonly offsetDelta: number;
          readonly timestampDelta: bigint;
          readonly key: Buffer | null;
          readonly value: Buffer | null;
          readonly headers: [Buffer | null, Buffer | null][];
        }[];
      }[];
    }[];
  }[];
}

const errorNames: Readonly<Record<number, string>> = {
  1: 'OFFSET_OUT_OF_RANGE',
  3: 'UNKNOWN_TOPIC_OR_PARTITION',
  5: 'LEADER_NOT_AVAILABLE',
  6: 'NOT_LEADER_OR_FOLLOWER',
  74: 'FENCED_LEADER_EPOCH',
  75: 'UNKNOWN_LEADER_EPOCH',
  100: 'UNKNOWN_TOPIC_ID',
};
const staleMetadataCodes = new Set([3, 5, 6, 74, 75, 100]);

function statusOf(errorCode: number): PartitionReadStatus {
  if (errorCode === 0) return 'ok';
  if (errorCode === 1) return 'offset_out_of_range';
  if (staleMetadataCodes.has(errorCode)) return 'stale_metadata';
  return 'error';
}

function toPartitionReads(
  response: RawFetchResponse,
  requested: ReadonlyMap<number, number>,
): PartitionRead[] {
  const reads: PartitionRead[] = [];
  for (const topic of response.responses) {
    for (const partition of topic.partitions) {
      const from = requested.get(partition.partitionIndex) ?? 0;
      const records: LogRecord[] = [];
      for (const batch of partition.records ?? []) {
        const firstOffset = Number(batch.firstOffset);
        const firstTimestamp = Number(batch.firstTimestamp);
        for (const record of batch.records) {
          const offset = firstOffset + record.offsetDelta;
          // A fetch answers whole batches: skip what precedes the request.
          if (offset < from || record.value === null) continue;
          records.push({
            offset,
            timestamp: firstTimestamp + Number(record.timestampDelta),
            value: record.value,
            headers: record.headers,
            ...(record.key === null ? {} : { key: record.key }),
          });
        }
      }
      const status = statusOf(partition.errorCode);
      reads.push({
        partition: partition.partitionIndex,
        status,
        records,
        highWatermark: Number(partition.highWatermark),
        logStartOffset: Number(partition.logStartOffset),
        ...(status === 'ok'
          ? {}
          : {
              kafkaError: errorNames[partition.errorCode] ?? `KAFKA_ERROR_${partition.errorCode}`,
            }),
      });
    }
  }
  return reads;
}

/** A lane: a connection pool of its own. */
class KafkaLane implements LogLane {
  readonly label: string;
  readonly pool: ConnectionPool;

  constructor(label: string, pool: ConnectionPool) {
    this.label = label;
    this.pool = pool;
  }
}

export class KafkaEventLog implements EventLog {
  readonly topic: string;
  readonly #consumer: Consumer;
  readonly #clientId: string;
  readonly #connectionOptions: ConnectionOptions;
  readonly #lanes = new Set<KafkaLane>();
  #layout: TopicLayout | undefined;

  constructor(config: FanoutConfig['kafka'], clientId: string) {
    this.topic = config.topic;
    this.#clientId = `${config.clientId}-${clientId}`;
    this.#connectionOptions = kafkaConnectionOptions(config);
    this.#consumer = new Consumer({
      ...this.#connectionOptions,
      clientId: this.#clientId,
      // Required by the client's options; the edge never joins a group.
      groupId: `${this.#clientId}-never-joined`,
      bootstrapBrokers: config.brokers.map(parseBrokerAddress),
      retries: 0,
      metadataMaxAge: 30_000,
    });
  }

  get layout(): TopicLayout | undefined {
    return this.#layout;
  }

  /** A lane of its own (a connection pool) for one reader, closed with the log. */
  openLane(label: string): LogLane {
    const lane = new KafkaLane(label, new ConnectionPool(this.#clientId, this.#connectionOptions));
    this.#lanes.add(lane);
    return lane;
  }

  /** Closes a lane's connections (a reader replacing them after a failure opens another). */
  async closeLane(lane: LogLane): Promise<void> {
    if (!(lane instanceof KafkaLane) || !this.#lanes.delete(lane)) return;
    await lane.pool.close();
  }

  /** Reads the topic's id, partition count and leaders; throws kafka_unavailable or not_found. */
  async refreshLayout(): Promise<TopicLayout> {
    let metadata;
    try {
      metadata = await this.#consumer.metadata({ topics: [this.topic], forceUpdate: true });
    } catch (error) {
      if (errorFacts(error).errors?.some((e) => e.apiId === 'UNKNOWN_TOPIC_OR_PARTITION')) {
        throw new FanoutError('unavailable', `topic ${this.topic} does not exist yet`, {
          cause: error,
        });
      }
      throw logUnavailable(error, `reading metadata of ${this.topic}`);
    }
    const topic = metadata.topics.get(this.topic);
    if (!topic) throw new FanoutError('unavailable', `topic ${this.topic} does not exist yet`);
    this.#layout = {
      epoch: epochFromTopicId(topic.id),
      topicId: topic.id,
      partitions: topic.partitionsCount,
      leaders: topic.partitions.map((partition) => partition.leader),
    };
    return this.#layout;
  }

  /** Log start and high watermark of partitions, from the partition leaders. */
  async offsets(partitions: readonly number[]): Promise<Map<number, PartitionOffsets>> {
    const ask = async (timestamp: bigint): Promise<bigint[]> => {
      const result = await this.#consumer.listOffsets({
        topics: [this.topic],
        partitions: { [this.topic]: [...partitions] },
        timestamp,
      });
      return result.get(this.topic) ?? [];
    };
    try {
      const [earliest, latest] = [await ask(-2n), await ask(-1n)];
      const offsets = new Map<number, PartitionOffsets>();
      for (const partition of partitions) {
        offsets.set(partition, {
          logStartOffset: Number(earliest[partition] ?? -1n),
          highWatermark: Number(latest[partition] ?? -1n),
        });
      }
      return offsets;
    } catch (error) {
      throw logUnavailable(error, `listing offsets of ${this.topic}`);
    }
  }

  /**
   * One Fetch to one leader. Partition-level errors come back as statuses;
   * a failed request (network, timeout) throws kafka_unavailable.
   */
  async fetch(
    node: number,
    partitions: readonly PartitionFetch[],
    options: FetchOptions,
  ): Promise<PartitionRead[]> {
    const layout = this.#layout;
    if (!layout) throw new FanoutError('unavailable', 'the topic layout is not known yet');
    const lane = options.lane;
    if (!(lane instanceof KafkaLane) || !this.#lanes.has(lane)) {
      throw new FanoutError('internal', `lane ${lane.label} was not opened by this log`);
    }
    const requested = new Map(partitions.map((p) => [p.partition, p.offset]));
    try {
      const response = await this.#consumer.fetch({
        node,
        maxWaitTime: options.maxWaitMs,
        maxBytes: options.maxBytes,
        connectionPool: lane.pool,
        topics: [
          {
            topicId: layout.topicId,
            partitions: partitions.map((p) => ({
              partition: p.partition,
              fetchOffset: BigInt(p.offset),
              currentLeaderEpoch: -1,
              lastFetchedEpoch: -1,
              partitionMaxBytes: options.partitionMaxBytes,
            })),
          },
        ],
      });
      return toPartitionReads(response, requested);
    } catch (error) {
      const response = errorFacts(error).response as RawFetchResponse | undefined;
      if (response?.responses !== undefined) return toPartitionReads(response, requested);
      throw logUnavailable(error, `fetching from broker ${node}`);
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.#lanes].map((lane) => lane.pool.close()));
    await this.#consumer.close();
  }
}
