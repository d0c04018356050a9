#!/usr/bin/env node
/**
 * fanout-edge: refuses to run on uWebSockets.js's JavaScript fallback, then
 * telemetry, configuration and the server. SIGTERM/SIGINT drain it.
 */
import { createLogger, loadConfigOrExit, startMetricsServer, startTelemetry } from '@fanout/shared';
import { startEdgeServer, type EdgeServer } from './edge-server.js';
import { requireNativeUws, type Uws } from './uws-native.js';

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

let server: EdgeServer | undefined;
let stopping = false;
const metricsServer = await startMetricsServer({
  host: config.telemetry.metricsHost,
  port: config.telemetry.metricsPort,
  registry: telemetry.registry,
  readiness: () =>
    stopping
      ? { ready: false, reason: 'draining' }
      : server === undefined
        ? { ready: false, reason: 'starting' }
        : { ready: true },
});

async function shutdown(signal: string): Promise<void> {
  if (stopping) process.exit(1);
  stopping = true;
  logger.info({ signal }, 'shutting down');
  server?.close();
  await metricsServer.close();
  await telemetry.shutdown();
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));

try {
  server = await startEdgeServer({
    uws,
    host: config.edge.host,
    port: config.edge.port,
    logger: logger.child({ component: 'server' }),
  });
  logger.info(
    {
      listen: `${config.edge.host}:${server.port}`,
      metrics: `${metricsServer.host}:${metricsServer.port}`,
    },
    'edge ready',
  );
} catch (error) {
  logger.fatal({ err: error }, 'edge failed to start');
  process.exit(1);
}
