import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Counter, Registry } from 'prom-client';
import { startMetricsServer } from './metrics-server.js';

describe('metrics server', () => {
  const registry = new Registry();
  new Counter({ name: 'fanout_test_total', help: 'a test counter', registers: [registry] }).inc(3);
  let ready = true;
  const server = startMetricsServer({
    host: '127.0.0.1',
    port: 0,
    registry,
    readiness: () => (ready ? { ready } : { ready, reason: 'draining' }),
  });
  after(async () => {
    await (await server).close();
  });

  it('serves Prometheus metrics, liveness and readiness on its own port', async () => {
    const { port } = await server;
    const base = `http://127.0.0.1:${port}`;
    const metrics = await fetch(`${base}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(await metrics.text(), /^fanout_test_total 3$/m);
    assert.equal((await fetch(`${base}/livez`)).status, 200);
    assert.equal((await fetch(`${base}/readyz`)).status, 200);
    ready = false;
    const notReady = await fetch(`${base}/readyz`);
    assert.equal(notReady.status, 503);
    assert.match(await notReady.text(), /draining/);
    assert.equal((await fetch(`${base}/nope`)).status, 404);
  });
});
