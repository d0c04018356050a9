/**
 * An edge as its own process (`services/edge/dist/main.js`, configured by
 * environment like in production), for tests that kill it.
 */
import { startServiceProcess } from './service-ready.js';

export interface EdgeProcess {
  readonly pid: number;
  readonly port: number;
  readonly wsUrl: string;
  readonly httpBase: string;
  /** `http://127.0.0.1:<port>` of the metrics server (`/metrics`, `/readyz`). */
  readonly metricsBase: string;
  /** Resolves when the process has exited, whichever way. */
  readonly exited: Promise<number | null>;
  kill(signal: NodeJS.Signals): Promise<void>;
}

export async function startEdgeProcess(options: {
  brokers: readonly string[];
  topic: string;
  env?: Readonly<Record<string, string>>;
  /** Node options before the script (`--cpu-prof`, ...). */
  nodeArgs?: readonly string[];
  timeoutMs?: number;
  /** Another checkout whose build to run (a benchmark comparing two commits); default this one. */
  root?: string;
}): Promise<EdgeProcess> {
  const service = await startServiceProcess({
    service: 'edge',
    script: 'services/edge/dist/main.js',
    root: options.root,
    nodeArgs: options.nodeArgs,
    timeoutMs: options.timeoutMs ?? 30_000,
    env: {
      PATH: process.env['PATH'] ?? '',
      FANOUT_KAFKA_BROKERS: options.brokers.join(','),
      FANOUT_KAFKA_TOPIC: options.topic,
      FANOUT_EDGE_PORT: '0',
      FANOUT_EDGE_FETCH_MAX_WAIT_MS: '200',
      FANOUT_TELEMETRY_METRICS_PORT: '0',
      FANOUT_LOG_LEVEL: 'info',
      ...options.env,
    },
    parse: (line) => {
      if (!line.includes('"edge ready"')) return undefined;
      const listen = /"listen":"[^"]*:(\d+)"/.exec(line)?.[1];
      if (listen === undefined) return undefined;
      return {
        port: Number(listen),
        metricsBase: `http://${/"metrics":"([^"]+)"/.exec(line)?.[1] ?? ''}`,
      };
    },
  });
  const { port, metricsBase } = service.ready;
  return {
    pid: service.child.pid ?? -1,
    port,
    wsUrl: `ws://127.0.0.1:${port}/v1/ws`,
    httpBase: `http://127.0.0.1:${port}`,
    metricsBase,
    exited: service.exited,
    kill: (signal) => service.kill(signal),
  };
}
