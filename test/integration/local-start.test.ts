/**
 * `npm start` (deploy/local/start.mjs) with the tooling variables set: it
 * passes its environment to ingest and edge, whose configuration loader
 * rejects unknown FANOUT_* variables, so every tooling variable must be one
 * they leave alone. One run sets every documented variable of npm start and
 * the local broker (ports, heap, JVM options, class-data sharing, cache),
 * and every other tooling variable the repository reads (tests, benchmarks,
 * load scripts); a second run uses the former names of the broker's
 * variables. Each run waits for the ready output, checks ingest, edge, the
 * bridge, the demo page and the broker's JVM options, publishes and reads
 * one event, reads the demo upstream's tickers as the state of
 * `demo.tickers` from the edge, and stops it with SIGTERM. Bounded: a run that is not ready within 150 s
 * fails, and it is stopped in any case.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { configFields, configFileEnv, isReservedEnv } from '@fanout/shared';
import { repoRoot } from '../support/index.js';
import { toolingEnvReads } from '../support/tooling-env.js';

const host = '127.0.0.1';
const readyTimeoutMs = 150_000;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => {
        resolve(port);
      });
    });
  });
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => {
      resolve(false);
    });
    server.listen(port, host, () => {
      server.close(() => {
        resolve(true);
      });
    });
  });
}

/** Free ports for npm start; the metrics port and the two after it (edge, bridge) all free. */
async function localPorts(): Promise<Record<string, string>> {
  let metrics = await freePort();
  while (metrics >= 65534 || !(await portIsFree(metrics + 1)) || !(await portIsFree(metrics + 2))) {
    metrics = await freePort();
  }
  const ports = new Set([metrics, metrics + 1, metrics + 2]);
  const next = async (): Promise<number> => {
    for (;;) {
      const port = await freePort();
      if (!ports.has(port)) {
        ports.add(port);
        return port;
      }
    }
  };
  return {
    FANOUT_LOCAL_KAFKA_PORT: String(await next()),
    FANOUT_LOCAL_GRPC_PORT: String(await next()),
    FANOUT_LOCAL_HTTP_PORT: String(await next()),
    FANOUT_LOCAL_EDGE_PORT: String(await next()),
    FANOUT_LOCAL_METRICS_PORT: String(metrics),
    FANOUT_LOCAL_DEMO_PORT: String(await next()),
    FANOUT_LOCAL_UPSTREAM_PORT: String(await next()),
    FANOUT_LOCAL_BRIDGE_PORT: String(await next()),
  };
}

/** The cache root the local broker script uses by default (where the jars already are). */
function defaultCacheDir(): string {
  const set = (name: string): string | undefined => {
    const value = process.env[name];
    return value === undefined || value === '' ? undefined : value;
  };
  return (
    set('FANOUT_CACHE_DIR') ?? join(set('XDG_CACHE_HOME') ?? join(homedir(), '.cache'), 'fanout')
  );
}

/** The environment of this process without any FANOUT_* variable, as a clean shell has. */
function cleanEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !name.startsWith('FANOUT_')) env[name] = value;
  }
  return env;
}

/** Command line of the broker JVM that `parent` started (Linux /proc), if found. */
function brokerCommandLine(parent: number): string[] | undefined {
  if (!existsSync('/proc/self/stat')) return undefined;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== parent) continue;
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (args.includes('kafka.Kafka')) return args;
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

interface LocalRun {
  readonly child: ChildProcess;
  readonly output: () => string;
  readonly exited: Promise<number | null>;
}

const runs: LocalRun[] = [];

function startLocal(env: Record<string, string>): LocalRun {
  const child = spawn(process.execPath, [join(repoRoot, 'deploy', 'local', 'start.mjs')], {
    cwd: repoRoot,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const collect = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-200_000);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      resolve(code);
    });
  });
  const run = { child, output: () => output, exited };
  runs.push(run);
  return run;
}

async function waitForReady(run: LocalRun): Promise<void> {
  const deadline = Date.now() + readyTimeoutMs;
  let exitCode: number | null | undefined;
  void run.exited.then((code) => {
    exitCode = code;
  });
  while (!run.output().includes('fanout is running')) {
    if (exitCode !== undefined) {
      assert.fail(`npm start exited with ${exitCode} before it was ready:\n${run.output()}`);
    }
    if (Date.now() > deadline) {
      assert.fail(`npm start was not ready within ${readyTimeoutMs} ms:\n${run.output()}`);
    }
    await sleep(250);
  }
}

/** SIGTERM, as Ctrl-C would; SIGKILL after 60 s. Resolves with the exit code. */
async function stopLocal(run: LocalRun): Promise<number | null> {
  if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGTERM');
  const force = setTimeout(() => run.child.kill('SIGKILL'), 60_000);
  const code = await run.exited;
  clearTimeout(force);
  return code;
}

/** The edge serves the demo upstream's tickers as the state of `demo.tickers` (bounded). */
async function checkLiveResource(ports: Record<string, string>): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const response = await fetch(
      `http://${host}:${ports['FANOUT_LOCAL_EDGE_PORT']}/v1/state/demo.tickers`,
    );
    const snapshot =
      response.status === 200
        ? ((await response.json()) as { exists: boolean; state: { symbol: string }[] })
        : undefined;
    if (snapshot === undefined) await response.body?.cancel();
    if (snapshot?.exists === true) {
      const upstream = await fetch(`http://${host}:${ports['FANOUT_LOCAL_UPSTREAM_PORT']}/tickers`);
      const tickers = (await upstream.json()) as { symbol: string }[];
      assert.deepEqual(
        snapshot.state.map((ticker) => ticker.symbol),
        tickers.map((ticker) => ticker.symbol),
      );
      return;
    }
    assert.ok(Date.now() < deadline, 'the edge serves demo.tickers, published by the bridge');
    await sleep(250);
  }
}

