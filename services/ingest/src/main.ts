#!/usr/bin/env node
/**
 * fanout-ingest: telemetry first, then configuration, then the service.
 * SIGTERM/SIGINT drain it; a second signal exits at once.
 */
import { runServiceMain } from '@fanout/shared';
import { startIngestApp } from './ingest-app.js';

await runServiceMain({
  serviceName: 'fanout-ingest',
  name: 'ingest',
  start: startIngestApp,
  readiness: (app) =>
    app.ready() ? { ready: true } : { ready: false, reason: 'Kafka unreachable' },
  readyFields: (app, config, metrics) => ({
    grpc: `${config.ingest.host}:${app.grpcPort}`,
    http: `${config.ingest.host}:${app.httpPort}`,
    metrics: `${metrics.host}:${metrics.port}`,
    tls:
      config.ingest.tls.certFile === ''
        ? 'off'
        : config.ingest.tls.clientCaFile === ''
          ? 'server'
          : 'mutual',
    topic: app.topic.topic,
    partitions: app.topic.partitions,
    epoch: app.topic.epoch,
  }),
});
