/**
 * What the edge needs from the log of events, and nothing more: the topic's
 * layout (epoch, partitions, leaders), the log start and high watermark of
 * partitions, a fetch of partitions from chosen offsets that answers per
 * partition, and close. Nothing is ever written or committed through it.
 *
 * `KafkaEventLog` (kafka-event-log.ts) is the log of production;
 * `MemoryEventLog` (memory-event-log.ts) is its in-memory twin for tests. One
 * contract suite (test/integration/event-log-contract.test.ts) pins what both
 * answer, so the hub and the partition reader can be tested on the twin.
 */
import { FanoutError } from '@fanout/shared';

/** One record as read from the log. */
export interface LogRecord {
  readonly offset: number;
  /** Record timestamp, epoch milliseconds. */
  readonly timestamp: number;
  readonly value: Buffer;
  /** The record's key (the events topic's is the channel; a checkpoint's, see checkpoint-record.ts). */
  readonly key?: Buffer;
  readonly headers: readonly (readonly [Buffer | null, Buffer | null])[];
}

/**
 * `ok`: records (possibly none) from the requested offset;
 * `offset_out_of_range`: the offset is below the log start or above the high
 * watermark; `stale_metadata`: the layout the fetch was made with is out of
 * date (leader moved, topic recreated, partition unknown): refresh it;
 * `error`: any other partition error.
 */
export type PartitionReadStatus = 'ok' | 'offset_out_of_range' | 'stale_metadata' | 'error';

/** What one partition answered to a fetch. */
export interface PartitionRead {
  readonly partition: number;
  readonly status: PartitionReadStatus;
  /** Records at or after the requested offset, in offset order. */
  readonly records: readonly LogRecord[];
  /** Offset of the next record to be written (-1 when unknown). */
  readonly highWatermark: number;
  /** Oldest offset the log still holds (-1 when unknown). */
  readonly logStartOffset: number;
  /** The log's error name when status is not `ok` (Kafka's, e.g. `OFFSET_OUT_OF_RANGE`). */
  readonly kafkaError?: string;
}

export interface PartitionFetch {
  readonly partition: number;
  readonly offset: number;
}

/**
 * A lane of requests, handed out by the log that serves it (`openLane`).
 * Requests of one lane may wait for each other; requests of different lanes
 * never do, so a long-polling live fetch never delays a cold replay. Opaque:
 * only the log that opened a lane looks inside; lanes close with the log.
 */
export interface LogLane {
  /** What the lane is for (`replay`, `live node 1`), for logs and tests. */
  readonly label: string;
}

export interface FetchOptions {
  /** The lane the fetch travels on (from `openLane` of the same log). */
  readonly lane: LogLane;
  /** Longest the log waits for records at the head before answering with none. */
  readonly maxWaitMs: number;
  /** Byte limit of the answer (at least one record comes back when there is one). */
  readonly maxBytes: number;
  /** Byte limit of each partition's records. */
  readonly partitionMaxBytes: number;
}

/** The topic as the edge sees it. */
export interface TopicLayout {
  /** base64url of the topic id: changes when the topic is recreated. */
  readonly epoch: string;
  readonly topicId: string;
  readonly partitions: number;
  /** Leader node id of each partition (-1 when leaderless). */
  readonly leaders: readonly number[];
}

export interface PartitionOffsets {
  readonly logStartOffset: number;
  readonly highWatermark: number;
}

export interface EventLog {
  /** The topic read. */
  readonly topic: string;
  /** The layout of the last `refreshLayout`; fetches are made with it. */
  readonly layout: TopicLayout | undefined;
  /**
   * Reads the topic's id, partition count and leaders. Throws
   * `kafka_unavailable` when the log does not answer, `unavailable` when the
   * topic does not exist.
   */
  refreshLayout(): Promise<TopicLayout>;
  /** Log start and high watermark of partitions; throws `kafka_unavailable`. */
  offsets(partitions: readonly number[]): Promise<Map<number, PartitionOffsets>>;
  /** A lane of its own for one reader (closed with the log). */
  openLane(label: string): LogLane;
  /** Closes a lane before the log (its connections): a reader replacing it opens another. */
  closeLane?(lane: LogLane): Promise<void>;
  /**
   * One fetch of partitions led by `node` (a leader of `layout`), each from
   * its offset. Answers as soon as a partition has records or an error, or
   * after `maxWaitMs`. Partition errors come back as statuses; a failed
   * request (network, timeout) throws `kafka_unavailable`.
   */
  fetch(
    node: number,
    partitions: readonly PartitionFetch[],
    options: FetchOptions,
  ): Promise<PartitionRead[]>;
  close(): Promise<void>;
}

/** A failed request to the log as the catalog's `kafka_unavailable`. */
export function logUnavailable(error: unknown, doing: string): FanoutError {
  const message = error instanceof Error ? error.message : String(error);
  return new FanoutError('kafka_unavailable', `Kafka is unavailable while ${doing}: ${message}`, {
    cause: error,
  });
}
