#!/usr/bin/env node
/**
 * fanout-edge: refuses to run on uWebSockets.js's JavaScript fallback, then
 * telemetry, configuration and the edge. SIGTERM/SIGINT drain it: readiness
 * turns 503, new clients are refused, connected ones get a resumable
 * `draining` close with their positions, paced over edge.shutdownTimeoutMs.
 */
import { createLogger, loadConfigOrExit, startMetricsServer, startTelemetry } from '@fanout/shared';
import { startEdgeApp, type EdgeApp } from './edge-app.js';
import { requireNativeUws, type Uws } from './transport/uws-native.js';

let uws: Uws;
try {
  uws = requireNativeUws();
} catch (error) {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(3);
}

const config = loadConfigOrExit();
const telemetry = startTelemetry({ serviceName: 'fanout-edge', config: config.telemetry });
const logger = createLogger({ service: telemetry.serviceName, level: config.log.level });

let app: EdgeApp | undefined;
let stopping = false;
const metricsServer = await startMetricsServer({
  host: config.telemetry.metricsHost,
  port: config.telemetry.metricsPort,
  registry: telemetry.registry,
  readiness: () =>
    stopping
      ? { ready: false, reason: 'draining' }
      : app === undefined
        ? { ready: false, reason: 'starting' }
        : app.ready(),
});

async function shutdown(signal: string): Promise<void> {
  if (stopping) process.exit(1);
  stopping = true;
  logger.info({ signal, connections: app?.server.connections() ?? 0 }, 'draining');
  await app?.stop();
  await metricsServer.close();
  await telemetry.shutdown();
  logger.info('stopped');
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));

try {
  app = await startEdgeApp({ uws, config, logger, registry: telemetry.registry });
  logger.info(
    {
      edgeId: app.edgeId,
      listen: `${config.edge.host}:${app.port}`,
      metrics: `${metricsServer.host}:${metricsServer.port}`,
    },
    'edge ready',
  );
} catch (error) {
  logger.fatal({ err: error }, 'edge failed to start');
  process.exit(1);
}
