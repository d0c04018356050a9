/**
 * How an edge finds and talks to bridges: the bridges' headless Service
 * followed by EndpointSlices (a loopback API server replaying
 * kube-apiserver's answers) through the shared membership source, starting
 * empty while the API refuses and filling once it answers; DNS membership
 * whose first lookup fails (a real DNS server on loopback answering SERVFAIL,
 * then records); and the lease token an edge sends to a real bridge.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import dns2 from 'dns2';
import { createLogger, FanoutError, loadConfig, type Member } from '@fanout/shared';
import { bridgeMembership, createEdgeMetrics, DnsMembership, ResourceLeases } from '@fanout/edge';
import { startBridgeApp, type BridgeApp, type BridgePublisher } from '@fanout/bridge';
import { Registry } from 'prom-client';
import { KubernetesApiReplay } from '../support/kubernetes-api-replay.js';

const logger = createLogger({ service: 'test', level: 'silent' });

/** Every list a source reported, and a wait for one that passes a check. */
class Reports {
  readonly lists: (readonly Member[])[] = [];
  readonly listener = (members: readonly Member[]): void => {
    this.lists.push(members);
  };

  async until(check: (members: readonly Member[]) => boolean, what: string): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (!this.lists.some(check)) {
      if (Date.now() > deadline) assert.fail(`never ${what}: ${JSON.stringify(this.lists)}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

describe('an edge finds the bridges by the EndpointSlices of their headless Service', () => {
  it('starts with no bridge while the API refuses, then follows the ready bridges', async () => {
    const service = 'fanout-bridge-headless';
    const api = await KubernetesApiReplay.start({ namespace: 'fanout', service });
    let token = 'not-yet-allowed';
    const errors: unknown[] = [];
    const base = loadConfig({ env: {} });
    const source = bridgeMembership({
      config: {
        ...base.edge.resources,
        enabled: true,
        bridgeKubernetesService: service,
        bridgePort: 8090,
        // Named too, but the EndpointSlices win.
        bridgeDnsName: 'ignored.example',
      },
      cluster: {
        ...base.cluster,
        kubernetesApiUrl: api.url,
        kubernetesNamespace: 'fanout',
        // The edge's own membership settings do not leak into the bridges'.
        membership: 'dns',
        kubernetesService: 'fanout-edge-headless',
        memberPort: 8081,
        settleMs: 60_000,
      },
      onError: (error) => errors.push(error),
      kubernetesToken: () => token,
    });
    assert.ok(source !== undefined);
    assert.equal(source.kind, 'kubernetes');
    const reports = new Reports();
    try {
      api.setReady([0, 1]);
      // The edge's service account may not read EndpointSlices yet (RBAC applied late).
      assert.deepEqual(await source.start(reports.listener), []);
      assert.match(String(errors[0]), /401/);
      token = 'test-token';
      // The replayed slices name no `http` port: the bridges are at bridgePort.
      await reports.until((list) => list.length === 2, 'the two ready bridges');
      assert.deepEqual(reports.lists.at(-1), [
        { id: `${service}-0`, url: 'http://10.1.0.1:8090' },
        { id: `${service}-1`, url: 'http://10.1.0.2:8090' },
      ]);
      // A bridge that is not ready (or gone) leaves the list at once: no settle time.
      api.setReady([1]);
      await reports.until(
        (list) => list.length === 1 && list[0]?.id === `${service}-1`,
        'the one ready bridge',
      );
    } finally {
      await source.close();
      await api.close();
    }
  });

  it('uses DNS when only bridgeDnsName is set, and nothing when neither is', () => {
    const base = loadConfig({ env: {} });
    const dns = bridgeMembership({
      config: { ...base.edge.resources, enabled: true, bridgeDnsName: 'bridges.example' },
      cluster: base.cluster,
      onError: () => undefined,
    });
    assert.equal(dns?.kind, 'dns');
    const none = bridgeMembership({
      config: { ...base.edge.resources, enabled: true, bridges: ['http://bridge:8090'] },
      cluster: base.cluster,
      onError: () => undefined,
    });
    assert.equal(none, undefined);
  });
});

describe('DNS membership whose first lookup fails', () => {
  const name = 'fanout-bridge-headless.fanout.svc.cluster.local';
  let failing = true;
  let server: ReturnType<typeof dns2.createServer>;
  let port = 0;

  before(async () => {
    server = dns2.createServer({
      udp: true,
      handle: (request, send) => {
        const response = dns2.Packet.createResponseFromRequest(request);
        const question = request.questions[0];
        if (failing) {
          response.header.rcode = 2; // SERVFAIL
        } else if (question?.name === name && question.type === dns2.Packet.TYPE.A) {
          const record = {
            name,
            type: dns2.Packet.TYPE.A,
            class: dns2.Packet.CLASS.IN,
            ttl: 5,
            address: '10.2.0.1',
          };
          // dns2 encodes plain records; its typings ask for the encoder method too.
          response.answers.push(record as typeof record & { toBuffer(): Buffer });
        }
        void send(response);
      },
    });
    const listening = await server.listen({ udp: { port: 0, address: '127.0.0.1' } });
    port = listening.udp?.port ?? 0;
  });

  after(async () => {
    await server.close();
  });

  it('starts empty, reports the failure, and lists the members once DNS answers', async () => {
    const errors: unknown[] = [];
    const source = new DnsMembership({
      name,
      servers: [`127.0.0.1:${port}`],
      pollIntervalMs: 100,
      port: 8090,
      scheme: 'http',
      timeoutMs: 500,
      onError: (error) => errors.push(error),
    });
    const reports = new Reports();
    try {
      assert.deepEqual(await source.start(reports.listener), []);
      assert.equal(errors.length, 1);
      assert.equal((errors[0] as { code?: string }).code, 'ESERVFAIL');
      failing = false;
      await reports.until((list) => list.length === 1, 'the member DNS lists');
      assert.deepEqual(reports.lists.at(-1), [{ id: '10.2.0.1', url: 'http://10.2.0.1:8090' }]);
    } finally {
      await source.close();
    }
  });
});

class NullPublisher implements BridgePublisher {
  putState(): Promise<{ position: string; duplicate: boolean }> {
    return Promise.resolve({ position: 'e:0:1', duplicate: false });
  }
  publishEvent(): Promise<{ position: string; duplicate: boolean }> {
    return Promise.resolve({ position: 'e:1:1', duplicate: false });
  }
  close(): void {}
}

describe('an edge sends the lease token to a bridge that wants one', () => {
  const token = 'shared-lease-token-4f1c9a7e';
  let upstream: Server;
  let origin: string;
  let bridge: BridgeApp;
  let bridgeUrl: string;

  before(async () => {
    upstream = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"n":1}');
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    const config = loadConfig({
      env: { FANOUT_BRIDGE_LEASE_TOKEN: token },
      overrides: {
        'bridge.origins': [{ origin: origin, allowPrivate: true }],
        'bridge.host': '127.0.0.1',
        'bridge.port': 0,
        'bridge.minPollIntervalMs': 100,
      },
    });
    bridge = await startBridgeApp({
      config,
      logger,
      registry: new Registry(),
      publisher: new NullPublisher(),
    });
    bridgeUrl = `http://127.0.0.1:${bridge.port}`;
  });

