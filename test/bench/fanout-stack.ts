/**
 * The system under load as real processes on loopback: one ingest
 * (`services/ingest/dist/main.js`) and one edge (`services/edge/dist/main.js`),
 * both configured by environment as in production, on a topic of their own
 * in the given broker. Used by the load-script smoke test and the benchmark
 * runner; stops what it started.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { repoRoot } from '../support/repo-paths.js';
import { startEdgeProcess, type EdgeProcess } from '../support/edge-process.js';

export interface IngestProcess {
  readonly pid: number;
  /** host:port of the gRPC API. */
  readonly grpcAddress: string;
  readonly metricsUrl: string;
  stop(): Promise<void>;
}

export interface FanoutStack {
  readonly ingest: IngestProcess;
  readonly edge: EdgeProcess;
  readonly topic: string;
  /** The environment the k6 scripts read (`test/load/lib/fanout.js`). */
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

export async function startIngestProcess(options: StackOptions): Promise<IngestProcess> {
  const child: ChildProcessByStdio<null, Readable, Readable> = spawn(
    process.execPath,
    [...(options.ingestNodeArgs ?? []), join(repoRoot, 'services', 'ingest', 'dist', 'main.js')],
    {
      cwd: repoRoot,
      env: {
        PATH: process.env['PATH'] ?? '',
        FANOUT_KAFKA_BROKERS: options.brokers.join(','),
        FANOUT_KAFKA_TOPIC: options.topic,
        FANOUT_KAFKA_PARTITIONS: String(options.partitions),
        FANOUT_INGEST_HOST: '127.0.0.1',
        FANOUT_INGEST_GRPC_PORT: '0',
        FANOUT_INGEST_HTTP_PORT: '0',
        FANOUT_TELEMETRY_METRICS_PORT: '0',
        FANOUT_LOG_LEVEL: 'info',
        ...options.ingestEnv,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    output = (output + chunk).slice(-8000);
  });
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      resolve();
    }),
  );
  const ready = await new Promise<{ grpc: string; metrics: string }>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`ingest was not ready within 60 s:\n${output}`));
    }, 60_000);
    let buffered = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      output = (output + chunk).slice(-8000);
      buffered += chunk;
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        try {
          const entry = JSON.parse(line) as { msg?: string; grpc?: string; metrics?: string };
          if (entry.msg === 'ingest ready' && entry.grpc && entry.metrics) {
            clearTimeout(timer);
            resolve({ grpc: entry.grpc, metrics: entry.metrics });
          }
        } catch {
          // not a log line
        }
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`ingest exited before it was ready:\n${output}`));
    });
  });
  // Keep reading so a full pipe never blocks the ingest.
  child.stdout.resume();
  return {
    pid: child.pid ?? -1,
    grpcAddress: ready.grpc,
    metricsUrl: `http://${ready.metrics}/metrics`,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const force = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(force);
    },
  };
}

export async function startFanoutStack(options: StackOptions): Promise<FanoutStack> {
  const edgeOptions = {
    brokers: options.brokers,
    topic: options.topic,
    env: { FANOUT_KAFKA_PARTITIONS: String(options.partitions), ...options.edgeEnv },
    nodeArgs: options.edgeNodeArgs ?? [],
  };
  const ingest = await startIngestProcess(options);
  let edge: EdgeProcess;
  try {
    edge = await startEdgeProcess(edgeOptions);
  } catch (error) {
    await ingest.stop();
    throw error;
  }
  const k6Env = (): Record<string, string> => ({
    FANOUT_EDGE_URL: edge.httpBase,
    FANOUT_INGEST_GRPC: ingest.grpcAddress,
    FANOUT_PROTO_DIR: join(repoRoot, 'proto'),
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
