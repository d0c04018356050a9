#!/usr/bin/env node
/**
 * fanout-ingest: telemetry first, then configuration, then the service.
 * SIGTERM/SIGINT drain it; a second signal exits at once.
 */
import { createLogger, loadConfigOrExit, startMetricsServer, startTelemetry } from '@fanout/shared';
import { startIngestApp, type IngestApp } from './ingest-app.js';

const config = loadConfigOrExit();
const telemetry = startTelemetry({ serviceName: 'fanout-ingest', config: config.telemetry });
const logger = createLogger({ service: telemetry.serviceName, level: config.log.level });

let app: IngestApp | undefined;
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
          : { ready: false, reason: 'Kafka unreachable' },
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
  app = await startIngestApp({ config, logger, registry: telemetry.registry });
  logger.info(
    {
      grpc: `${config.ingest.host}:${app.grpcPort}`,
      http: `${config.ingest.host}:${app.httpPort}`,
      metrics: `${metricsServer.host}:${metricsServer.port}`,
      tls:
        config.ingest.tls.certFile === ''
          ? 'off'
          : config.ingest.tls.clientCaFile === ''
            ? 'server'
            : 'mutual',
      topic: app.topic.topic,
      partitions: app.topic.partitions,
      epoch: app.topic.epoch,
    },
    'ingest ready',
  );
} catch (error) {
  logger.fatal({ err: error }, 'ingest failed to start');
  await metricsServer.close();
  process.exit(1);
}
