import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  startIngest,
  stopOwnKafka,
  testKafka,
  type IngestHarness,
  type TestKafka,
} from '../support/index.js';

const app = 'https://app.example.com';
const evil = 'https://evil.example.com';

describe('ingest CORS (ingest.corsOrigins)', () => {
  let kafka: TestKafka;
  let ingest: IngestHarness;
  let plain: IngestHarness;

  before(async () => {
    kafka = await testKafka();
    const topic = await kafka.createTopic({ name: 'ingest-cors', partitions: 1 });
    ingest = await startIngest({
      brokers: kafka.brokers,
      topic,
      partitions: 1,
      env: { FANOUT_INGEST_CORS_ORIGINS: `${app}, https://other.example.com` },
    });
    plain = await startIngest({ brokers: kafka.brokers, topic, partitions: 1 });
  });

  after(async () => {
    await ingest.stop();
    await plain.stop();
    await kafka.close();
    await stopOwnKafka();
  });

  const publish = (base: string, channel: string, headers: Record<string, string>) =>
    fetch(`${base}/v1/channels/${channel}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ type: 'cors', data: 1 }),
    });

  it('answers the preflight of an allowed origin with the methods and headers publishers send', async () => {
    const preflight = await fetch(`${ingest.httpBase}/v1/channels/web.cors/events`, {
      method: 'OPTIONS',
      headers: {
        origin: app,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type, x-api-key',
      },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), app);
    assert.equal(preflight.headers.get('vary'), 'Origin');
    assert.equal(preflight.headers.get('access-control-allow-methods'), 'POST');
    assert.equal(
      preflight.headers.get('access-control-allow-headers'),
      'content-type, authorization, idempotency-key, x-api-key, traceparent, tracestate',
    );
    assert.equal(preflight.headers.get('access-control-max-age'), '600');
    assert.equal(preflight.headers.get('access-control-allow-credentials'), null);
  });

  it('answers the preflight of the state route with its methods', async () => {
    const preflight = await fetch(`${ingest.httpBase}/v1/state/web.cors`, {
      method: 'OPTIONS',
      headers: {
        origin: app,
        'access-control-request-method': 'PATCH',
        'access-control-request-headers': 'content-type',
      },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), app);
    assert.equal(preflight.headers.get('access-control-allow-methods'), 'PUT, PATCH, DELETE');
    const put = await fetch(`${ingest.httpBase}/v1/state/web.cors`, {
      method: 'PUT',
      headers: { origin: app, 'content-type': 'application/json' },
      body: '{"cors":true}',
    });
    assert.equal(put.status, 200, await put.clone().text());
    assert.equal(put.headers.get('access-control-allow-origin'), app);
  });

  it('does not answer the preflight of another origin', async () => {
    const preflight = await fetch(`${ingest.httpBase}/v1/channels/web.cors/events`, {
      method: 'OPTIONS',
      headers: { origin: evil, 'access-control-request-method': 'POST' },
    });
    assert.equal(preflight.status, 405);
    assert.equal(preflight.headers.get('access-control-allow-origin'), null);
    assert.equal(preflight.headers.get('access-control-allow-methods'), null);
  });

  it('marks answers and errors to an allowed origin, and only those', async () => {
    const ok = await publish(ingest.httpBase, 'web.cors', { origin: app });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('access-control-allow-origin'), app);
    assert.equal(ok.headers.get('vary'), 'Origin');
    assert.equal(ok.headers.get('access-control-expose-headers'), 'retry-after');
    await ok.body?.cancel();

    const bad = await publish(ingest.httpBase, 'web..cors', { origin: app });
    assert.equal(bad.status, 400);
    assert.equal(bad.headers.get('access-control-allow-origin'), app);
    await bad.body?.cancel();

    // Another origin is not refused by the ingest (the browser keeps the answer from the page).
    const other = await publish(ingest.httpBase, 'web.cors', { origin: evil });
    assert.equal(other.status, 200);
    assert.equal(other.headers.get('access-control-allow-origin'), null);
    assert.equal(other.headers.get('vary'), null);
    await other.body?.cancel();

    const noOrigin = await publish(ingest.httpBase, 'web.cors', {});
    assert.equal(noOrigin.status, 200);
    assert.equal(noOrigin.headers.get('access-control-allow-origin'), null);
    await noOrigin.body?.cancel();
  });

  it('sends no CORS header without the setting', async () => {
    const preflight = await fetch(`${plain.httpBase}/v1/channels/web.cors/events`, {
      method: 'OPTIONS',
      headers: { origin: app, 'access-control-request-method': 'POST' },
    });
    assert.equal(preflight.status, 405);
    assert.equal(preflight.headers.get('access-control-allow-origin'), null);
    const ok = await publish(plain.httpBase, 'web.cors', { origin: app });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('access-control-allow-origin'), null);
    await ok.body?.cancel();
  });
});
