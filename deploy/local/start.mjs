// @ts-check
/**
 * `npm start`: the whole system on this machine, default configuration.
 *
 * Installs and builds if needed, starts a real Kafka broker (KRaft, from the
 * cached Maven Central jars), then one ingest and one edge process, a demo
 * upstream (a plain JSON API whose tickers change, deploy/local/demo-upstream.mjs)
 * and one bridge polling it into the state channel `demo.tickers`
 * (docs/guides/live-resources.md), waits for each to report ready, and prints
 * where to publish and where to connect.
 * Ctrl-C (or SIGTERM) drains the services, stops the broker and removes its
 * data; nothing is left running. Everything binds to 127.0.0.1.
 *
 * Ports can be moved with environment variables (defaults in brackets):
 *   FANOUT_LOCAL_KAFKA_PORT [9092]    FANOUT_LOCAL_GRPC_PORT [50051]
 *   FANOUT_LOCAL_HTTP_PORT [8080]     FANOUT_LOCAL_EDGE_PORT [8081]
 *   FANOUT_LOCAL_METRICS_PORT [9464]  (ingest; the edge uses the next port)
 *   FANOUT_LOCAL_DEMO_PORT [8082]     (the browser demo of @fanout/client)
 *   FANOUT_LOCAL_UPSTREAM_PORT [8083] (the demo upstream: GET /tickers, /orderbook/{symbol})
 *   FANOUT_LOCAL_BRIDGE_PORT [8090]   (the bridge's HTTP server; its metrics port is
 *                                      the ingest's + 2)
 * The broker also reads FANOUT_LOCAL_KAFKA_HEAP, FANOUT_LOCAL_KAFKA_JVM_OPTS,
 * FANOUT_LOCAL_KAFKA_CDS and FANOUT_CACHE_DIR (deploy/kafka/local-kafka.mjs).
 * Ingest and edge get this environment, so any FANOUT_* setting of theirs
 * applies (docs/reference/configuration.md); tooling variables
 * (FANOUT_LOCAL_*, FANOUT_TEST_*, FANOUT_BENCH_*, FANOUT_LOAD_*,
 * FANOUT_CACHE_DIR) are left alone by them. The bridge gets the same
 * environment and a configuration file (FANOUT_CONFIG_FILE, written to a
 * temporary directory): the one named by FANOUT_CONFIG_FILE if set, with the
 * demo upstream's origin and the `demo.tickers` resource added to its
 * `bridge` section.
 *
 * State checkpoints are on (FANOUT_EDGE_STATE_CHECKPOINTS_ENABLED, unless
 * set otherwise): the edge owns every partition, so it writes the
 * checkpoints and creates their compacted topic `<topic>.state` as soon as
 * the events topic exists (docs/decisions/045-state-checkpoints.md).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startDemoServer } from '../../services/client/demo/demo-server.mjs';
import { startLocalKafka } from '../kafka/local-kafka.mjs';
import { startDemoUpstream } from './demo-upstream.mjs';
import { build, ensureInstalled, repoRoot } from './workspace.mjs';

const host = '127.0.0.1';

/**
 * @param {string} name
 * @param {number} fallback
 */
function portFromEnv(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    console.error(`fanout: ${name} must be a port number 1-65535 (got "${raw}")`);
    process.exit(2);
  }
  return port;
}

const ports = {
  kafka: portFromEnv('FANOUT_LOCAL_KAFKA_PORT', 9092),
  grpc: portFromEnv('FANOUT_LOCAL_GRPC_PORT', 50051),
  http: portFromEnv('FANOUT_LOCAL_HTTP_PORT', 8080),
  edge: portFromEnv('FANOUT_LOCAL_EDGE_PORT', 8081),
  ingestMetrics: portFromEnv('FANOUT_LOCAL_METRICS_PORT', 9464),
  demo: portFromEnv('FANOUT_LOCAL_DEMO_PORT', 8082),
  upstream: portFromEnv('FANOUT_LOCAL_UPSTREAM_PORT', 8083),
  bridge: portFromEnv('FANOUT_LOCAL_BRIDGE_PORT', 8090),
};
const edgeMetrics = ports.ingestMetrics + 1;
const bridgeMetrics = ports.ingestMetrics + 2;

