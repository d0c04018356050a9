import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  base32,
  createLogger,
  FanoutError,
  leasedResourceChannel,
  resourceIdentity,
  type Member,
} from '@fanout/shared';
import { Registry } from 'prom-client';
import { createBridgeMetrics } from './bridge-metrics.js';
import { BridgeResource, resourceStatusEventType, type ResourceSpec } from './bridge-resource.js';
import { BridgeRuntime } from './bridge-runtime.js';
import {
  PublishFailure,
  type BridgePublisher,
  type EventPublish,
  type PublishOutcome,
  type StatePut,
} from './ingest-publisher.js';
import { LeaseTable } from './lease-table.js';
import { parseLeaseRequest } from './lease-request.js';
import { resourceOwner } from './resource-placement.js';
import { ManualClock } from './testing/manual-clock.js';
import { UpstreamError } from './upstream-error.js';
import type { UpstreamFetchRequest, UpstreamFetchResult } from './upstream-fetch.js';
import { upstreamOrigins } from './upstream-policy.js';

const logger = createLogger({ service: 'test', level: 'silent' });

/** Records what would reach the ingest; fails the next `failures` calls retryably. */
class FakePublisher implements BridgePublisher {
  readonly puts: StatePut[] = [];
  readonly events: EventPublish[] = [];
  failures = 0;
  #offset = 0;

  putState(put: StatePut): Promise<PublishOutcome> {
    return this.#answer(() => this.puts.push(put));
  }

  publishEvent(event: EventPublish): Promise<PublishOutcome> {
    return this.#answer(() => this.events.push(event));
  }

  close(): void {}

  #answer(record: () => void): Promise<PublishOutcome> {
    if (this.failures > 0) {
      this.failures--;
      return Promise.reject(new PublishFailure('ingest down', true, 'unavailable'));
    }
    record();
    return Promise.resolve({ position: `e:0:${this.#offset++}`, duplicate: false });
  }
}

/** A fetcher answering from a script: a document, an error, or nothing (never settles). */
function scriptedFetcher(answers: (() => UpstreamFetchResult | Error)[]) {
  const requests: UpstreamFetchRequest[] = [];
  return {
    requests,
    fetch(request: UpstreamFetchRequest): Promise<UpstreamFetchResult> {
      requests.push(request);
      const next = answers.shift();
      if (next === undefined) return new Promise(() => undefined);
      const answer = next();
      return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer);
    },
  };
}

function documentAnswer(json: string): () => UpstreamFetchResult {
  return () => ({
    kind: 'document',
    document: JSON.parse(json) as never,
    canonicalJson: json,
    url: 'https://api.example.com/r',
    validators: undefined,
    maxAgeMs: undefined,
    redirects: 0,
    bodyBytes: json.length,
  });
}

const timing = { minIntervalMs: 100, maxDelayMs: 60_000, backoffBaseMs: 100, backoffMaxMs: 1000 };

function spec(channel: string): ResourceSpec {
  return {
    kind: 'declared',
    channel,
    statusChannel: `${channel}.status`,
    url: `https://api.example.com/${channel}`,
    intervalMs: 1000,
  };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 5));

/** Runtimes whose resources never poll (their fetch never settles): only placement counts. */
function runtimes(ids: readonly string[], declared: readonly ResourceSpec[]) {
  return ids.map(
    (id) =>
      new BridgeRuntime({
        selfId: id,
        declared,
        onDemand: {
          maxResources: 2,
          idleMs: 1000,
          channelPrefix: 'resources',
          statusSuffix: '.status',
          intervalMs: 1000,
        },
        createResource: (resourceSpec) =>
          new BridgeResource({
            spec: resourceSpec,
            fetcher: scriptedFetcher([]),
            publisher: new FakePublisher(),
            metrics: createBridgeMetrics(new Registry()),
            timing,
            logger,
          }),
        metrics: createBridgeMetrics(new Registry()),
        logger,
        now: () => now,
      }),
  );
}
let now = 1_000_000;

const members = (ids: readonly string[]): Member[] =>
  ids.map((id) => ({ id, url: `http://${id}:8090` }));

