/**
 * Live resources end to end against the test broker: a local upstream
 * (127.0.0.1, allowed by the configuration) whose JSON changes, bridge
 * processes publishing through an ingest, an edge process serving the
 * state channel. An SSE state watch sees the snapshot then patches matching
 * the upstream; the status channel reports an upstream 500 then the
 * recovery; two bridges with static membership poll each resource from one
 * bridge only, and the survivor takes over the resources of a bridge killed
 * with SIGKILL.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { FanoutConfigInput, JsonValue, StateDocument } from '@fanout/shared';
import { applyStatePatch } from '@fanout/edge';
import { SseClient, uniqueChannel } from '../support/edge-test-clients.js';
import {
  startBridgeProcess,
  startEdgeProcess,
  startIngestStack,
  type BridgeProcess,
  type EdgeProcess,
  type IngestStack,
} from '../support/index.js';

interface Snapshot {
  readonly state: JsonValue;
  readonly exists: boolean;
  readonly position: string;
}

interface StatusEvent {
  readonly resource: string;
  readonly status: string;
  readonly code: string | null;
  readonly httpStatus: number | null;
}

/** What the upstream serves per path, and who asked. */
class Resources {
  readonly documents = new Map<string, JsonValue>();
  readonly failing = new Set<string>();
  /** path → user agents of the requests, in order. */
  readonly polls = new Map<string, string[]>();

  handle(path: string, userAgent: string): { status: number; body: string } {
    this.polls.set(path, [...(this.polls.get(path) ?? []), userAgent]);
    if (this.failing.has(path)) return { status: 500, body: '{"error":"boom"}' };
    const document = this.documents.get(path);
    if (document === undefined) return { status: 404, body: '{}' };
    return { status: 200, body: JSON.stringify(document) };
  }
}

interface LocalUpstream {
  readonly origin: string;
  close(): Promise<void>;
}

/** The upstream: JSON of `resources` on 127.0.0.1. */
async function startUpstream(resources: Resources): Promise<LocalUpstream> {
  const server: Server = createServer((request, response) => {
    const answer = resources.handle(request.url ?? '/', request.headers['user-agent'] ?? '');
    response.writeHead(answer.status, { 'content-type': 'application/json' });
    response.end(answer.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
        server.closeAllConnections();
      }),
  };
}

async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) =>
    server.close(() => {
      resolve();
    }),
  );
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

