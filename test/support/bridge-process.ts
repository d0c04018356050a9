/**
 * A bridge as its own process (`services/bridge/dist/main.js`), configured
 * by a configuration file (its resources and origins are objects) and the
 * environment. Resolves once the process logged `bridge ready`.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FanoutConfigInput } from '@fanout/shared';
import { startServiceProcess } from './service-ready.js';

export interface BridgeProcess {
  readonly pid: number;
  /** `http://127.0.0.1:<port>` of the bridge HTTP server (leases, /readyz). */
  readonly httpBase: string;
  readonly metricsBase: string;
  readonly exited: Promise<number | null>;
  kill(signal: NodeJS.Signals): Promise<void>;
}

interface ReadyLine {
  readonly msg?: unknown;
  readonly http?: unknown;
  readonly metrics?: unknown;
}

function readyAddresses(line: string): { http: string; metrics: string } | undefined {
  if (!line.includes('"bridge ready"')) return undefined;
  try {
    const { msg, http, metrics } = JSON.parse(line) as ReadyLine;
    if (msg !== 'bridge ready' || typeof http !== 'string' || typeof metrics !== 'string') {
      return undefined;
    }
    return { http, metrics };
  } catch {
    return undefined;
  }
}

export async function startBridgeProcess(options: {
  /** The configuration file's content (`bridge`, `cluster`, ...). */
  readonly config: FanoutConfigInput;
  readonly env?: Readonly<Record<string, string>>;
  /** Node options before the script (`--cpu-prof`, ...). */
  readonly nodeArgs?: readonly string[];
  readonly timeoutMs?: number;
}): Promise<BridgeProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'fanout-bridge-'));
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify(options.config));
  const service = await startServiceProcess({
    service: 'bridge',
    script: 'services/bridge/dist/main.js',
    nodeArgs: options.nodeArgs,
    timeoutMs: options.timeoutMs ?? 60_000,
    env: {
      PATH: process.env['PATH'] ?? '',
      FANOUT_LOG_LEVEL: 'info',
      FANOUT_TELEMETRY_METRICS_PORT: '0',
      FANOUT_TELEMETRY_METRICS_HOST: '127.0.0.1',
      ...options.env,
      FANOUT_CONFIG_FILE: file,
    },
    parse: readyAddresses,
  });
  const { child, ready, exited } = service;
  return {
    pid: child.pid ?? -1,
    httpBase: `http://${ready.http.replace(/^0\.0\.0\.0:/, '127.0.0.1:')}`,
    metricsBase: `http://${ready.metrics}`,
    exited,
    kill: (signal) => service.kill(signal),
  };
}
