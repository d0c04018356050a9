/**
 * The Kafka producer under the event writer, behind the small interface the
 * writer needs, so that the writer's guarantees can be tested without a
 * broker. `@platformatic/kafka`'s client holds the connections (TLS, SASL),
 * the metadata and the idempotent producer id (acks=all); our produce
 * pipeline numbers, encodes, sends and retries the record batches, with
 * several requests in flight. Why: docs/decisions/005-ingest-kafka-producer.md.
 *
 * Every `connectRecordProducer` call is a new producer with a new producer
 * id: after a failure the writer connects a fresh one instead of retrying
 * with sequence numbers Kafka may no longer agree with.
 */
import {
  Producer,
  ProduceAcks,
  Writer,
  kGetApi,
  kGetConnection,
  kMetadata,
  produceV9,
  produceV10,
  produceV11,
  type Broker,
  type ProducerOptions,
  type ResponseParser,
} from '@platformatic/kafka';
import { kafkaConnectionOptions, parseBrokerAddress, type FanoutConfig } from '@fanout/shared';
import {
  ProducePipeline,
  type PartitionAnswer,
  type PartitionOutcomes,
  type PartitionRecord,
  type ProduceTransport,
} from './produce-pipeline.js';

/** One record to write: its partition, key, envelope, timestamp and header block. */
export type OutgoingRecord = PartitionRecord;

export interface RecordProducer {
  /**
   * Writes the records with acks=all, in order within each partition, and
   * answers each partition: the offset its first record got (the others
   * follow it, in order), or the error that ended its batch. Several sends
   * may be in flight; their order is the order of the calls. After any
   * partition failed, this producer must not be used again.
   */
  send(records: readonly OutgoingRecord[]): Promise<PartitionOutcomes>;
  /**
   * One round trip to the cluster on the producer's connections (a metadata
   * request for the topic): resolves when a broker answered, fails when none did.
   */
  probe(): Promise<void>;
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
  /** Called when a partition's batch is sent again after a retriable error. */
  readonly onRetry?: (partition: number, error: Error) => void;
}

/** Attempts after the first for a batch that failed with a retriable error. */
const produceRetries = 2;
const produceRetryDelayMs = (attempt: number): number => Math.min(1000, 100 * 2 ** (attempt - 1));

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
    // No `compression`: the client sends no produce request of its own;
    // the pipeline writes the batches and applies kafka.compression.
    timeout: options.ackTimeoutMs,
    // The client's own requests (metadata, producer id); produce requests
    // are retried by the pipeline. Bounded on purpose: the client turns 0 or
    // 1 into "retry forever" for idempotent producers, so 2 is the least.
    retries: produceRetries,
    retryDelay: (_client, _operation, attempt) => produceRetryDelayMs(attempt),
    autocreateTopics: false,
  };
}

type ProduceResponse = produceV11.ProduceResponse;

/** Produce versions whose request layout produce-request.ts writes, newest first. */
const produceParsers = new Map<number, ResponseParser<ProduceResponse>>([
  [11, produceV11.parseResponse],
  [10, produceV10.parseResponse],
  [9, produceV9.parseResponse],
]);
const produceApiKey = 0;

/**
 * The library's response parser throws when a partition has an error; the
 * pipeline wants every partition's answer, so the parsed response is taken
 * from the error.
 */
function tolerantParser(parse: ResponseParser<ProduceResponse>): ResponseParser<ProduceResponse> {
  return (correlationId, apiKey, apiVersion, reader) => {
    try {
      return parse(correlationId, apiKey, apiVersion, reader);
    } catch (error) {
      const response = (error as { response?: ProduceResponse } | undefined)?.response;
      if (response?.responses !== undefined) return response;
      throw error;
    }
  };
}

/** The pipeline's view of the cluster, through the client's connections and metadata. */
class ClientTransport implements ProduceTransport {
  private brokers = new Map<number, Broker>();

  constructor(
    private readonly producer: Producer,
    private readonly topic: string,
    private readonly version: number,
    private readonly parser: ResponseParser<ProduceResponse>,
  ) {}