  after(async () => {
    await bridge.stop();
    upstream.closeAllConnections();
    await new Promise<void>((resolve) =>
      upstream.close(() => {
        resolve();
      }),
    );
  });

  function leases(bridgeToken: string): ResourceLeases {
    const base = loadConfig({ env: {} });
    return new ResourceLeases({
      config: { ...base.edge.resources, enabled: true, bridgeToken, leaseMs: 60_000 },
      bridges: () => [bridgeUrl],
      metrics: createEdgeMetrics(new Registry()),
      logger,
    });
  }

  it('is granted the lease with the right token, refused without it or with a wrong one', async () => {
    for (const wrong of ['', 'another-lease-token-0000']) {
      const edge = leases(wrong);
      try {
        await assert.rejects(
          edge.hold({ url: `${origin}/a`, headers: {} }),
          (error: unknown) => error instanceof FanoutError && error.code === 'unavailable',
        );
      } finally {
        edge.close();
      }
    }
    assert.equal(bridge.runtime.leasedCount, 0);
    const edge = leases(token);
    try {
      const hold = await edge.hold({ url: `${origin}/a`, headers: {} });
      assert.match(hold.channel, /^resources\./);
      assert.equal(bridge.runtime.leasedCount, 1);
      hold.release();
    } finally {
      edge.close();
    }
  });
});
