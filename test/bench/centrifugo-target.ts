/**
 * Centrifugo as a peer in the benchmark suite: where its binary comes from,
 * the configuration the suite runs it with, and the process.
 *
 * The binary is `FANOUT_BENCH_CENTRIFUGO_BIN` when set, else the one
 * `deploy/tools/centrifugo.mjs build` installed (recorded in
 * `<cache>/tools/centrifugo-status.json`); without either the suite reports
 * Centrifugo as not run, with the reason.
 *
 * The configuration (`centrifugoConfig`) is one node with the memory
 * engine, bound to 127.0.0.1, fed from Kafka by Centrifugo's own Kafka
 * consumer in publication data mode: each record's value is the
 * publication's data, its `centrifugo-channels` header the channel
 * (`centrifugoRecord`), the way Centrifugo integrates an existing topic.
 * Clients connect anonymously without a token and may subscribe to any
 * channel without a namespace (as the fanout edge runs in the suite:
 * `edge.authRequired` off); those channels keep a history and force
 * recovery, so a reconnecting client resumes with `recover: true`. The HTTP
 * API (the `ingest` scenario's publish path) requires an API key.
 */
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../support/free-port.js';

/** Where the binary came from, for the results (never its path). */
export type CentrifugoSource = 'FANOUT_BENCH_CENTRIFUGO_BIN' | 'deploy/tools/centrifugo.mjs';

export type CentrifugoBinary =
  | { readonly binary: string; readonly version: string; readonly source: CentrifugoSource }
  | { readonly reason: string };

function statusFile(env: NodeJS.ProcessEnv): string {
  const cache =
    env['FANOUT_CACHE_DIR'] ??
    join(env['XDG_CACHE_HOME'] ?? join(env['HOME'] ?? '', '.cache'), 'fanout');
  return join(cache, 'tools', 'centrifugo-status.json');
}

