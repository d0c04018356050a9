/**
 * Idempotent produce with several requests in flight.
 *
 * Kafka's idempotent producer numbers each partition's records; the broker
 * appends a batch only when its first sequence number follows the last one
 * it appended, and answers a batch it already has with that batch's
 * offsets. So the numbering, not the timing, keeps a partition's records in
 * order and written once, and up to five batches per partition may be in
 * flight (the broker remembers the last five). This module:
 *
 * - numbers and encodes each partition's records when `send` is called
 *   (produce-request.ts), so the order of `send` calls is the order of the
 *   records, and sends the requests at once, one per partition leader;
 * - retries a partition's batch that failed with a retriable error, with the
 *   same numbers and bytes, after the partition's earlier batches are
 *   settled, and only when they were written (a batch after a failed one
 *   can never be appended); bounded by `retries`;
 * - reports each partition's outcome on its own: the base offset Kafka gave
 *   its batch, or the error that ended it.
 *
 * After any partition failed for good the caller must replace the pipeline
 * (and its producer id): the broker's numbering and ours no longer agree.
 */
import { setTimeout as delay } from 'node:timers/promises';
import {
  encodeProduceRequest,
  encodeRecordBatch,
  type BatchCompression,
  type BatchRecord,
} from './produce-request.js';

/** A record of a partition, in the order it must be appended. */
export interface PartitionRecord extends BatchRecord {
  readonly partition: number;
}

/** One partition's answer in a Produce response. */
export interface PartitionAnswer {
  readonly partition: number;
  /** Kafka's error code; 0 when the batch was appended. */
  readonly errorCode: number;
  readonly baseOffset: bigint;
  readonly errorMessage?: string | null | undefined;
}

/** The cluster as the pipeline needs it. */
export interface ProduceTransport {
  /** The leader's node id of every partition (index = partition); `refresh` asks Kafka again. */
  leaders(refresh: boolean): Promise<readonly number[]>;
  /**
   * Sends a Produce request body to `node` and answers each partition in it.
   * Rejects when the request as a whole failed (connection, timeout).
   * Requests to one node are written to its connection in call order.
   */
  produce(node: number, body: Buffer): Promise<readonly PartitionAnswer[]>;
}

export interface ProducePipelineOptions {
  readonly topic: string;
  readonly producerId: bigint;
  readonly producerEpoch: number;
  readonly compression: BatchCompression;
  /** Broker-side wait for the in-sync replicas (acks=all), in milliseconds. */
  readonly ackTimeoutMs: number;
  /** Attempts after the first for a batch that failed with a retriable error. */
  readonly retries: number;
  /** Delay before retry `attempt` (1-based), in milliseconds. */
  readonly retryDelayMs: (attempt: number) => number;
  /** Leaders of the partitions when the pipeline starts. */
  readonly leaders: readonly number[];
  readonly onRetry?: (partition: number, error: Error) => void;
}

/** A failure of one partition's batch: Kafka's error, or the request's. */
export class PartitionWriteError extends Error {
  constructor(
    readonly partition: number,
    message: string,
    /** Kafka's error code, when Kafka answered. */
    readonly errorCode: number | undefined,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'PartitionWriteError';
  }
}

/** Each partition's base offset, or the error that ended its batch. */
export type PartitionOutcomes = ReadonlyMap<number, number | Error>;

/** acks=all. */
const acksAll = -1;
/** Sequence numbers wrap from Int32 max to 0. */
const sequenceModulus = 2 ** 31;

/**
 * Kafka errors a batch may be sent again after (the same numbers and bytes),
 * and which of them mean the partition's leader may have moved.
 */
const retriableCodes = new Set([
  3, // UNKNOWN_TOPIC_OR_PARTITION
  5, // LEADER_NOT_AVAILABLE
  6, // NOT_LEADER_OR_FOLLOWER
  7, // REQUEST_TIMED_OUT
  13, // NETWORK_EXCEPTION
  19, // NOT_ENOUGH_REPLICAS
  20, // NOT_ENOUGH_REPLICAS_AFTER_APPEND
  45, // OUT_OF_ORDER_SEQUENCE_NUMBER: an earlier batch of the partition failed; it is retried first
  56, // KAFKA_STORAGE_ERROR
  75, // UNKNOWN_LEADER_EPOCH
]);
const leaderMovedCodes = new Set([3, 5, 6, 13, 56, 75]);

interface PartitionSend {
  readonly partition: number;
  readonly batch: Buffer;
  /** Settles with whether the partition's previous batch was written. */
  readonly previous: Promise<boolean> | undefined;
  written: (written: boolean) => void;
}