describe('resource placement across bridges', () => {
  it('polls each declared resource on exactly one bridge, and moves only a dead one’s', async () => {
    const declared = Array.from({ length: 30 }, (_, index) => spec(`res.r${index}`));
    const ids = ['bridge-a', 'bridge-b', 'bridge-c'];
    const all = runtimes(ids, declared);
    for (const runtime of all) runtime.setMembers(members(ids));
    const owners = new Map<string, string>();
    all.forEach((runtime, index) => {
      for (const channel of runtime.runningChannels()) {
        assert.equal(owners.has(channel), false, `${channel} polled twice`);
        owners.set(channel, ids[index] ?? '');
      }
    });
    assert.equal(owners.size, declared.length, 'every resource is polled');
    for (const runtime of all) assert.ok(runtime.runningChannels().length > 0, 'spread');
    // bridge-c dies: the survivors take its resources, and keep their own.
    const survivors = all.slice(0, 2);
    for (const runtime of survivors) runtime.setMembers(members(['bridge-a', 'bridge-b']));
    const after = new Map<string, string>();
    survivors.forEach((runtime, index) => {
      for (const channel of runtime.runningChannels()) after.set(channel, ids[index] ?? '');
    });
    assert.equal(after.size, declared.length, 'every resource is polled after the failover');
    for (const [channel, owner] of owners) {
      if (owner !== 'bridge-c') assert.equal(after.get(channel), owner, `${channel} stayed`);
    }
    // Without self in the membership (not ready yet, or dropped) it polls nothing.
    survivors[0]?.setMembers(members(['bridge-b']));
    assert.deepEqual(survivors[0]?.runningChannels(), []);
    await Promise.all(all.map((runtime) => runtime.stop()));
  });

  it('places by the rendezvous score of the channel, the same on every bridge', () => {
    const ids = ['x', 'y', 'z'];
    const owner = resourceOwner(ids, 'prices.eu');
    assert.ok(owner !== undefined && ids.includes(owner));
    assert.equal(resourceOwner([...ids].reverse(), 'prices.eu'), owner);
    assert.equal(resourceOwner([], 'prices.eu'), undefined);
  });
});

describe('leases', () => {
  const origins = new Map(
    upstreamOrigins([
      {
        origin: 'https://api.example.com',
        allowPrivate: false,
        forwardHeaders: ['authorization'],
        headers: {},
      },
    ]).map((origin) => [origin.origin, origin]),
  );

  it('derives the channel from the URL and the forwarded headers only', () => {
    const request = parseLeaseRequest(
      {
        url: 'https://api.example.com/items?id=7#frag',
        headers: { Authorization: 'Bearer t', Cookie: 'c=1' },
        leaseMs: 10_000_000,
      },
      origins,
      300_000,
    );
    assert.deepEqual(request, {
      url: 'https://api.example.com/items?id=7',
      headers: { authorization: 'Bearer t' },
      leaseMs: 300_000,
    });
    assert.equal(
      resourceIdentity(request.url, request.headers),
      'https://api.example.com/items?id=7\nauthorization:Bearer t',
    );
    const channel = leasedResourceChannel('resources', request.url, request.headers);
    assert.match(channel, /^resources\.[a-z2-7]{26}$/);
    assert.equal(
      leasedResourceChannel('resources', 'https://api.example.com/items?id=7', {
        authorization: 'Bearer t',
      }),
      channel,
    );
    assert.notEqual(leasedResourceChannel('resources', request.url, {}), channel);
    // RFC 4648 test vectors.
    assert.equal(base32(Buffer.from('foobar')), 'mzxw6ytboi');
    assert.equal(base32(Buffer.from('f')), 'my');
  });

  it('refuses hostile lease requests with catalog errors', () => {
    const codeOf = (body: unknown): string => {
      try {
        parseLeaseRequest(body, origins, 300_000);
      } catch (error) {
        return error instanceof FanoutError ? error.code : 'not a FanoutError';
      }
      return 'accepted';
    };
    assert.equal(codeOf(null), 'invalid_argument');
    assert.equal(codeOf({ url: 'https://evil.example.com/', leaseMs: 1000 }), 'upstream_refused');
    assert.equal(
      codeOf({ url: 'https://u:p@api.example.com/', leaseMs: 1000 }),
      'upstream_refused',
    );
    assert.equal(codeOf({ url: 'ftp://api.example.com/', leaseMs: 1000 }), 'invalid_argument');
    assert.equal(codeOf({ url: 'https://api.example.com/', leaseMs: 0 }), 'invalid_argument');
    assert.equal(codeOf({ url: 'https://api.example.com/', leaseMs: 1.5 }), 'invalid_argument');
    assert.equal(
      codeOf({ url: 'https://api.example.com/', leaseMs: 1000, headers: { 'bad name': 'x' } }),
      'invalid_argument',
    );
    assert.equal(
      codeOf({ url: `https://api.example.com/${'x'.repeat(5000)}`, leaseMs: 1000 }),
      'invalid_argument',
    );
  });

  it('grants on the owner, sends others to it, renews, bounds, and stops when idle', async () => {
    const ids = ['bridge-a', 'bridge-b'];
    const all = runtimes(ids, []);
    for (const runtime of all) runtime.setMembers(members(ids));
    const request = { url: 'https://api.example.com/one', headers: {}, leaseMs: 5000 };
    const channel = leasedResourceChannel('resources', request.url, {});
    const ownerIndex = ids.indexOf(resourceOwner(ids, channel) ?? '');
    const owner = all[ownerIndex];
    const other = all[1 - ownerIndex];
    assert.ok(owner && other);
    const grant = owner.lease(request);
    assert.equal(grant.channel, channel);
    assert.equal(grant.statusChannel, `${channel}.status`);
    assert.deepEqual(owner.runningChannels(), [channel]);
    assert.throws(
      () => other.lease(request),
      (error: unknown) =>
        error instanceof FanoutError &&
        error.code === 'resource_elsewhere' &&
        error.details['owner'] === ids[ownerIndex] &&
        error.details['ownerUrl'] === `http://${ids[ownerIndex]}:8090`,
    );
    // Renewals extend, never shorten.
    now += 4000;
    assert.equal(owner.lease({ ...request, leaseMs: 100 }).expiresAt, grant.expiresAt);
    const renewed = owner.lease(request);
    assert.equal(Date.parse(renewed.expiresAt), now + 5000);
    // The table is bounded (maxResources 2): a third resource placed here is refused.
    const mine: string[] = [];
    for (let index = 0; mine.length < 2; index++) {
      const url = `https://api.example.com/more/${index}`;
      if (resourceOwner(ids, leasedResourceChannel('resources', url, {})) === ids[ownerIndex]) {
        mine.push(url);
      }
    }
    owner.lease({ ...request, url: mine[0] ?? '' });
    assert.throws(
      () => owner.lease({ ...request, url: mine[1] ?? '' }),
      (error: unknown) => error instanceof FanoutError && error.code === 'resource_limit',
    );
    assert.equal(owner.leasedCount, 2);
    // Polled until idleMs (1000) after the last lease expired.
    now += 5000 + 999;
    owner.sweep();
    assert.ok(owner.runningChannels().includes(channel));
    now += 1;
    owner.sweep();
    assert.deepEqual(owner.runningChannels(), []);
    assert.equal(owner.leasedCount, 0);
    await Promise.all(all.map((runtime) => runtime.stop()));
  });
});

