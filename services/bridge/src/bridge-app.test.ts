/**
 * The bridge service in this process, with a fake publisher in place of the
 * ingest: the lease endpoint over HTTP (a grant that starts polling with the
 * forwarded headers, the catalog answers of hostile requests), readiness,
 * and the spans of a poll and of the publish it caused.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  createLogger,
  createSpanRecorder,
  leasedResourceChannel,
  loadConfig,
  startTelemetry,
} from '@fanout/shared';
import { Registry } from 'prom-client';
import { startBridgeApp, type BridgeApp } from './bridge-app.js';
import { leasesPath } from './bridge-http.js';
import type {
  BridgePublisher,
  EventPublish,
  PublishOutcome,
  StatePut,
} from './ingest-publisher.js';
import { json, startUpstream, type LocalUpstream } from './testing/local-upstream.js';

class RecordingPublisher implements BridgePublisher {
  readonly puts: StatePut[] = [];
  readonly events: EventPublish[] = [];
  putState(put: StatePut): Promise<PublishOutcome> {
    this.puts.push(put);
    return Promise.resolve({ position: `e:0:${this.puts.length}`, duplicate: false });
  }
  publishEvent(event: EventPublish): Promise<PublishOutcome> {
    this.events.push(event);
    return Promise.resolve({ position: `e:1:${this.events.length}`, duplicate: false });
  }
  close(): void {}
}

async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('the bridge service', () => {
  const recorder = createSpanRecorder();
  const telemetry = startTelemetry({
    serviceName: 'fanout-bridge-test',
    config: loadConfig({ env: {} }).telemetry,
    recorder,
  });
  const publisher = new RecordingPublisher();
  const seen: { path: string; authorization: string | undefined; cookie: string | undefined }[] =
    [];
  let upstream: LocalUpstream;
  let app: BridgeApp;
  let base: string;

  before(async () => {
    upstream = await startUpstream((request, response) => {
      seen.push({
        path: request.url ?? '',
        authorization: request.headers.authorization,
        cookie: request.headers.cookie,
      });
      json(response, { item: 7, path: request.url });
    });
    const config = loadConfig({
      env: {},
      overrides: {
        'bridge.origins': [
          { origin: upstream.origin, allowPrivate: true, forwardHeaders: ['authorization'] },
        ],
        'bridge.host': '127.0.0.1',
        'bridge.port': 0,
        'bridge.minPollIntervalMs': 100,
        'bridge.onDemand.maxResources': 1,
      },
    });
    app = await startBridgeApp({
      config,
      logger: createLogger({ service: 'test', level: 'silent' }),
      registry: new Registry(),
      publisher,
    });
    base = `http://127.0.0.1:${app.port}`;
  });

  after(async () => {
    await app.stop();
    await upstream.close();
    await telemetry.shutdown();
  });

  function lease(body: unknown, type = 'application/json'): Promise<Response> {
    return fetch(`${base}${leasesPath}`, {
      method: 'PUT',
      headers: { 'content-type': type },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  }

  it('is ready, and grants a lease that polls with the forwarded headers only', async () => {
    assert.equal((await fetch(`${base}/readyz`)).status, 200);
    const url = `${upstream.origin}/items/7`;
    const answer = await lease({
      url,
      headers: { Authorization: 'Bearer t', Cookie: 'secret=1' },
      leaseMs: 60_000,
    });
    assert.equal(answer.status, 200);
    const grant = (await answer.json()) as Record<string, unknown>;
    const channel = leasedResourceChannel('resources', url, { authorization: 'Bearer t' });
    assert.equal(grant['channel'], channel);
    assert.equal(grant['statusChannel'], `${channel}.status`);
    assert.deepEqual(grant['owner'], { id: app.selfId, url: base });
    await until('the document is published', () => publisher.puts.length > 0);
    assert.deepEqual(seen[0], { path: '/items/7', authorization: 'Bearer t', cookie: undefined });
    assert.equal(publisher.puts[0]?.channel, channel);
    assert.equal(publisher.puts[0]?.json, '{"item":7,"path":"/items/7"}');
    // The publish is a child span of the poll that found the document.
    await until('the spans ended', () =>
      recorder.spans().some((span) => span.name === 'bridge.publish'),
    );
    const poll = recorder.spans().find((span) => span.name === 'bridge.poll');
    const publish = recorder.spans().find((span) => span.name === 'bridge.publish');
    assert.ok(poll && publish);
    assert.equal(publish.spanContext().traceId, poll.spanContext().traceId);
    assert.equal(publish.parentSpanContext?.spanId, poll.spanContext().spanId);
    assert.equal(poll.attributes['fanout.channel'], channel);
  });

  it('answers hostile and unplaceable lease requests with catalog errors', async () => {
    const codeOf = async (response: Response): Promise<[number, string]> => [
      response.status,
      ((await response.json()) as { error: { code: string } }).error.code,
    ];
    assert.deepEqual(await codeOf(await lease('{not json')), [400, 'invalid_argument']);
    assert.deepEqual(await codeOf(await lease({ url: 'x' }, 'text/plain')), [
      415,
      'content_type_not_allowed',
    ]);
    assert.deepEqual(
      await codeOf(await lease({ url: 'https://elsewhere.example.com/', leaseMs: 1000 })),
      [403, 'upstream_refused'],
    );
    assert.deepEqual(await codeOf(await lease({ url: 'x'.repeat(20_000) })), [
      413,
      'event_too_large',
    ]);
    // maxResources is 1 and one resource is leased.
    assert.deepEqual(
      await codeOf(await lease({ url: `${upstream.origin}/other`, leaseMs: 1000 })),
      [503, 'resource_limit'],
    );
    assert.deepEqual(await codeOf(await fetch(`${base}${leasesPath}`)), [
      405,
      'method_not_allowed',
    ]);
    assert.deepEqual(await codeOf(await fetch(`${base}/nope`)), [404, 'not_found']);
  });
});
