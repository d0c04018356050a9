import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Counter } from 'prom-client';
import { loadConfig } from './config-loader.js';
import { startMetricsServer, type MetricsServer } from './metrics-server.js';
import { startTelemetry, type Telemetry } from './telemetry.js';

describe('metrics server', () => {
  let telemetry: Telemetry;
  let server: MetricsServer;
  let ready = true;
  let base = '';

  before(async () => {
    const config = loadConfig({ env: {} });
    telemetry = startTelemetry({
      serviceName: 'fanout-test',
      serviceVersion: '0.0.0-test',
      config: config.telemetry,
    });
    new Counter({
      name: 'fanout_test_total',
      help: 'a test counter',
      registers: [telemetry.registry],
    }).inc(3);
    server = await startMetricsServer({
      host: '127.0.0.1',
      port: 0,
      registry: telemetry.registry,
      readiness: () => (ready ? { ready } : { ready, reason: 'draining' }),
    });
    base = `http://127.0.0.1:${server.port}`;
  });
  after(async () => {
    await server.close();
    await telemetry.shutdown();
  });

  it('binds the address it was given, on an ephemeral port', () => {
    assert.equal(server.host, '127.0.0.1');
    assert.ok(server.port > 0);
  });

  it('serves Prometheus metrics with the fanout_ prefix', async () => {
    const metrics = await fetch(`${base}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(metrics.headers.get('content-type') ?? '', /^text\/plain/);
    const text = await metrics.text();
    assert.match(text, /^fanout_test_total\{service="fanout-test"\} 3$/m);
    assert.match(text, /^fanout_process_cpu_seconds_total\{service="fanout-test"\} /m);
    assert.match(text, /^fanout_build_info\{version="0\.0\.0-test",node_version="[0-9.]+"/m);
  });

  it('answers liveness, and readiness that turns 503 during drain', async () => {
    assert.equal((await fetch(`${base}/livez`)).status, 200);
    assert.equal((await fetch(`${base}/readyz`)).status, 200);
    ready = false;
    const notReady = await fetch(`${base}/readyz`);
    assert.equal(notReady.status, 503);
    assert.match(await notReady.text(), /draining/);
    ready = true;
    assert.equal((await fetch(`${base}/readyz`)).status, 200);
  });

  it('answers 404 for other paths and 405 for other methods', async () => {
    assert.equal((await fetch(`${base}/nope`)).status, 404);
    assert.equal((await fetch(`${base}/metrics`, { method: 'POST' })).status, 405);
  });
});