async function until(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('live resources through bridge processes', () => {
  let stack: IngestStack;
  let edge: EdgeProcess;
  let upstream: LocalUpstream;
  const resources = new Resources();
  const bridges: BridgeProcess[] = [];

  before(async () => {
    stack = await startIngestStack({ name: 'bridge-resources', partitions: 2 });
    edge = await startEdgeProcess({ brokers: stack.kafka.brokers, topic: stack.topic });
    upstream = await startUpstream(resources);
  });

  after(async () => {
    await Promise.all(bridges.map((bridge) => bridge.kill('SIGKILL')));
    await edge.kill('SIGTERM');
    await upstream.close();
    await stack.stop();
  });

  function bridgeConfig(extra: {
    resources: { channel: string; url: string; intervalMs?: number }[];
    userAgent?: string;
    cluster?: FanoutConfigInput['cluster'];
    port?: number;
  }): FanoutConfigInput {
    return {
      bridge: {
        origins: [{ origin: upstream.origin, allowPrivate: true }],
        resources: extra.resources,
        minPollIntervalMs: 100,
        backoffBaseMs: 100,
        backoffMaxMs: 200,
        host: '127.0.0.1',
        port: extra.port ?? 0,
        ingestAddress: `127.0.0.1:${stack.ingest.app.grpcPort}`,
        ...(extra.userAgent === undefined ? {} : { userAgent: extra.userAgent }),
      },
      ...(extra.cluster === undefined ? {} : { cluster: extra.cluster }),
    };
  }

  it('publishes the upstream as a state channel: snapshot, patches, and a status channel for failures', async () => {
    const channel = uniqueChannel('live.prices');
    const statusChannel = `${channel}.status`;
    const path = `/prices/${channel}`;
    resources.documents.set(path, { eur: 1, usd: 2, note: 'a note long enough for patches' });
    // The status events from the start.
    const statusStream = await SseClient.open(
      `${edge.httpBase}/v1/channels/${statusChannel}?watch=true`,
    );
    assert.equal(statusStream.status, 200);
    await statusStream.take(1, (event) => event.event === 'subscribed');
    const bridge = await startBridgeProcess({
      config: bridgeConfig({
        resources: [{ channel, url: `${upstream.origin}${path}`, intervalMs: 200 }],
      }),
    });
    bridges.push(bridge);

    const [ok] = await statusStream.take(1);
    assert.deepEqual(
      [ok?.event, (JSON.parse(ok?.data ?? '{}') as { data?: StatusEvent }).data?.status],
      ['message', 'ok'],
    );

    // The state watch: a snapshot (the document once the first put arrived), then patches.
    await until(
      'the first document is the state',
      () => (resources.polls.get(path)?.length ?? 0) > 0,
    );
    let held: StateDocument;
    let stream = await SseClient.open(`${edge.httpBase}/v1/state/${channel}`);
    assert.equal(stream.status, 200);
    for (;;) {
      const [opening] = await stream.take(1, (event) => event.event === 'snapshot');
      const snapshot = JSON.parse(opening?.data ?? '{}') as Snapshot;
      held = snapshot.state;
      if (snapshot.exists) break;
      await stream.close();
      await new Promise((resolve) => setTimeout(resolve, 100));
      stream = await SseClient.open(`${edge.httpBase}/v1/state/${channel}`);
    }
    assert.deepEqual(held, { eur: 1, usd: 2, note: 'a note long enough for patches' });
    for (const eur of [3, 4]) {
      const next = { eur, usd: 2, note: 'a note long enough for patches' };
      resources.documents.set(path, next);
      const [patch] = await stream.take(1, (event) => event.event === 'patch');
      const applied = applyStatePatch(
        held,
        (JSON.parse(patch?.data ?? '{}') as { op: unknown }).op,
      );
      assert.ok(applied.ok);
      held = applied.document;
      assert.deepEqual(held, next, 'the patch turns the state into the upstream document');
    }
    await stream.close();

    // An upstream 500: the status turns stale with the code, then ok again.
    resources.failing.add(path);
    const [stale] = await statusStream.take(1);
    const staleEvent = (JSON.parse(stale?.data ?? '{}') as { data: StatusEvent }).data;
    assert.equal(staleEvent.status, 'stale');
    assert.equal(staleEvent.code, 'upstream_status');
    assert.equal(staleEvent.httpStatus, 500);
    assert.equal(staleEvent.resource, `${upstream.origin}${path}`);
    resources.failing.delete(path);
    const [recovered] = await statusStream.take(1);
    assert.equal((JSON.parse(recovered?.data ?? '{}') as { data: StatusEvent }).data.status, 'ok');
    await statusStream.close();

    // The bridge's metrics count what it did.
    const metrics = await (await fetch(`${bridge.metricsBase}/metrics`)).text();
    const escaped = channel.replaceAll('.', '\\.');
    assert.match(
      metrics,
      new RegExp(`fanout_bridge_changes_total\\{resource="${escaped}"[^}]*\\} 3\n`),
    );
    assert.match(
      metrics,
      new RegExp(
        `fanout_bridge_poll_errors_total\\{resource="${escaped}",code="upstream_status"[^}]*\\} [1-9]`,
      ),
    );
    await bridge.kill('SIGTERM');
    bridges.splice(bridges.indexOf(bridge), 1);
  });

  it('polls each resource from one bridge of two, and moves a killed bridge’s resources to the other', async (t) => {
    const ports = [await freePort(), await freePort()];
    const ids = ['bridge-a', 'bridge-b'];
    const staticMembers = ids.map((id, index) => `${id}=http://127.0.0.1:${ports[index]}`);
    const prefix = uniqueChannel('live.pair');
    const declared = Array.from({ length: 8 }, (_, index) => ({
      channel: `${prefix}.r${index}`,
      url: `${upstream.origin}/pair/${prefix}/r${index}`,
      intervalMs: 500,
    }));
    for (const resource of declared) {
      resources.documents.set(new URL(resource.url).pathname, { n: 1 });
    }
    const pair = await Promise.all(
      ids.map((id, index) =>
        startBridgeProcess({
          config: bridgeConfig({
            resources: declared,
            userAgent: id,
            port: ports[index] ?? 0,
            cluster: {
              membership: 'static',
              memberId: id,
              staticMembers,
              settleMs: 500,
              probeIntervalMs: 100,
              probeTimeoutMs: 500,
            },
          }),
        }),
      ),
    );
    bridges.push(...pair);
    const paths = declared.map((resource) => new URL(resource.url).pathname);
    // Both have seen each other (settleMs) and the placement is stable: count afresh.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    for (const path of paths) resources.polls.set(path, []);
    const windowMs = 3000;
    await new Promise((resolve) => setTimeout(resolve, windowMs));
    const owners = new Map<string, string>();
    for (const path of paths) {
      const agents = resources.polls.get(path) ?? [];
      const by = new Set(agents);
      assert.equal(by.size, 1, `${path} is polled by one bridge (${[...by].join(', ')})`);
      // One poll per interval (500 ms) and no more: never a second poller's share.
      assert.ok(agents.length <= windowMs / 500 + 1, `${path}: ${agents.length} polls`);
      owners.set(path, [...by][0] ?? '');
    }
    const victimId = [...owners.values()][0] ?? '';
    const victim = pair[ids.indexOf(victimId)];
    assert.ok(victim);
    const moved = paths.filter((path) => owners.get(path) === victimId);
    const killedAt = Date.now();
    await victim.kill('SIGKILL');
    bridges.splice(bridges.indexOf(victim), 1);
    const survivor = ids.find((id) => id !== victimId) ?? '';
    for (const path of moved) resources.polls.set(path, []);
    await until('the survivor polls the killed bridge’s resources', () =>
      moved.every((path) => (resources.polls.get(path) ?? []).includes(survivor)),
    );
    // Measured, not asserted: settleMs 500 + probes every 100 ms + the first poll.
    t.diagnostic(`${moved.length} resources taken over ${Date.now() - killedAt} ms after the kill`);
    for (const path of moved) {
      assert.deepEqual(new Set(resources.polls.get(path)), new Set([survivor]));
    }
  });
});
