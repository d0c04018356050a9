#!/usr/bin/env node
/**
 * fanout-bridge: telemetry first, then configuration, then the service.
 * SIGTERM/SIGINT drain it; a second signal exits at once.
 */
import { createLogger, loadConfigOrExit, startMetricsServer, startTelemetry } from '@fanout/shared';
import { startBridgeApp, type BridgeApp } from './bridge-app.js';

const config = loadConfigOrExit();
const telemetry = startTelemetry({ serviceName: 'fanout-bridge', config: config.telemetry });
const logger = createLogger({ service: telemetry.serviceName, level: config.log.level });

let app: BridgeApp | undefined;
let stopping = false;
const metricsServer = await startMetricsServer({
  host: config.telemetry.metricsHost,
  port: config.telemetry.metricsPort,
  registry: telemetry.registry,
  readiness: () =>
    app === undefined
      ? { ready: false, reason: 'starting' }
      : stopping
        ? { ready: false, reason: 'draining' }
        : app.ready()
          ? { ready: true }
          : { ready: false, reason: 'starting' },
});

async function shutdown(signal: string): Promise<void> {
  if (stopping) {
    logger.warn({ signal }, 'second signal; exiting now');
    process.exit(1);
  }
  stopping = true;
  logger.info({ signal }, 'shutting down');
  await app?.stop();
  await metricsServer.close();
  await telemetry.shutdown();
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));

try {
  app = await startBridgeApp({ config, logger, registry: telemetry.registry });
  logger.info(
    {
      http: `${config.bridge.host}:${app.port}`,
      metrics: `${metricsServer.host}:${metricsServer.port}`,
      member: app.selfId,
      ingest: config.bridge.ingestAddress,
      declared: config.bridge.resources.length,
      polling: app.runtime.runningChannels().length,
    },
    'bridge ready',
  );
} catch (error) {
  logger.fatal({ err: error }, 'bridge failed to start');
  await metricsServer.close();
  process.exit(1);
}