  leaders(refresh: boolean): Promise<readonly number[]> {
    return new Promise((resolve, reject) => {
      this.producer[kMetadata](
        { topics: [this.topic], forceUpdate: refresh },
        (error, metadata) => {
          const topic = metadata?.topics.get(this.topic);
          if (error || metadata === undefined || topic === undefined) {
            reject(error ?? new Error(`no metadata for topic ${this.topic}`));
            return;
          }
          this.brokers = metadata.brokers;
          resolve(topic.partitions.map((partition) => partition.leader));
        },
      );
    });
  }

  produce(node: number, body: Buffer): Promise<readonly PartitionAnswer[]> {
    const broker = this.brokers.get(node);
    if (broker === undefined) return Promise.reject(new Error(`unknown broker ${node}`));
    return new Promise((resolve, reject) => {
      this.producer[kGetConnection](broker, (error, connection) => {
        if (error || connection === undefined) {
          reject(error ?? new Error(`no connection to broker ${node}`));
          return;
        }
        connection.send(
          produceApiKey,
          this.version,
          () => Writer.create().append(body),
          this.parser,
          true,
          true,
          (sendError, response) => {
            if (sendError || response === undefined) {
              reject(sendError ?? new Error('empty produce response'));
              return;
            }
            const answers: PartitionAnswer[] = [];
            for (const topic of response.responses) {
              for (const partition of topic.partitionResponses) {
                answers.push({
                  partition: partition.index,
                  errorCode: partition.errorCode,
                  baseOffset: partition.baseOffset,
                  errorMessage: partition.errorMessage,
                });
              }
            }
            resolve(answers);
          },
        );
      });
    });
  }
}

/** The Produce version to use: the newest the broker and produce-request.ts share. */
function produceVersion(producer: Producer): Promise<[number, ResponseParser<ProduceResponse>]> {
  return new Promise((resolve, reject) => {
    producer[kGetApi]('Produce', (error, api) => {
      if (error || api === undefined) {
        reject(error ?? new Error('the broker does not support Produce'));
        return;
      }
      const version = (api as { version?: number }).version ?? -1;
      const parse = produceParsers.get(version);
      if (parse === undefined) {
        reject(
          new Error(
            `the broker's Produce v${version} is older than v9, the oldest this producer writes`,
          ),
        );
        return;
      }
      resolve([version, parse]);
    });
  });
}

/**
 * A new idempotent producer with its producer id, the broker's Produce
 * version and the topic's leaders loaded, so that an unreachable Kafka fails
 * here and not on the first send. The client keeps the connections (TLS,
 * SASL), the metadata and the producer id; the records are numbered,
 * encoded, sent and retried by the produce pipeline.
 */
export async function connectRecordProducer(
  options: RecordProducerOptions,
): Promise<RecordProducer> {
  const producer = new Producer<Buffer, Buffer, Buffer, Buffer>(producerOptions(options));
  let pipeline: ProducePipeline;
  let transport: ClientTransport;
  try {
    const info = await producer.initIdempotentProducer({});
    const [version, parse] = await produceVersion(producer);
    transport = new ClientTransport(producer, options.topic, version, tolerantParser(parse));
    const leaders = await transport.leaders(true);
    pipeline = new ProducePipeline(transport, {
      topic: options.topic,
      producerId: info.producerId,
      producerEpoch: info.producerEpoch,
      compression: options.kafka.compression,
      ackTimeoutMs: options.ackTimeoutMs,
      retries: produceRetries,
      retryDelayMs: produceRetryDelayMs,
      leaders,
      ...(options.onRetry ? { onRetry: options.onRetry } : {}),
    });
  } catch (error) {
    await producer.close().catch(() => {});
    throw error;
  }
  return {
    send: (records) => pipeline.send(records),
    probe: async () => {
      await transport.leaders(true);
    },
    close: () => {
      pipeline.close();
      return producer.close();
    },
  };
}