/** Ingest, edge, bridge, demo page and broker answer; one event goes through. */
async function checkRunning(ports: Record<string, string>): Promise<void> {
  const metrics = Number(ports['FANOUT_LOCAL_METRICS_PORT']);
  for (const [name, port] of [
    ['ingest', metrics],
    ['edge', metrics + 1],
    ['bridge', metrics + 2],
  ] as const) {
    const response = await fetch(`http://${host}:${port}/readyz`);
    assert.equal(response.status, 200, `${name} is ready`);
    await response.body?.cancel();
  }
  const demo = await fetch(`http://${host}:${ports['FANOUT_LOCAL_DEMO_PORT']}/`);
  assert.equal(demo.status, 200, 'the demo page is served');
  await demo.body?.cancel();

  const channel = `start.${randomBytes(3).toString('hex')}`;
  const published = await fetch(
    `http://${host}:${ports['FANOUT_LOCAL_HTTP_PORT']}/v1/channels/${channel}/events`,
    {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'hello', data: { n: 1 } }),
    },
  );
  assert.equal(published.status, 200, await published.clone().text());
  const deadline = Date.now() + 30_000;
  for (;;) {
    const response = await fetch(
      `http://${host}:${ports['FANOUT_LOCAL_EDGE_PORT']}/v1/channels/${channel}?limit=10`,
    );
    const page =
      response.status === 200
        ? ((await response.json()) as { events: { data: { n: number } }[] })
        : undefined;
    if (page === undefined) await response.body?.cancel();
    if (page?.events.length === 1) {
      assert.deepEqual(page.events[0]?.data, { n: 1 });
      return;
    }
    assert.ok(Date.now() < deadline, 'the edge serves the published event');
    await sleep(250);
  }
}

describe('npm start with the tooling variables set', () => {
  after(async () => {
    for (const run of runs) await stopLocal(run);
  });

  it(
    'starts with every tooling variable set, and the broker variables apply',
    {
      timeout: readyTimeoutMs + 90_000,
    },
    async () => {
      const marker = randomBytes(4).toString('hex');
      const ports = await localPorts();
      // Every other tooling variable the repository reads, as a shell that ran
      // tests, benchmarks or load scripts may still have it.
      const others: Record<string, string> = {};
      const settings = new Set([...configFields.map((field) => field.env), configFileEnv]);
      for (const name of toolingEnvReads().keys()) {
        if (!settings.has(name) && isReservedEnv(name)) others[name] = '1';
      }
      const env = {
        ...cleanEnv(),
        ...others,
        ...ports,
        FANOUT_LOCAL_KAFKA_HEAP: '640m',
        FANOUT_LOCAL_KAFKA_JVM_OPTS: `-Dfanout.start.marker=${marker} -Dfanout.start.other=1`,
        FANOUT_LOCAL_KAFKA_CDS: '0',
        FANOUT_CACHE_DIR: defaultCacheDir(),
      };
      const run = startLocal(env);
      await waitForReady(run);
      await checkRunning(ports);
      await checkLiveResource(ports);
      const jvm = brokerCommandLine(run.child.pid ?? -1);
      if (jvm !== undefined) {
        assert.ok(jvm.includes('-Xmx640m'), 'FANOUT_LOCAL_KAFKA_HEAP sets the heap');
        assert.ok(jvm.includes(`-Dfanout.start.marker=${marker}`), 'FANOUT_LOCAL_KAFKA_JVM_OPTS');
        assert.ok(jvm.includes('-Dfanout.start.other=1'), 'FANOUT_LOCAL_KAFKA_JVM_OPTS, split');
        assert.ok(
          !jvm.some((arg) => arg.includes('SharedArchiveFile') || arg.includes('ArchiveClasses')),
          'FANOUT_LOCAL_KAFKA_CDS=0 turns class-data sharing off',
        );
      }
      assert.doesNotMatch(run.output(), /unknown setting/);
      assert.doesNotMatch(run.output(), /fetching Apache Kafka/, 'FANOUT_CACHE_DIR has the jars');
      assert.equal(await stopLocal(run), 0, run.output());
      assert.match(run.output(), /nothing is left running/);
    },
  );

  it(
    'still takes the former names of the broker variables, with a warning',
    {
      timeout: readyTimeoutMs + 90_000,
    },
    async () => {
      const ports = await localPorts();
      const run = startLocal({
        ...cleanEnv(),
        ...ports,
        FANOUT_KAFKA_HEAP: '600m',
        FANOUT_KAFKA_JVM_OPTS: '-Dfanout.start.former=1',
        FANOUT_KAFKA_CDS: '0',
      });
      await waitForReady(run);
      await checkRunning(ports);
      const jvm = brokerCommandLine(run.child.pid ?? -1);
      if (jvm !== undefined) {
        assert.ok(jvm.includes('-Xmx600m'));
        assert.ok(jvm.includes('-Dfanout.start.former=1'));
      }
      for (const [former, name] of [
        ['FANOUT_KAFKA_HEAP', 'FANOUT_LOCAL_KAFKA_HEAP'],
        ['FANOUT_KAFKA_JVM_OPTS', 'FANOUT_LOCAL_KAFKA_JVM_OPTS'],
        ['FANOUT_KAFKA_CDS', 'FANOUT_LOCAL_KAFKA_CDS'],
      ]) {
        assert.match(run.output(), new RegExp(`${former} is deprecated.*set ${name}`));
      }
      assert.equal(await stopLocal(run), 0, run.output());
    },
  );
});
