/**
 * On-demand live resources end to end against the test broker: a local
 * upstream, a bridge process publishing through an ingest, an edge process
 * serving `GET /v1/resources?url=`. An SSE subscriber gets the snapshot then
 * patches as the upstream changes; two subscribers share one poller (one
 * lease at the edge, one poll per interval at the upstream); after both
 * left, the edge stops renewing and the bridge stops polling.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { JsonValue, StateDocument } from '@fanout/shared';
import { applyStatePatch } from '@fanout/edge';
import { SseClient } from '../support/edge-test-clients.js';
import { startEdgeProcess, type EdgeProcess, type IngestStack } from '../support/index.js';
import { startResourceStack, type ResourceStack } from '../support/resource-stack.js';

interface Snapshot {
  readonly state: JsonValue;
  readonly exists: boolean;
}

const pollMs = 200;

describe('on-demand resources at the edge', () => {
  let resources: ResourceStack;
  let stack: IngestStack;
  let edge: EdgeProcess;
  let origin = '';
  let documents: Map<string, JsonValue>;
  /** Polls per `path|x-api-key`. */
  let polls: Map<string, number>;

  before(async () => {
    resources = await startResourceStack({
      name: 'edge-resources',
      pollMs: pollMs,
      idleMs: 300,
      leaseMs: 1000,
      renewEveryMs: 300,
    });
    ({ stack, edge, origin, documents, polls } = resources);
  });

  after(async () => {
    await resources.stop();
  });

  function resourceUrl(path: string): string {
    return `${edge.httpBase}/v1/resources?url=${encodeURIComponent(`${origin}${path}`)}`;
  }

  async function until(check: () => Promise<boolean>, what: string): Promise<void> {
    for (let i = 0; i < 100; i++) {
      if (await check()) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.fail(`never: ${what}`);
  }

  it('refuses a missing or bad url', async () => {
    for (const query of ['', '?url=ftp%3A%2F%2Fx', '?url=%2Frelative']) {
      const response = await fetch(`${edge.httpBase}/v1/resources${query}`);
      assert.equal(response.status, 400);
      const body = (await response.json()) as { error: { code: string } };
      assert.equal(body.error.code, 'invalid_argument');
    }
  });

  it('answers not_found when disabled, unavailable with Retry-After when no bridge answers', async () => {
    const url = `/v1/resources?url=${encodeURIComponent(`${origin}/items/1`)}`;
    const disabled = await startEdgeProcess({ brokers: stack.kafka.brokers, topic: stack.topic });
    const bridgeless = await startEdgeProcess({
      brokers: stack.kafka.brokers,
      topic: stack.topic,
      env: {
        FANOUT_EDGE_RESOURCES_ENABLED: 'true',
        // A port nothing listens on.
        FANOUT_EDGE_RESOURCES_BRIDGES: 'http://127.0.0.1:9',
      },
    });
    try {
      const off = await fetch(`${disabled.httpBase}${url}`);
      assert.equal(off.status, 404);
      assert.equal(((await off.json()) as { error: { code: string } }).error.code, 'not_found');
      const none = await fetch(`${bridgeless.httpBase}${url}`);
      assert.equal(none.status, 503);
      assert.equal(none.headers.get('retry-after'), '1');
      assert.equal(((await none.json()) as { error: { code: string } }).error.code, 'unavailable');
    } finally {
      await disabled.kill('SIGTERM');
      await bridgeless.kill('SIGTERM');
    }
  });

  it('passes on a bridge refusal of an origin it does not allow', async () => {
    const response = await fetch(
      `${edge.httpBase}/v1/resources?url=${encodeURIComponent('https://example.com/x')}`,
    );
    assert.equal(response.status, 403);
    const body = (await response.json()) as { error: { code: string } };
    assert.equal(body.error.code, 'upstream_refused');
  });

  it('streams the snapshot then patches, shares one poller, and stops polling after the last subscriber left', async () => {
    const path = '/items/7';
    documents.set(path, { n: 1, note: 'a note long enough for patches to be worth it' });
    const first = await SseClient.open(resourceUrl(path), { 'x-api-key': 'k1' });
    assert.equal(first.status, 200);
    const channel = first.response.headers.get('fanout-channel') ?? '';
    assert.match(channel, /^resources\.[a-z2-7]{26}$/);
    assert.equal(first.response.headers.get('fanout-status-channel'), `${channel}.status`);
    const [opening] = await first.take(1, (event) => event.event === 'snapshot');
    let held: StateDocument = (JSON.parse(opening?.data ?? '{}') as Snapshot).state;
    if (!(JSON.parse(opening?.data ?? '{}') as Snapshot).exists) {
      const [patch] = await first.take(1, (event) => event.event === 'patch');
      const applied = applyStatePatch(
        held,
        (JSON.parse(patch?.data ?? '{}') as { op: unknown }).op,
      );
      assert.ok(applied.ok);
      held = applied.document;
    }
    assert.deepEqual(held, { n: 1, note: 'a note long enough for patches to be worth it' });

    // A second subscriber of the same URL and forwarded header: the same channel.
    const second = await SseClient.open(resourceUrl(path), { 'x-api-key': 'k1' });
    assert.equal(second.response.headers.get('fanout-channel'), channel);
    await second.take(1, (event) => event.event === 'snapshot');
    // Another header value is another resource (another channel).
    const other = await fetch(resourceUrl(path), { headers: { 'x-api-key': 'k2' } });
    assert.equal(other.status, 200);
    assert.notEqual(other.headers.get('fanout-channel'), channel);
    await other.text();

    for (const n of [2, 3]) {
      const next = { n, note: 'a note long enough for patches to be worth it' };
      documents.set(path, next);
      const [patch] = await first.take(1, (event) => event.event === 'patch');
      const applied = applyStatePatch(
        held,
        (JSON.parse(patch?.data ?? '{}') as { op: unknown }).op,
      );
      assert.ok(applied.ok);
      held = applied.document;
      assert.deepEqual(held, next);
      await second.take(1, (event) => event.event === 'patch');
    }

    assert.equal(
      await resources.edgeMetric('fanout_edge_resource_leases'),
      1,
      'one lease for both',
    );

    // One poller for both subscribers: over 3 s, about one poll per interval, not two.
    const key = `${path}|k1`;
    const start = polls.get(key) ?? 0;
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const polled = (polls.get(key) ?? 0) - start;
    assert.ok(polled >= 1, 'polled while subscribed');
    assert.ok(polled <= 3000 / pollMs + 3, `${polled} polls in 3 s: one poller, not two`);

    await first.close();
    await second.close();
    await until(
      async () => (await resources.edgeMetric('fanout_edge_resource_leases')) === 0,
      'the lease is released after the last subscriber left',
    );
    const stopped = await resources.settledPolls(key);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal(polls.get(key), stopped, 'no poll after the leases ended and idleMs passed');
  });
});
