import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { createLogger, FanoutError, leasedResourceChannel } from '@fanout/shared';
import { Registry } from 'prom-client';
import { createEdgeMetrics } from '../edge-metrics.js';
import { resourceUrl } from './resource-endpoint.js';
import { ResourceLeases, type ResourcesConfig } from './resource-leases.js';

const logger = createLogger({ service: 'test', level: 'silent' });

interface LeaseCall {
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly leaseMs: number;
}

type Answer = (call: LeaseCall) => { status: number; body: unknown };

/** A fake bridge: records each `PUT /internal/v1/leases` and answers with `answer`. */
class FakeBridge {
  readonly calls: LeaseCall[] = [];
  readonly server: Server;
  answer: Answer;

  constructor(answer: Answer) {
    this.answer = answer;
    this.server = createServer((request: IncomingMessage, response) => {
      let text = '';
      request.on('data', (chunk: Buffer) => (text += chunk.toString()));
      request.on('end', () => {
        assert.equal(request.method, 'PUT');
        assert.equal(request.url, '/internal/v1/leases');
        const call = JSON.parse(text) as LeaseCall;
        this.calls.push(call);
        const { status, body } = this.answer(call);
        response.writeHead(status, { 'content-type': 'application/json' });
        response.end(JSON.stringify(body));
      });
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    return new Promise((resolve) =>
      this.server.close(() => {
        resolve();
      }),
    );
  }
}

function granted(url: string): Answer {
  return (call) => {
    const channel = leasedResourceChannel('resources', call.url, call.headers);
    return {
      status: 200,
      body: {
        channel,
        statusChannel: `${channel}.status`,
        owner: { id: 'b', url },
        leaseMs: call.leaseMs,
        expiresAt: new Date(Date.now() + call.leaseMs).toISOString(),
      },
    };
  };
}

function config(overrides: Partial<ResourcesConfig> = {}): ResourcesConfig {
  return {
    enabled: true,
    bridges: [],
    bridgeDnsName: '',
    bridgePort: 8090,
    bridgeKubernetesService: '',
    bridgeToken: '',
    leaseMs: 60000,
    renewEveryMs: 60000,
    requestTimeoutMs: 2000,
    firstStateWaitMs: 0,
    maxLeases: 10,
    channelPrefix: 'resources',
    forwardHeaders: ['x-api-key'],
    ...overrides,
  };
}

function leasesWith(bridges: readonly string[], overrides: Partial<ResourcesConfig> = {}) {
  const registry = new Registry();
  const metrics = createEdgeMetrics(registry);
  const leases = new ResourceLeases({
    config: config(overrides),
    bridges: () => bridges,
    metrics,
    logger,
  });
  return { leases, metrics, registry };
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (check()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.fail(`never: ${what}`);
}

async function counter(registry: Registry, name: string, labels = ''): Promise<number> {
  const text = await registry.metrics();
  const line = text.split('\n').find((row) => row.startsWith(`${name}${labels} `));
  return line === undefined ? 0 : Number(line.split(' ')[1]);
}

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<FanoutError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof FanoutError, String(error));
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected ${code}`);
}

const target = { url: 'https://api.example.com/items/7', headers: { 'x-api-key': 'k1' } };
const bridges: FakeBridge[] = [];
after(async () => {
  await Promise.all(bridges.map((bridge) => bridge.close()));
});

async function bridge(answer: (url: string) => Answer): Promise<[FakeBridge, string]> {
  let self = '';
  const fake = new FakeBridge((call) => answer(self)(call));
  bridges.push(fake);
  self = await fake.listen();
  return [fake, self];
}

describe('resource leases', () => {
  it('lease a resource once for all its subscribers, on the channel the bridge computes', async () => {
    const [fake, url] = await bridge(granted);
    const { leases, registry } = leasesWith([url]);
    const [first, second] = await Promise.all([leases.hold(target), leases.hold(target)]);
    assert.equal(fake.calls.length, 1);
    assert.deepEqual(fake.calls[0], { ...target, leaseMs: 60000 });
    const channel = leasedResourceChannel('resources', target.url, target.headers);
    assert.equal(leases.channelOf(target), channel);
    assert.equal(first.channel, channel);
    assert.equal(second.statusChannel, `${channel}.status`);
    assert.equal(await counter(registry, 'fanout_edge_resource_leases'), 1);
    assert.equal(
      await counter(registry, 'fanout_edge_resource_lease_requests_total', '{result="ok"}'),
      1,
    );
    first.release();
    first.release();
    assert.equal(leases.size, 1, 'one subscriber still holds it');
    second.release();
    assert.equal(leases.size, 0);
    assert.equal(await counter(registry, 'fanout_edge_resource_leases'), 0);
    leases.close();
  });

  it('renew while subscribed and stop renewing after the last subscriber left', async () => {
    const [fake, url] = await bridge(granted);
    const { leases } = leasesWith([url], { renewEveryMs: 10 });
    const hold = await leases.hold(target);
    await until(() => fake.calls.length >= 3, 'renewed twice');
    hold.release();
    // A renewal sent just before the release may still arrive.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const count = fake.calls.length;
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(fake.calls.length, count, 'no renewal after the last subscriber left');
    // A new subscriber leases it again.
    const again = await leases.hold(target);
    assert.equal(fake.calls.length, count + 1);
    again.release();
    leases.close();
  });

  it('follow one 421 to the owner and ask the owner directly from then on', async () => {
    const [owner, ownerUrl] = await bridge(granted);
    const [other, otherUrl] = await bridge(() => () => ({
      status: 421,
      body: {
        error: {
          code: 'resource_elsewhere',
          message: 'elsewhere',
          details: { owner: 'b', ownerUrl },
        },
      },
    }));
    const { leases, registry } = leasesWith([otherUrl], { renewEveryMs: 10 });
    const hold = await leases.hold(target);
    assert.equal(other.calls.length, 1);
    assert.equal(owner.calls.length, 1);
    await until(() => owner.calls.length >= 3, 'renewed at the owner');
    assert.equal(other.calls.length, 1, 'the owner is remembered');
    assert.equal(
      await counter(registry, 'fanout_edge_resource_lease_requests_total', '{result="elsewhere"}'),
      1,
    );
    hold.release();
    leases.close();
  });

  it('do not follow a second 421', async () => {
    let loopUrl = '';
    const [loop, url] = await bridge(() => () => ({
      status: 421,
      body: { error: { code: 'resource_elsewhere', details: { ownerUrl: loopUrl } } },
    }));
    loopUrl = url;
    const { leases } = leasesWith([url]);
    await rejectsWith(leases.hold(target), 'unavailable');
    assert.equal(loop.calls.length, 2);
    assert.equal(leases.size, 0);
  });

  it("pass on the bridge's refusals and limits with their codes, holding nothing", async () => {
    const [, refusing] = await bridge(() => () => ({
      status: 403,
      body: {
        error: {
          code: 'upstream_refused',
          message: 'https://api.example.com is not in bridge.origins',
          details: { reason: 'origin-not-allowed' },
        },
      },
    }));
    const refused = leasesWith([refusing]);
    const error = await rejectsWith(refused.leases.hold(target), 'upstream_refused');
    assert.equal(error.details['reason'], 'origin-not-allowed');
    assert.equal(refused.leases.size, 0);
    const [, full] = await bridge(() => () => ({
      status: 503,
      body: { error: { code: 'resource_limit', message: 'full' } },
    }));
    const limited = leasesWith([full]);
    await rejectsWith(limited.leases.hold(target), 'resource_limit');
    assert.equal(limited.leases.size, 0);
  });

  it('answer unavailable when no bridge is known or none answers, and try the next bridge', async () => {
    await rejectsWith(leasesWith([]).leases.hold(target), 'unavailable');
    const [closed, closedUrl] = await bridge(granted);
    await closed.close();
    bridges.splice(bridges.indexOf(closed), 1);
    const { leases, registry } = leasesWith([closedUrl]);
    const error = await rejectsWith(leases.hold(target), 'unavailable');
    assert.equal(error.details['retryAfterMs'], 1000);
    assert.equal(
      await counter(
        registry,
        'fanout_edge_resource_lease_requests_total',
        '{result="unreachable"}',
      ),
      1,
    );
    const [draining, drainingUrl] = await bridge(() => () => ({
      status: 503,
      body: { error: { code: 'draining', message: 'stopping' } },
    }));
    const [good, goodUrl] = await bridge(granted);
    const both = leasesWith([drainingUrl, closedUrl, goodUrl]);
    const hold = await both.leases.hold(target);
    assert.equal(good.calls.length, 1);
    assert.ok(draining.calls.length <= 1);
    hold.release();
  });

  it('hold at most maxLeases resources per edge', async () => {
    const [, url] = await bridge(granted);
    const { leases } = leasesWith([url], { maxLeases: 1 });
    const hold = await leases.hold(target);
    const error = await rejectsWith(
      leases.hold({ url: 'https://api.example.com/items/8', headers: {} }),
      'resource_limit',
    );
    assert.equal(error.details['scope'], 'edge');
    const shared = await leases.hold(target);
    shared.release();
    hold.release();
    leases.close();
  });
});

describe('the url parameter', () => {
  const check = (url: string | undefined): string =>
    resourceUrl(new URLSearchParams(url === undefined ? '' : { url }));

  it('is an absolute http(s) URL, fragment dropped', () => {
    assert.equal(check('https://api.example.com/a?b=1#c'), 'https://api.example.com/a?b=1');
  });

  it('is refused when missing, relative, of another scheme, too long or with a password', () => {
    for (const bad of [
      undefined,
      '',
      '/items/7',
      'ftp://api.example.com/x',
      'https://user:pw@api.example.com/',
      `https://api.example.com/${'a'.repeat(5000)}`,
    ]) {
      assert.throws(
        () => check(bad),
        (error: unknown) => error instanceof FanoutError && error.code === 'invalid_argument',
        String(bad),
      );
    }
  });
});
