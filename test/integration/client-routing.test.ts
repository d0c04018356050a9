/**
 * @fanout/client's placement router against a real broker, ingest and three
 * edges in this process that share a watched membership file: the client
 * computes the owner of its channel from the membership `GET /v1/route`
 * reports and connects there, moves when an edge hints at another owner,
 * and when an edge joins and takes its partition over, follows the
 * `rebalance` close to it and resumes there — every event once, in order,
 * over WebSocket and SSE — and when the computed owner does not answer,
 * is served by the edge the placement gives without it.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import {
  createClient,
  PlacementRouter,
  type ClientOptions,
  type FanoutClient,
  type FanoutEvent,
  type Subscription,
  type WebSocketConstructor,
} from '@fanout/client';
import {
  ownersOf,
  partitionForChannel,
  pickEdge,
  placePartitions,
  type Placement,
} from '@fanout/shared';
import WebSocket from 'ws';
import {
  startIngest,
  stopOwnKafka,
  testKafka,
  type EdgeHarness,
  type IngestHarness,
  type TestKafka,
} from '../support/index.js';
import { FileMembershipCluster } from '../support/file-membership-cluster.js';
import { metricValue, publishEvent, uniqueChannel, waitFor } from '../support/edge-test-clients.js';

const webSocket = WebSocket as unknown as WebSocketConstructor;
const partitions = 12;
const options = { partitions, replicas: 1, loadFactor: 1.25 };

/** A subscription's events, as the application sees them. */
function collect(subscription: Subscription): string[] {
  const positions: string[] = [];
  void (async () => {
    try {
      for await (const event of subscription as AsyncIterable<FanoutEvent>) {
        positions.push(event.position);
      }
    } catch {
      // ended with an error: the assertions on the positions tell
    }
  })();
  return positions;
}