describe('publishing a resource', () => {
  it('puts each new document once, reports health, and retries with the same key', async () => {
    const publisher = new FakePublisher();
    const clock = new ManualClock(1_700_000_000_000);
    const fetcher = scriptedFetcher([
      documentAnswer('{"price":1}'),
      documentAnswer('{"price":1}'),
      () =>
        new UpstreamError('upstream_status', 'the upstream answered 500', {
          reason: 'status',
          httpStatus: 500,
        }),
      documentAnswer('{"price":2}'),
    ]);
    const resource = new BridgeResource({
      spec: { ...spec('prices.eu'), arrayKey: '/id' },
      fetcher,
      publisher,
      metrics: createBridgeMetrics(new Registry()),
      timing,
      logger,
      clock,
      random: () => 0,
      publishRetryBaseMs: 1,
    });
    resource.start();
    await clock.fireNext();
    await settle();
    await resource.idle();
    assert.deepEqual(
      publisher.puts.map((put) => [put.channel, put.json]),
      [['prices.eu', '{"price":1}']],
    );
    assert.equal(publisher.puts[0]?.arrayKey, '/id', "the resource's arrayKey goes with its puts");
    const firstStatus = JSON.parse(publisher.events[0]?.json ?? '{}') as Record<string, unknown>;
    assert.equal(publisher.events[0]?.channel, 'prices.eu.status');
    assert.equal(publisher.events[0]?.type, resourceStatusEventType);
    assert.deepEqual(firstStatus, {
      resource: 'https://api.example.com/prices.eu',
      status: 'ok',
      code: null,
      message: null,
      httpStatus: null,
      at: new Date(1_700_000_000_000).toISOString(),
      lastChangeAt: new Date(1_700_000_000_000).toISOString(),
    });
    // The same document again: nothing published.
    await clock.fireNext();
    await settle();
    await resource.idle();
    assert.equal(publisher.puts.length, 1);
    assert.equal(publisher.events.length, 1);
    // A 500: the status turns stale (the document stays).
    await clock.fireNext();
    await settle();
    await resource.idle();
    const stale = JSON.parse(publisher.events[1]?.json ?? '{}') as Record<string, unknown>;
    assert.equal(stale['status'], 'stale');
    assert.equal(stale['code'], 'upstream_status');
    assert.equal(stale['httpStatus'], 500);
    // Recovery with a new document while the ingest fails twice: retried, same key, once.
    publisher.failures = 2;
    await clock.fireNext();
    await settle();
    await resource.idle();
    await new Promise((resolve) => setTimeout(resolve, 20));
    await resource.idle();
    assert.deepEqual(
      publisher.puts.map((put) => put.json),
      ['{"price":1}', '{"price":2}'],
    );
    assert.notEqual(publisher.puts[0]?.id, publisher.puts[1]?.id);
    assert.equal(
      (JSON.parse(publisher.events[2]?.json ?? '{}') as { status?: string }).status,
      'ok',
    );
    await resource.stop();
  });
});

