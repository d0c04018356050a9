#!/usr/bin/env node
/**
 * fanout-bridge: telemetry first, then configuration, then the service.
 * SIGTERM/SIGINT drain it; a second signal exits at once.
 */
import { runServiceMain } from '@fanout/shared';
import { startBridgeApp } from './bridge-app.js';

await runServiceMain({
  serviceName: 'fanout-bridge',
  name: 'bridge',
  start: startBridgeApp,
  readiness: (app) => app.readiness(),
  readyFields: (app, config, metrics) => ({
    http: `${config.bridge.host}:${app.port}`,
    metrics: `${metrics.host}:${metrics.port}`,
    member: app.selfId,
    ingest: config.bridge.ingestAddress,
    declared: config.bridge.resources.length,
    polling: app.runtime.runningChannels().length,
  }),
});