export class ProducePipeline {
  private readonly sequences: number[] = [];
  /** Per partition: settles when its last sent batch is settled (true when written). */
  private readonly lastBatch = new Map<number, Promise<boolean>>();
  private leaderOf: readonly number[];
  private refreshingLeaders: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly transport: ProduceTransport,
    private readonly options: ProducePipelineOptions,
  ) {
    this.leaderOf = options.leaders;
  }

  /** Nothing more is sent, retries included; requests in flight keep their outcome. */
  close(): void {
    this.closed = true;
  }

  /**
   * Writes `records` (any partitions, in the order each partition must keep)
   * and answers each partition. Never rejects: failures are per partition.
   */
  send(records: readonly PartitionRecord[]): Promise<PartitionOutcomes> {
    const byPartition = new Map<number, PartitionRecord[]>();
    for (const record of records) {
      const list = byPartition.get(record.partition);
      if (list === undefined) byPartition.set(record.partition, [record]);
      else list.push(record);
    }
    const byLeader = new Map<number, PartitionSend[]>();
    for (const [partition, list] of byPartition) {
      const send = this.number(partition, list);
      const leader = this.leaderOf[partition] ?? -1;
      const group = byLeader.get(leader);
      if (group === undefined) byLeader.set(leader, [send]);
      else group.push(send);
    }
    const deliveries: Promise<readonly [number, number | PartitionWriteError]>[] = [];
    for (const [leader, sends] of byLeader) {
      const answers = this.request(leader, sends);
      for (const send of sends) {
        const first = answers.then(
          (map) => map.get(send.partition) ?? missingAnswer(send.partition),
        );
        deliveries.push(this.deliver(send, first).then((outcome) => [send.partition, outcome]));
      }
    }
    return Promise.all(deliveries).then((entries) => new Map(entries));
  }

  /** Numbers the partition's records and encodes their batch. */
  private number(partition: number, records: readonly PartitionRecord[]): PartitionSend {
    const baseSequence = this.sequences[partition] ?? 0;
    this.sequences[partition] = (baseSequence + records.length) % sequenceModulus;
    const batch = encodeRecordBatch(records, {
      producerId: this.options.producerId,
      producerEpoch: this.options.producerEpoch,
      baseSequence,
      compression: this.options.compression,
    });
    let written!: (written: boolean) => void;
    const settled = new Promise<boolean>((resolve) => {
      written = resolve;
    });
    const send: PartitionSend = {
      partition,
      batch,
      previous: this.lastBatch.get(partition),
      written,
    };
    this.lastBatch.set(partition, settled);
    // Drop the chain's end once settled, unless a later batch took its place.
    void settled.then(() => {
      if (this.lastBatch.get(partition) === settled) this.lastBatch.delete(partition);
    });
    return send;
  }

  /** One Produce request to `leader` for `sends`; every partition gets an answer or an error. */
  private request(
    leader: number,
    sends: readonly PartitionSend[],
  ): Promise<ReadonlyMap<number, PartitionAnswer | PartitionWriteError>> {
    const failAll = (message: string, cause?: unknown) =>
      new Map(
        sends.map((send) => [
          send.partition,
          new PartitionWriteError(send.partition, message, undefined, { cause }),
        ]),
      );
    if (this.closed) return Promise.resolve(failAll('the producer is closed'));
    if (leader < 0) return Promise.resolve(failAll('the partition has no known leader'));
    const body = encodeProduceRequest(
      acksAll,
      this.options.ackTimeoutMs,
      this.options.topic,
      sends.map(({ partition, batch }) => ({ partition, batch })),
    );
    return this.transport.produce(leader, body).then(
      (answers) => new Map(answers.map((answer) => [answer.partition, answer])),
      (error: unknown) =>
        failAll(
          `produce request to broker ${leader} failed: ${error instanceof Error ? error.message : String(error)}`,
          error,
        ),
    );
  }

  /** The batch's outcome after its first attempt and the retries it may take. */
  private async deliver(
    send: PartitionSend,
    first: Promise<PartitionAnswer | PartitionWriteError>,
  ): Promise<number | PartitionWriteError> {
    let answer = await first;
    for (let attempt = 1; ; attempt++) {
      const error = answerError(send.partition, answer);
      if (error === undefined) {
        send.written(true);
        return Number((answer as PartitionAnswer).baseOffset);
      }
      const retriable = error.errorCode === undefined || retriableCodes.has(error.errorCode);
      if (this.closed || !retriable || attempt > this.options.retries) {
        send.written(false);
        return error;
      }
      // In order: an earlier batch of the partition goes (again) first; after
      // one that failed for good this batch can never be appended.
      if (send.previous !== undefined && !(await send.previous)) {
        send.written(false);
        return new PartitionWriteError(
          send.partition,
          'an earlier batch of the partition was not written',
          error.errorCode,
          { cause: error },
        );
      }
      this.options.onRetry?.(send.partition, error);
      await delay(this.options.retryDelayMs(attempt));
      if (error.errorCode === undefined || leaderMovedCodes.has(error.errorCode)) {
        await this.refreshLeaders();
      }
      const leader = this.leaderOf[send.partition] ?? -1;
      const answers = await this.request(leader, [send]);
      answer = answers.get(send.partition) ?? missingAnswer(send.partition);
    }
  }

  private refreshLeaders(): Promise<void> {
    this.refreshingLeaders ??= this.transport
      .leaders(true)
      .then(
        (leaders) => {
          this.leaderOf = leaders;
        },
        () => {
          // Keep the leaders known; the retry fails or succeeds on its own.
        },
      )
      .finally(() => {
        this.refreshingLeaders = undefined;
      });
    return this.refreshingLeaders;
  }
}

function missingAnswer(partition: number): PartitionWriteError {
  return new PartitionWriteError(partition, 'Kafka did not answer for the partition', undefined);
}

function answerError(
  partition: number,
  answer: PartitionAnswer | PartitionWriteError,
): PartitionWriteError | undefined {
  if (answer instanceof PartitionWriteError) return answer;
  if (answer.errorCode === 0) return undefined;
  return new PartitionWriteError(
    partition,
    `Kafka refused the batch (error ${answer.errorCode}${answer.errorMessage ? `: ${answer.errorMessage}` : ''})`,
    answer.errorCode,
  );
}