describe('the metrics of a resource', () => {
  it('counts polls, answers, errors and seconds per resource, and removes them all at stop', async () => {
    const registry = new Registry();
    const metrics = createBridgeMetrics(registry);
    const clock = new ManualClock(1_700_000_000_000);
    const notModified: UpstreamFetchResult = {
      kind: 'not-modified',
      url: 'https://api.example.com/prices.eu',
      validators: { url: 'https://api.example.com/prices.eu', etag: '"1"' },
      maxAgeMs: undefined,
      redirects: 0,
    };
    const make = (channel: string, answers: (() => UpstreamFetchResult | Error)[]) =>
      new BridgeResource({
        spec: spec(channel),
        fetcher: scriptedFetcher(answers),
        publisher: new FakePublisher(),
        metrics,
        timing,
        logger,
        clock,
        random: () => 0,
      });
    const prices = make('prices.eu', [
      documentAnswer('{"price":1}'),
      () => notModified,
      () =>
        new UpstreamError('upstream_status', 'the upstream answered 500', {
          reason: 'status',
          httpStatus: 500,
        }),
    ]);
    const rates = make('rates.eu', [documentAnswer('{"rate":1}'), documentAnswer('{"rate":1}')]);
    prices.start();
    rates.start();
    // prices, rates, prices (304), rates (the same document), prices (500).
    for (let poll = 0; poll < 5; poll++) {
      await clock.fireNext();
      await settle();
    }
    await prices.idle();
    await rates.idle();
    const value = async (name: string, labels: Record<string, string>) =>
      (await registry.getSingleMetric(name)?.get())?.values.find((entry) =>
        Object.entries(labels).every(([key, wanted]) => entry.labels[key] === wanted),
      )?.value;
    const prices1 = { resource: 'prices.eu' };
    assert.equal(await value('fanout_bridge_polls_total', prices1), 3);
    assert.equal(await value('fanout_bridge_not_modified_total', prices1), 1);
    assert.equal(await value('fanout_bridge_changes_total', prices1), 1);
    assert.equal(
      await value('fanout_bridge_poll_errors_total', { ...prices1, code: 'upstream_status' }),
      1,
    );
    assert.ok(((await value('fanout_bridge_upstream_seconds_total', prices1)) ?? -1) >= 0);
    assert.ok(((await value('fanout_bridge_published_bytes_total', prices1)) ?? 0) > 0);
    assert.equal(
      await value('fanout_bridge_publishes_total', {
        ...prices1,
        kind: 'state',
        outcome: 'written',
      }),
      1,
    );
    // One histogram for every poll of the bridge, without a resource label.
    const histogram = await registry.getSingleMetric('fanout_bridge_upstream_seconds')?.get();
    const count = histogram?.values.find(
      (entry) =>
        (entry as { metricName?: string }).metricName === 'fanout_bridge_upstream_seconds_count',
    );
    assert.equal(count?.value, 5);
    assert.equal(count?.labels['resource'], undefined);

    await prices.stop();
    const text = await registry.metrics();
    assert.doesNotMatch(text, /resource="prices\.eu"/, 'no series of a resource polled no more');
    assert.match(text, /fanout_bridge_polls_total\{resource="rates\.eu"\} 2/);
    await rates.stop();
    assert.doesNotMatch(await registry.metrics(), /resource="/);
  });
});

describe('the lease table', () => {
  it('extends, bounds and expires', () => {
    const table = new LeaseTable<string>(1);
    assert.deepEqual(
      table.renew('a', 100, 0, () => 'A'),
      { created: true, expiresAt: 100 },
    );
    assert.deepEqual(
      table.renew('a', 50, 10, () => 'X'),
      { created: false, expiresAt: 100 },
    );
    assert.equal(table.get('a')?.value, 'A');
    assert.throws(() => table.renew('b', 100, 0, () => 'B'), /maxResources/);
    assert.deepEqual(table.takeIdle(149, 50), []);
    assert.deepEqual(
      table.takeIdle(150, 50).map((entry) => entry.channel),
      ['a'],
    );
    assert.equal(table.size, 0);
  });
});
