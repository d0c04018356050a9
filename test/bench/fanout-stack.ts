/**
 * The system under load as real processes on loopback: one ingest
 * (`services/ingest/dist/main.js`) and one edge (`services/edge/dist/main.js`),
 * both configured by environment as in production, on a topic of their own
 * in the given broker. Used by the load-script smoke test; stops what it
 * started.
 */
import { join } from 'node:path';
import { repoRoot } from '../support/repo-paths.js';
import { startEdgeProcess, type EdgeProcess } from '../support/edge-process.js';
import { startIngestProcess, type IngestProcess } from '../support/ingest-process.js';

export interface FanoutStack {
  readonly ingest: IngestProcess;
  readonly edge: EdgeProcess;
  readonly topic: string;
  /** The environment the k6 scripts read (`test/load/fanout-load.js`). */
  readonly k6Env: Readonly<Record<string, string>>;
  /** Starts a fresh edge process in place of the current one (SIGTERM, then start). */
  restartEdge(): Promise<EdgeProcess>;
  stop(): Promise<void>;
}

export interface StackOptions {
  readonly brokers: readonly string[];
  readonly topic: string;
  readonly partitions: number;
  readonly ingestEnv?: Readonly<Record<string, string>>;
  readonly edgeEnv?: Readonly<Record<string, string>>;
  /** Node options for the ingest process (`--cpu-prof`, ...). */
  readonly ingestNodeArgs?: readonly string[];
  /** Node options for the edge process. */
  readonly edgeNodeArgs?: readonly string[];
}

export async function startFanoutStack(options: StackOptions): Promise<FanoutStack> {
  const edgeOptions = {
    brokers: options.brokers,
    topic: options.topic,
    env: { FANOUT_KAFKA_PARTITIONS: String(options.partitions), ...options.edgeEnv },
    nodeArgs: options.edgeNodeArgs ?? [],
  };
  const ingest = await startIngestProcess({
    brokers: options.brokers,
    topic: options.topic,
    env: { FANOUT_KAFKA_PARTITIONS: String(options.partitions), ...options.ingestEnv },
    nodeArgs: options.ingestNodeArgs ?? [],
  });
  let edge: EdgeProcess;
  try {
    edge = await startEdgeProcess(edgeOptions);
  } catch (error) {
    await ingest.stop();
    throw error;
  }
  const k6Env = (): Record<string, string> => ({
    FANOUT_LOAD_EDGE_URL: edge.httpBase,
    FANOUT_LOAD_INGEST_GRPC: ingest.grpcAddress,
    FANOUT_LOAD_PROTO_DIR: join(repoRoot, 'proto'),
  });
  return {
    ingest,
    get edge() {
      return edge;
    },
    topic: options.topic,
    get k6Env() {
      return k6Env();
    },
    async restartEdge() {
      await edge.kill('SIGTERM');
      edge = await startEdgeProcess(edgeOptions);
      return edge;
    },
    async stop() {
      await Promise.all([edge.kill('SIGTERM').catch(() => undefined), ingest.stop()]);
    },
  };
}
