/**
 * An ingest as its own process (`services/ingest/dist/main.js`, configured by
 * environment like in production), for tests and benchmarks that run the
 * services as real processes: the load-script smoke test, the cluster tests
 * and the ingest benchmark. Resolves once the process logged `ingest ready`.
 */
import { startServiceProcess } from './service-ready.js';

export interface IngestProcess {
  readonly pid: number;
  /** `127.0.0.1:<port>` of the gRPC API. */
  readonly grpcAddress: string;
  /** `http://127.0.0.1:<port>` of the HTTP publish API. */
  readonly httpBase: string;
  /** `http://127.0.0.1:<port>` of the metrics server (`/metrics`, `/readyz`). */
  readonly metricsBase: string;
  /** Resolves when the process has exited, whichever way. */
  readonly exited: Promise<number | null>;
  kill(signal: NodeJS.Signals): Promise<void>;
  /** SIGTERM (the ingest drains), then SIGKILL if it is still running after `graceMs` (30 s). */
  stop(graceMs?: number): Promise<void>;
}

export interface IngestProcessOptions {
  readonly brokers: readonly string[];
  readonly topic: string;
  /**
   * More environment of the process (`FANOUT_KAFKA_PARTITIONS`, ...), over
   * `PATH` and `FANOUT_LOG_LEVEL=info`. The brokers, the topic and the
   * listeners (127.0.0.1, port 0) are always the ones this starter sets.
   */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Node options before the script (`--cpu-prof`, ...). */
  readonly nodeArgs?: readonly string[];
  /** How long the start may take (60 s); then the process is killed. */
  readonly timeoutMs?: number;
}

interface ReadyLine {
  readonly msg?: unknown;
  readonly grpc?: unknown;
  readonly http?: unknown;
  readonly metrics?: unknown;
}

/** The listen addresses of an `ingest ready` log line, if `line` is one. */
function readyAddresses(line: string): { grpc: string; http: string; metrics: string } | undefined {
  if (!line.includes('"ingest ready"')) return undefined;
  let entry: ReadyLine;
  try {
    entry = JSON.parse(line) as ReadyLine;
  } catch {
    return undefined;
  }
  const { msg, grpc, http, metrics } = entry;
  if (msg !== 'ingest ready') return undefined;
  if (typeof grpc !== 'string' || typeof http !== 'string' || typeof metrics !== 'string') {
    return undefined;
  }
  return { grpc, http, metrics };
}

export async function startIngestProcess(options: IngestProcessOptions): Promise<IngestProcess> {
  const service = await startServiceProcess({
    service: 'ingest',
    script: 'services/ingest/dist/main.js',
    nodeArgs: options.nodeArgs,
    timeoutMs: options.timeoutMs ?? 60_000,
    env: {
      PATH: process.env['PATH'] ?? '',
      FANOUT_LOG_LEVEL: 'info',
      ...options.env,
      FANOUT_KAFKA_BROKERS: options.brokers.join(','),
      FANOUT_KAFKA_TOPIC: options.topic,
      FANOUT_INGEST_HOST: '127.0.0.1',
      FANOUT_INGEST_GRPC_PORT: '0',
      FANOUT_INGEST_HTTP_PORT: '0',
      FANOUT_TELEMETRY_METRICS_PORT: '0',
    },
    parse: readyAddresses,
  });
  const { child, ready, exited } = service;
  return {
    pid: child.pid ?? -1,
    grpcAddress: ready.grpc,
    httpBase: `http://${ready.http}`,
    metricsBase: `http://${ready.metrics}`,
    exited,
    kill: (signal) => service.kill(signal),
    async stop(graceMs = 30_000) {
      if (!service.running()) return;
      child.kill('SIGTERM');
      const force = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(force);
    },
  };
}