describe('@fanout/client placement routing', () => {
  let kafka: TestKafka;
  let ingest: IngestHarness;
  let topic: string;
  let cluster: FileMembershipCluster;
  const clients: FanoutClient[] = [];

  function edge(id: string): EdgeHarness {
    const found = cluster.edges.get(id);
    assert.ok(found, id);
    return found;
  }

  function client(options: Partial<ClientOptions>): FanoutClient {
    const made = createClient({
      url: edge('edge-a').httpBase,
      routing: 'placement',
      WebSocket: webSocket,
      backoff: { initialMs: 100, maxMs: 1000 },
      ...options,
    });
    clients.push(made);
    return made;
  }

  /** A fresh channel whose partition `placement` gives to `owner` (and `then` gives to `next`). */
  function channelOwnedBy(
    placement: Placement,
    owner: string,
    name: string,
    next?: { placement: Placement; owner: string },
  ): string {
    for (;;) {
      const channel = uniqueChannel(name);
      const partition = partitionForChannel(channel, partitions);
      if (ownersOf(placement, partition)[0] !== owner) continue;
      if (next && ownersOf(next.placement, partition)[0] !== next.owner) continue;
      return channel;
    }
  }

  async function connectedTo(made: FanoutClient, url: string, what: string): Promise<void> {
    await waitFor(
      () => made.status.state === 'connected' && made.status.edge === url,
      `${what}: connected to ${url} (status ${JSON.stringify(made.status)})`,
      20_000,
    );
  }

  async function active(subscription: Subscription): Promise<void> {
    await waitFor(() => subscription.state === 'active', `${subscription.channel} active`, 20_000);
  }

  before(async () => {
    kafka = await testKafka();
    topic = await kafka.createTopic({ name: 'client-routing', partitions });
    ingest = await startIngest({ brokers: kafka.brokers, topic, partitions });
    cluster = await FileMembershipCluster.create(kafka.brokers, topic);
    await cluster.startMember('edge-a');
    await cluster.startMember('edge-b');
    await cluster.writeMembers(['edge-a', 'edge-b']);
    for (const member of cluster.edges.values()) {
      await waitFor(
        async () => (await metricValue(member.registry, 'fanout_edge_cluster_members')) === 2,
        'both edges see the membership',
      );
    }
  });

  after(async () => {
    for (const made of clients) made.close();
    await cluster.stop();
    await ingest.stop();
    await kafka.close();
    await stopOwnKafka();
  });

  it('connects to the owner it computes from the membership of GET /v1/route', async () => {
    const placement = placePartitions(['edge-a', 'edge-b'], options);
    const channel = channelOwnedBy(placement, 'edge-b', 'routed');
    const router = new PlacementRouter({ seeds: [edge('edge-a').httpBase] });
    const made = client({ router });
    const subscription = made.subscribe(channel);
    const positions = collect(subscription);
    await connectedTo(made, edge('edge-b').httpBase, 'the owner, not the seed');
    assert.equal(made.status.edgeId, 'edge-b');
    assert.deepEqual(
      router.view?.members.map((member) => member.id),
      ['edge-a', 'edge-b'],
    );
    const answer = (await (
      await fetch(`${edge('edge-a').httpBase}/v1/route?channels=${channel}`)
    ).json()) as { channels: { owners: string[] }[] };
    assert.deepEqual(router.owners(channel), answer.channels[0]?.owners, 'the cluster agrees');
    await active(subscription);
    const published = [await publishEvent(ingest, channel), await publishEvent(ingest, channel)];
    await waitFor(() => positions.length >= 2, 'two events');
    assert.deepEqual(positions, published);
    made.close();
  });

  it('moves to the owner an edge hints at, without losing or repeating an event', async () => {
    const placement = placePartitions(['edge-a', 'edge-b'], options);
    // A spread key that sends a client of no channel to edge-a.
    let spreadKey = '';
    for (let index = 0; spreadKey === ''; index++) {
      if (pickEdge(placement, [], `hint-${index}`) === 'edge-a') spreadKey = `hint-${index}`;
    }
    const channel = channelOwnedBy(placement, 'edge-b', 'hinted');
    const made = client({
      router: new PlacementRouter({ seeds: [edge('edge-a').httpBase], spreadKey }),
    });
    made.connect();
    await connectedTo(made, edge('edge-a').httpBase, 'no channel yet');
    const first = await publishEvent(ingest, channel);
    const published = [first];
    // Subscribing on edge-a: it serves the channel but hints at edge-b.
    const subscription = made.subscribe(channel, { since: first });
    const positions = collect(subscription);
    published.push(await publishEvent(ingest, channel));
    await connectedTo(made, edge('edge-b').httpBase, 'the hinted owner');
    published.push(await publishEvent(ingest, channel));
    await waitFor(() => positions.length >= 2, 'the events after the first');
    assert.deepEqual(positions, published.slice(1), 'every event once, in order');
    made.close();
  });

  it('follows a rebalance close to a joining edge and resumes there, every event once', async () => {
    const before2 = placePartitions(['edge-a', 'edge-b'], options);
    const after3 = placePartitions(['edge-a', 'edge-b', 'edge-c'], options);
    const channel = channelOwnedBy(before2, 'edge-a', 'rebalanced', {
      placement: after3,
      owner: 'edge-c',
    });
    const wsRouter = new PlacementRouter({ seeds: [edge('edge-b').httpBase] });
    const sseRouter = new PlacementRouter({ seeds: [edge('edge-b').httpBase] });
    const routers = [wsRouter, sseRouter];
    const ws = client({ router: wsRouter, transports: ['websocket'] });
    const sse = client({ router: sseRouter, transports: ['sse'] });
    const subscriptions = [ws.subscribe(channel), sse.subscribe(channel)];
    const received = subscriptions.map(collect);
    for (const made of [ws, sse]) await connectedTo(made, edge('edge-a').httpBase, 'the owner');
    for (const subscription of subscriptions) await active(subscription);

    const published = [await publishEvent(ingest, channel)];
    const c = await cluster.startMember('edge-c');
    await cluster.writeMembers(['edge-a', 'edge-b', 'edge-c']);
    // Events published while the edge set changes.
    for (let index = 0; index < 5; index++) published.push(await publishEvent(ingest, channel));
    for (const made of [ws, sse]) await connectedTo(made, c.httpBase, 'the joining edge');
    published.push(await publishEvent(ingest, channel));
    for (const [index, positions] of received.entries()) {
      await waitFor(() => positions.length >= published.length, `events of client ${index}`);
      assert.deepEqual(positions, published, 'every event once, in order');
    }
    assert.equal(
      await metricValue(edge('edge-a').registry, 'fanout_edge_clients_moved_total', {
        transport: 'ws',
      }),
      1,
    );
    for (const router of routers) {
      await waitFor(
        () => router.view?.members.length === 3,
        'the close named an unknown edge: the membership was read again',
      );
    }
    // A new connection now computes the new owner itself.
    const fresh = client({ router: new PlacementRouter({ seeds: [edge('edge-a').httpBase] }) });
    fresh.subscribe(channel);
    await connectedTo(fresh, c.httpBase, 'the new owner');
    for (const made of [ws, sse, fresh]) made.close();
  });
  it('falls back to a reachable edge when the computed owner does not answer', async () => {
    // A member the edges' readiness probes find ready but that answers clients nothing
    // (as behind a partition that cuts clients off): no WebSocket, no HTTP route.
    const dead = createServer((request, response) => {
      if (request.url === '/readyz') response.end('ready\n');
      else request.socket.destroy();
    });
    await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
    const { port } = dead.address() as AddressInfo;
    const deadUrl = `http://127.0.0.1:${port}`;
    const ids = ['edge-a', 'edge-b', 'edge-c', 'edge-x'];
    await cluster.writeMembers(ids, deadUrl);
    await waitFor(
      async () => (await metricValue(edge('edge-a').registry, 'fanout_edge_cluster_members')) === 4,
      'the edges see the unanswering member',
    );
    const placement = placePartitions(ids, options);
    const channel = channelOwnedBy(placement, 'edge-x', 'fallback');
    const without = placePartitions(['edge-a', 'edge-b', 'edge-c'], options);
    const router = new PlacementRouter({ seeds: [edge('edge-a').httpBase] });
    const made = client({ router, transports: ['websocket'] });
    const subscription = made.subscribe(channel);
    const positions = collect(subscription);
    const fallback = pickEdge(
      without,
      [partitionForChannel(channel, partitions)],
      router.spreadKey,
    );
    await connectedTo(made, edge(fallback ?? '').httpBase, 'the owner without the dead member');
    assert.deepEqual(router.owners(channel), [deadUrl], 'the computed owner was the dead one');
    await active(subscription);
    const published = [await publishEvent(ingest, channel), await publishEvent(ingest, channel)];
    await waitFor(() => positions.length >= 2, 'served all the same');
    assert.deepEqual(positions, published);
    made.close();
    dead.closeAllConnections();
    await new Promise<void>((resolve) => {
      dead.close(() => {
        resolve();
      });
    });
  });
});