/** `centrifugo version`'s answer, or FANOUT_BENCH_CENTRIFUGO_VERSION when set. */
function versionOf(binary: string, env: NodeJS.ProcessEnv): string {
  const named = env['FANOUT_BENCH_CENTRIFUGO_VERSION'];
  if (named !== undefined && named !== '') return named;
  return execFileSync(binary, ['version'], { encoding: 'utf8', timeout: 10_000, env: {} }).trim();
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The Centrifugo binary the suite runs, or why there is none. */
export function findCentrifugo(env: NodeJS.ProcessEnv = process.env): CentrifugoBinary {
  const fromEnv = env['FANOUT_BENCH_CENTRIFUGO_BIN'];
  if (fromEnv !== undefined && fromEnv !== '') {
    if (!executable(fromEnv)) {
      return { reason: 'FANOUT_BENCH_CENTRIFUGO_BIN does not name an executable file' };
    }
    return {
      binary: fromEnv,
      version: versionOf(fromEnv, env),
      source: 'FANOUT_BENCH_CENTRIFUGO_BIN',
    };
  }
  const file = statusFile(env);
  if (!existsSync(file)) {
    return {
      reason:
        'no binary: set FANOUT_BENCH_CENTRIFUGO_BIN, or run `node deploy/tools/centrifugo.mjs build` (Go module proxy) first',
    };
  }
  const status = JSON.parse(readFileSync(file, 'utf8')) as { binary?: string; error?: string };
  if (status.binary !== undefined && executable(status.binary)) {
    return {
      binary: status.binary,
      version: versionOf(status.binary, env),
      source: 'deploy/tools/centrifugo.mjs',
    };
  }
  const why = (status.error ?? 'the recorded binary is gone; build it again')
    .replace(/reading https?:\/\/\S+: /g, 'the Go module proxy answers ')
    .replace(/\s+/g, ' ')
    .replace(/\.$/, '');
  return { reason: `${why}; FANOUT_BENCH_CENTRIFUGO_BIN is not set` };
}

export interface CentrifugoOptions {
  readonly binary: string;
  readonly brokers: readonly string[];
  /** The topic its Kafka consumer reads, records written by `centrifugoRecord`. */
  readonly topic: string;
  /** Kept across restarts, so a restarted node resumes from the committed offsets. */
  readonly consumerGroup: string;
  /** Key of the HTTP API (`X-API-Key`). */
  readonly apiKey: string;
  /** Publications kept per channel for recovery [1000]. */
  readonly historySize?: number;
  /** How long a channel's history lives [600]. */
  readonly historyTtlSeconds?: number;
  /** Graceful shutdown before the process exits [2000], like the edge's drain in the suite. */
  readonly shutdownTimeoutMs?: number;
  /** A client's queued bytes before it is disconnected as slow [4 MiB], the edge's backpressure limit in the suite. */
  readonly queueMaxBytes?: number;
  /** Most time to wait until it serves and its consumer owns the topic's partitions [60000]. */
  readonly readyTimeoutMs?: number;
}

/** Centrifugo v6's configuration for the suite (JSON, `centrifugo -c`). */
export function centrifugoConfig(options: CentrifugoOptions, port: number): object {
  return {
    http_server: { address: '127.0.0.1', port },
    log: { level: 'info' },
    usage_stats: { disabled: true },
    engine: { type: 'memory' },
    client: {
      allow_anonymous_connect_without_token: true,
      queue_max_size: options.queueMaxBytes ?? 4 * 1024 * 1024,
    },
    channel: {
      without_namespace: {
        allow_subscribe_for_anonymous: true,
        allow_subscribe_for_client: true,
        history_size: options.historySize ?? 1000,
        history_ttl: `${options.historyTtlSeconds ?? 600}s`,
        force_recovery: true,
      },
    },
    http_api: { key: options.apiKey },
    shutdown: { timeout: `${options.shutdownTimeoutMs ?? 2000}ms` },
    consumers: [
      {
        name: 'fanout_bench',
        enabled: true,
        type: 'kafka',
        kafka: {
          brokers: options.brokers,
          topics: [options.topic],
          consumer_group: options.consumerGroup,
          // Static membership, as Centrifugo advises for restarts: the restarted
          // node takes its partitions back without waiting for a rebalance.
          instance_id: `${options.consumerGroup}-node`,
          // The edge's FANOUT_EDGE_FETCH_MAX_WAIT_MS in the suite.
          fetch_max_wait: '200ms',
          publication_data_mode: { enabled: true },
        },
      },
    ],
  };
}

/** A Kafka record Centrifugo's consumer publishes as `data` into `channel`. */
export function centrifugoRecord(
  channel: string,
  data: Buffer,
  partition: number,
): { key: string; value: Buffer; partition: number; headers: Record<string, string> } {
  return { key: channel, value: data, partition, headers: { 'centrifugo-channels': channel } };
}

export interface CentrifugoServer {
  readonly pid: number;
  readonly port: number;
  /** Resolves when the process has exited. */
  readonly exited: Promise<void>;
  /** SIGTERM (its graceful shutdown), SIGKILL after 15 s; removes its config. */
  stop(): Promise<void>;
}

/** Starts one node; resolves once it serves WebSockets and its consumer owns the topic's partitions. */
export async function startCentrifugo(options: CentrifugoOptions): Promise<CentrifugoServer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options, await freePort());
    } catch (error) {
      // Another process took the free port between the check and the bind.
      if (attempt >= 3 || !String(error).includes('address already in use')) throw error;
    }
  }
}

async function startOnce(options: CentrifugoOptions, port: number): Promise<CentrifugoServer> {
  const dir = mkdtempSync(join(tmpdir(), 'fanout-bench-centrifugo-'));
  const configFile = join(dir, 'config.json');
  await writeFile(configFile, JSON.stringify(centrifugoConfig(options, port), null, 2));
  const child = spawn(options.binary, ['-c', configFile], {
    cwd: dir,
    // Nothing from this environment: Centrifugo reads CENTRIFUGO_* variables as configuration.
    env: { PATH: process.env['PATH'] ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = once(child, 'exit').then(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  let output = '';
  let serving = false;
  let consuming = false;
  const ready = new Promise<void>((resolve, reject) => {
    const timeoutMs = options.readyTimeoutMs ?? 60_000;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`Centrifugo not ready in ${timeoutMs} ms: ${output.slice(-3000)}`));
    }, timeoutMs);
    const onOutput = (chunk: Buffer): void => {
      // Read to the end always: a full pipe would stall its logging.
      output = (output + chunk.toString('utf8')).slice(-20_000);
      if (serving && consuming) return;
      serving ||= output.includes('"message":"serving websocket');
      consuming ||= output.includes('"message":"new group session begun"');
      if (serving && consuming) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', onOutput);
    child.stderr.on('data', onOutput);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`Centrifugo exited (${child.exitCode}): ${output.slice(-3000)}`));
    });
  });
  await ready;
  return {
    pid: child.pid ?? -1,
    port,
    exited,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) {
        await exited;
        return;
      }
      child.kill('SIGTERM');
      const force = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(force);
    },
  };
}
