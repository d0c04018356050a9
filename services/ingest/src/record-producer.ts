/**
 * The Kafka producer under the event writer: `@platformatic/kafka`'s
 * idempotent producer (acks=all), behind the small interface the writer
 * needs, so that the writer's guarantees can be tested without a broker and
 * the client could be replaced. Why this client and not kafkajs:
 * docs/decisions/005-ingest-kafka-producer.md.
 *
 * Every `connectRecordProducer` call is a new producer with a new producer
 * id: after a failure the writer connects a fresh one instead of retrying
 * with sequence numbers Kafka may no longer agree with.
 */
import { Producer, ProduceAcks, type ProducerOptions } from '@platformatic/kafka';
import { kafkaConnectionOptions, parseBrokerAddress, type FanoutConfig } from '@fanout/shared';

/** Record headers: names and values as bytes. One map is shared by the records of a publish. */
export type RecordHeaders = Map<Buffer, Buffer>;

/** One record to write, already in the shape the Kafka client takes. */
export interface OutgoingRecord {
  readonly topic: string;
  readonly key: Buffer;
  readonly value: Buffer;
  readonly partition: number;
  /** Epoch milliseconds. */
  readonly timestamp: bigint;
  readonly headers: RecordHeaders;
}

export interface RecordProducer {
  /**
   * Writes the records with acks=all in one produce request per partition
   * leader, in order within each partition, and resolves with the offset the
   * first record of each partition got (the others follow it, in order).
   * Rejects when any partition failed: then the records may or may not be
   * written, and this producer must not be used again.
   */
  send(records: OutgoingRecord[]): Promise<ReadonlyMap<number, number>>;
  /** Closes the connections; requests still in flight fail. */
  close(): Promise<void>;
}

export interface RecordProducerOptions {
  readonly kafka: FanoutConfig['kafka'];
  /** Topic whose metadata is loaded before the producer is handed out. */
  readonly topic: string;
  /** Suffix of the client id (`<kafka.clientId>-<clientId>`). */
  readonly clientId: string;
  /** How long the broker may wait for the in-sync replicas before failing a produce request. */
  readonly ackTimeoutMs: number;
}

/** Options of the idempotent producer; exported for tests. */
export function producerOptions(
  options: RecordProducerOptions,
): ProducerOptions<Buffer, Buffer, Buffer, Buffer> {
  const { kafka } = options;
  return {
    clientId: `${kafka.clientId}-${options.clientId}`,
    bootstrapBrokers: kafka.brokers.map(parseBrokerAddress),
    ...kafkaConnectionOptions(kafka),
    idempotent: true,
    acks: ProduceAcks.ALL,
    compression: kafka.compression,
    timeout: options.ackTimeoutMs,
    // Bounded on purpose: a produce that keeps failing fails its events, and
    // the writer replaces the producer. (The client turns 0 or 1 into
    // "retry forever" for idempotent producers, so 2 is the least.)
    retries: 2,
    retryDelay: (_client, _operation, attempt) => Math.min(1000, 100 * 2 ** (attempt - 1)),
    autocreateTopics: false,
  };
}

/**
 * A new idempotent producer with its producer id and the topic's metadata
 * loaded, so that an unreachable Kafka fails here and not on the first send.
 */
export async function connectRecordProducer(
  options: RecordProducerOptions,
): Promise<RecordProducer> {
  const producer = new Producer<Buffer, Buffer, Buffer, Buffer>(producerOptions(options));
  try {
    await producer.initIdempotentProducer({});
    await producer.metadata({ topics: [options.topic] });
  } catch (error) {
    await producer.close().catch(() => {});
    throw error;
  }
  return {
    async send(records) {
      const result = await producer.send({ messages: records });
      const baseOffsets = new Map<number, number>();
      for (const entry of result.offsets ?? []) {
        baseOffsets.set(entry.partition, Number(entry.offset));
      }
      return baseOffsets;
    },
    close: () => producer.close(),
  };
}
