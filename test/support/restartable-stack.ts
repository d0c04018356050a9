/**
 * A broker of the test's own that it can kill and start again
 * (`RestartableBroker`), with an ingest and an in-process edge on it: what
 * the chaos tests of the edge set up. `stop()` stops whatever started, the
 * edge first; a start that fails part way stops what it had started.
 */
import { startEdge, type EdgeHarness } from './edge-harness.js';
import { startIngest, type IngestHarness } from './ingest-harness.js';
import { RestartableBroker } from './restartable-broker.js';

export interface RestartableStackOptions {
  /** Names the broker's data directory. */
  readonly name: string;
  readonly topic: string;
  readonly partitions: number;
  /** The edge's environment (FANOUT_EDGE_*). */
  readonly edgeEnv?: Readonly<Record<string, string>>;
}

export interface RestartableStack {
  readonly broker: RestartableBroker;
  readonly ingest: IngestHarness;
  readonly edge: EdgeHarness;
  stop(): Promise<void>;
}

export async function startRestartableStack(
  options: RestartableStackOptions,
): Promise<RestartableStack> {
  const broker = await RestartableBroker.start(options.name);
  let ingest: IngestHarness | undefined;
  let edge: EdgeHarness | undefined;
  const stop = async (): Promise<void> => {
    await edge?.stop();
    await ingest?.stop();
    await broker.stop();
  };
  try {
    ingest = await startIngest({
      brokers: broker.brokers,
      topic: options.topic,
      partitions: options.partitions,
    });
    edge = await startEdge({
      brokers: broker.brokers,
      topic: options.topic,
      ...(options.edgeEnv ? { env: options.edgeEnv } : {}),
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return { broker, ingest, edge, stop };
}
