#!/usr/bin/env node
/**
 * fanout-edge: refuses to run on uWebSockets.js's JavaScript fallback, then
 * telemetry, configuration and the edge. SIGTERM/SIGINT drain it: readiness
 * turns 503, new clients are refused, connected ones get a resumable
 * `draining` close with their positions, paced over edge.shutdownTimeoutMs.
 */
import { runServiceMain } from '@fanout/shared';
import { startEdgeApp } from './edge-app.js';
import { requireNativeUws, type Uws } from './transport/uws-native.js';

/** Every module of the edge loaded (ms since the process started). */
const modulesLoaded = Math.round(performance.now());

let uws: Uws;
try {
  uws = requireNativeUws();
} catch (error) {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(3);
}

await runServiceMain({
  serviceName: 'fanout-edge',
  name: 'edge',
  start: (context) => startEdgeApp({ uws, ...context }),
  readiness: (app) => app.ready(),
  readyFields: (app, config, metrics) => ({
    edgeId: app.edgeId,
    listen: `${config.edge.host}:${app.port}`,
    metrics: `${metrics.host}:${metrics.port}`,
    startupMs: { modules: modulesLoaded, ...app.startup },
  }),
  stoppingFields: (app) => ({ connections: app?.server.connections() ?? 0 }),
});
