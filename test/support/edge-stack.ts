/**
 * What most edge integration tests start in `before()`: the test broker, a
 * topic of their own, an ingest writing into it and, for `startEdgeStack`,
 * one edge reading it (`startLoneEdge`: the edge without an ingest).
 * `stop()` stops them in reverse order and the broker if the test process
 * started it.
 */
import { startEdge, type EdgeHarness } from './edge-harness.js';
import { startIngest, type IngestHarness } from './ingest-harness.js';
import { stopOwnKafka, testKafka, type TestKafka } from './test-kafka.js';

export interface IngestStack {
  readonly kafka: TestKafka;
  readonly topic: string;
  readonly ingest: IngestHarness;
  stop(): Promise<void>;
}

export interface EdgeStack extends IngestStack {
  readonly edge: EdgeHarness;
}

export interface LoneEdgeStack {
  readonly kafka: TestKafka;
  readonly topic: string;
  readonly edge: EdgeHarness;
  stop(): Promise<void>;
}

export interface StackOptions {
  /** Topic name prefix. */
  readonly name: string;
  readonly partitions: number;
}

/** Broker, topic and ingest; the test starts its edges itself. */
export async function startIngestStack(options: StackOptions): Promise<IngestStack> {
  const kafka = await testKafka();
  const topic = await kafka.createTopic({ name: options.name, partitions: options.partitions });
  const ingest = await startIngest({
    brokers: kafka.brokers,
    topic,
    partitions: options.partitions,
  });
  return {
    kafka,
    topic,
    ingest,
    async stop() {
      await ingest.stop();
      await kafka.close();
      await stopOwnKafka();
    },
  };
}

/** Broker, topic, ingest and one edge with `edgeEnv` on top of the test defaults. */
export async function startEdgeStack(
  options: StackOptions & { readonly edgeEnv?: Readonly<Record<string, string>> },
): Promise<EdgeStack> {
  const stack = await startIngestStack(options);
  let edge: EdgeHarness;
  try {
    edge = await startEdge({
      brokers: stack.kafka.brokers,
      topic: stack.topic,
      ...(options.edgeEnv ? { env: options.edgeEnv } : {}),
    });
  } catch (error) {
    await stack.stop();
    throw error;
  }
  return {
    ...stack,
    edge,
    async stop() {
      await edge.stop();
      await stack.stop();
    },
  };
}

/** Broker, topic and one edge with `edgeEnv` on top of the test defaults, no ingest. */
export async function startLoneEdge(
  options: StackOptions & { readonly edgeEnv?: Readonly<Record<string, string>> },
): Promise<LoneEdgeStack> {
  const kafka = await testKafka();
  const stopKafka = async (): Promise<void> => {
    await kafka.close();
    await stopOwnKafka();
  };
  let edge: EdgeHarness;
  let topic: string;
  try {
    topic = await kafka.createTopic({ name: options.name, partitions: options.partitions });
    edge = await startEdge({
      brokers: kafka.brokers,
      topic,
      ...(options.edgeEnv ? { env: options.edgeEnv } : {}),
    });
  } catch (error) {
    await stopKafka();
    throw error;
  }
  return {
    kafka,
    topic,
    edge,
    async stop() {
      await edge.stop();
      await stopKafka();
    },
  };
}