/** The live resource of the demo: the upstream's tickers as a state channel. */
const resource = {
  channel: 'demo.tickers',
  statusChannel: 'demo.tickers.status',
  url: `http://${host}:${ports.upstream}/tickers`,
};

/** @param {string} line */
const say = (line) => console.error(`fanout: ${line}`);

/** @type {{ name: string, child: import('node:child_process').ChildProcess }[]} */
const services = [];
/** @type {{ stop(): Promise<void> } | undefined} */
let kafka;
/** @type {{ close(): Promise<void> } | undefined} */
let demo;
/** @type {{ close(): Promise<void> } | undefined} */
let upstream;
/** @type {string | undefined} */
let bridgeConfigDir;
let stopping = false;

/**
 * Starts a service's compiled main with its configuration in the environment
 * and waits until its /readyz answers 200.
 * @param {string} name
 * @param {string} main
 * @param {number} metricsPort
 * @param {Record<string, string>} env
 */
async function startService(name, main, metricsPort, env) {
  const child = spawn(process.execPath, ['--enable-source-maps', join(repoRoot, main)], {
    cwd: repoRoot,
    env: {
      ...process.env,
      FANOUT_KAFKA_BROKERS: `${host}:${ports.kafka}`,
      FANOUT_TELEMETRY_METRICS_HOST: host,
      FANOUT_TELEMETRY_METRICS_PORT: String(metricsPort),
      ...env,
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  services.push({ name, child });
  child.once('exit', (code, signal) => {
    if (stopping) return;
    say(`${name} exited unexpectedly (${signal ?? `exit ${code}`}); stopping everything`);
    void shutdown(1);
  });
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null || stopping) throw new Error(`${name} did not start`);
    try {
      const response = await fetch(`http://${host}:${metricsPort}/readyz`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${name} not ready after 60 s`);
    await sleep(200);
  }
}

/**
 * The bridge's configuration file: the user's (FANOUT_CONFIG_FILE) if any,
 * with the demo upstream allowed (it is on loopback, hence allowPrivate) and
 * its tickers declared as a resource.
 * @returns {string} the file's path
 */
function writeBridgeConfig() {
  const userFile = process.env['FANOUT_CONFIG_FILE'];
  /** @type {{ bridge?: { origins?: unknown[], resources?: unknown[], [key: string]: unknown } }} */
  const config =
    userFile === undefined || userFile === '' ? {} : JSON.parse(readFileSync(userFile, 'utf8'));
  const bridge = config.bridge ?? {};
  config.bridge = {
    ...bridge,
    host,
    port: ports.bridge,
    ingestAddress: `${host}:${ports.grpc}`,
    origins: [
      ...(bridge.origins ?? []),
      { origin: new URL(resource.url).origin, allowPrivate: true },
    ],
    resources: [
      ...(bridge.resources ?? []),
      { channel: resource.channel, url: resource.url, intervalMs: 1000, arrayKey: '/symbol' },
    ],
  };
  bridgeConfigDir = mkdtempSync(join(tmpdir(), 'fanout-local-bridge-'));
  const file = join(bridgeConfigDir, 'config.json');
  writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

/**
 * SIGTERM, then SIGKILL after 20 s; resolves once the child exited.
 * @param {import('node:child_process').ChildProcess} child
 * @returns {Promise<void>}
 */
function stopChild(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const force = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** @param {number} code */
async function shutdown(code) {
  if (stopping) return;
  stopping = true;
  say('stopping services');
  await demo?.close();
  // The bridge first, so its last publishes still find the ingest.
  await Promise.all(
    services.filter(({ name }) => name === 'bridge').map(({ child }) => stopChild(child)),
  );
  await upstream?.close();
  await Promise.all(
    services.filter(({ name }) => name !== 'bridge').map(({ child }) => stopChild(child)),
  );
  if (bridgeConfigDir !== undefined) rmSync(bridgeConfigDir, { recursive: true, force: true });
  if (kafka !== undefined) {
    say('stopping Kafka');
    await kafka.stop();
  }
  say('stopped; nothing is left running');
  process.exit(code);
}

for (const signal of /** @type {const} */ (['SIGINT', 'SIGTERM', 'SIGHUP'])) {
  process.on(signal, () => void shutdown(0));
}

try {
  await ensureInstalled(say);
  await build(say);
  say(`starting Kafka on ${host}:${ports.kafka}`);
  kafka = await startLocalKafka({ port: ports.kafka });
  if (stopping) throw new Error('interrupted');
  say('starting ingest');
  await startService('ingest', 'services/ingest/dist/main.js', ports.ingestMetrics, {
    FANOUT_INGEST_HOST: host,
    FANOUT_INGEST_GRPC_PORT: String(ports.grpc),
    FANOUT_INGEST_HTTP_PORT: String(ports.http),
    // The demo page publishes from its own origin.
    FANOUT_INGEST_CORS_ORIGINS: `http://${host}:${ports.demo}`,
  });
  say('starting edge');
  await startService('edge', 'services/edge/dist/bundle/edge.js', edgeMetrics, {
    FANOUT_EDGE_HOST: host,
    FANOUT_EDGE_PORT: String(ports.edge),
    FANOUT_EDGE_STATE_CHECKPOINTS_ENABLED:
      process.env['FANOUT_EDGE_STATE_CHECKPOINTS_ENABLED'] ?? 'true',
  });
  say(`starting the demo upstream on ${host}:${ports.upstream}`);
  upstream = await startDemoUpstream({ host, port: ports.upstream });
  say('starting bridge');
  await startService('bridge', 'services/bridge/dist/main.js', bridgeMetrics, {
    FANOUT_CONFIG_FILE: writeBridgeConfig(),
  });
  demo = await startDemoServer({
    host,
    port: ports.demo,
    edge: `http://${host}:${ports.edge}`,
    ingest: `http://${host}:${ports.http}`,
    resource,
  });
  console.log(`
fanout is running (Ctrl-C stops everything)

  demo      http://${host}:${ports.demo}/?channel=demo   (browser page of @fanout/client)
  upstream  http://${host}:${ports.upstream}/tickers   (a plain JSON API that changes; also /orderbook/AAPL)
  resource  curl -N 'http://${host}:${ports.edge}/v1/state/${resource.channel}?watch=true'   (the tickers live, via the bridge)
            curl -N 'http://${host}:${ports.edge}/v1/channels/${resource.statusChannel}?watch=true&rewind=1'
  publish   gRPC  ${host}:${ports.grpc}  fanout.v1.IngestService/Publish, /PublishStream
            HTTP  curl -X POST http://${host}:${ports.http}/v1/channels/demo/events \\
                    -H 'content-type: application/json' -d '{"type":"greeting","data":{"hello":"world"}}'
  subscribe WebSocket ws://${host}:${ports.edge}/v1/ws  (subprotocol fanout.json.v1 or fanout.proto.v1)
            SSE   curl -N http://${host}:${ports.edge}/v1/channels/demo?watch=true
            GET   curl http://${host}:${ports.edge}/v1/channels/demo   (docs/reference/protocol.md)
  metrics   ingest http://${host}:${ports.ingestMetrics}/metrics   edge http://${host}:${edgeMetrics}/metrics
            bridge http://${host}:${bridgeMetrics}/metrics
  kafka     ${host}:${ports.kafka}
`);
} catch (error) {
  if (!stopping) {
    say(`start failed: ${error instanceof Error ? error.message : String(error)}`);
    await shutdown(1);
  }
}
