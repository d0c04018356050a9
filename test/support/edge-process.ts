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
  /** The `startupMs` of its ready line: ms from its start to each start-up step. */
  readonly startupMs: Readonly<Record<string, number>>;
  /** Resolves when the process has exited, whichever way. */
  readonly exited: Promise<number | null>;
  kill(signal: NodeJS.Signals): Promise<void>;
}

/**
 * How the edge's image runs it (`deploy/docker/edge.Dockerfile`, decision
 * 050): the bundle, with source maps. Benchmarks that time the edge run it
 * so; `npm run build` builds the bundle.
 */
export const edgeAsInImage = {
  script: 'services/edge/dist/bundle/edge.js',
  nodeArgs: ['--enable-source-maps'],
} as const;

export async function startEdgeProcess(options: {
  brokers: readonly string[];
  topic: string;
  env?: Readonly<Record<string, string>>;
  /** Node options before the script (`--cpu-prof`, ...). */
  nodeArgs?: readonly string[];
  timeoutMs?: number;
  /** Another checkout whose build to run (a benchmark comparing two commits); default this one. */
  root?: string;
  /**
   * The edge's entry, relative to the root: `services/edge/dist/main.js` (the
   * default, what `tsc -b` builds) or the bundle `services/edge/dist/bundle/edge.js`.
   */
  script?: string;
}): Promise<EdgeProcess> {
  const service = await startServiceProcess({
    service: 'edge',
    script: options.script ?? 'services/edge/dist/main.js',
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
        startupMs: startupTimes(line),
      };
    },
  });
  const { port, metricsBase, startupMs } = service.ready;
  return {
    pid: service.child.pid ?? -1,
    port,
    wsUrl: `ws://127.0.0.1:${port}/v1/ws`,
    httpBase: `http://127.0.0.1:${port}`,
    metricsBase,
    startupMs,
    exited: service.exited,
    kill: (signal) => service.kill(signal),
  };
}

/** The ready line's `startupMs` object (numbers only), or an empty one. */
function startupTimes(line: string): Readonly<Record<string, number>> {
  try {
    const parsed: unknown = JSON.parse(line);
    const times: unknown =
      typeof parsed === 'object' && parsed !== null && 'startupMs' in parsed
        ? parsed.startupMs
        : undefined;
    if (typeof times !== 'object' || times === null) return {};
    return Object.fromEntries(
      Object.entries(times).filter(
        (entry): entry is [string, number] => typeof entry[1] === 'number',
      ),
    );
  } catch {
    return {};
  }
}
