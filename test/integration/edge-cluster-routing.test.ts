/**
 * Cluster routing against a real broker, ingest and three edges in this
 * process that share a watched membership file: `GET /v1/route` answers the
 * same placement on every edge (the one `@fanout/shared` computes), a
 * non-owner serves a subscription and hints at the owner, and when an edge
 * joins, the clients whose partition moved to it get a resumable
 * `rebalance` close naming it and resume there without losing an event.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  ownersOf,
  partitionForChannel,
  placementVersion,
  placePartitions,
  type Placement,
} from '@fanout/shared';
import {
  startIngest,
  stopOwnKafka,
  testKafka,
  TestSocket,
  type EdgeHarness,
  type IngestHarness,
  type TestKafka,
} from '../support/index.js';
import { FileMembershipCluster } from '../support/file-membership-cluster.js';
import {
  jsonFrame,
  metricValue,
  publishEvent,
  SseClient,
  uniqueChannel,
  waitFor,
} from '../support/edge-test-clients.js';

const partitions = 12;
const options = { partitions, replicas: 1, loadFactor: 1.25 };

interface RouteBody {
  placementVersion: number;
  partitions: number;
  members: { id: string; url: string }[];
  channels: { channel: string; partition: number; owners: string[] }[];
  edge: string;
}

describe('edge cluster routing', () => {
  let kafka: TestKafka;
  let ingest: IngestHarness;
  let topic: string;
  let cluster: FileMembershipCluster;

  async function route(edge: EdgeHarness, channels: readonly string[]): Promise<RouteBody> {
    const response = await fetch(`${edge.httpBase}/v1/route?channels=${channels.join(',')}`);
    assert.equal(response.status, 200);
    return (await response.json()) as RouteBody;
  }

  /** A fresh channel whose partition `placement` gives to `owner`. */
  function channelOwnedBy(placement: Placement, owner: string, name: string): string {
    for (;;) {
      const channel = uniqueChannel(name);
      if (ownersOf(placement, partitionForChannel(channel, partitions))[0] === owner) {
        return channel;
      }
    }
  }

  before(async () => {
    kafka = await testKafka();
    topic = await kafka.createTopic({ name: 'edge-cluster', partitions });
    ingest = await startIngest({ brokers: kafka.brokers, topic, partitions });
    cluster = await FileMembershipCluster.create(kafka.brokers, topic);
    await cluster.startMember('edge-a');
    await cluster.startMember('edge-b');
    await cluster.writeMembers(['edge-a', 'edge-b']);
    for (const edge of cluster.edges.values()) {
      await waitFor(
        async () => (await metricValue(edge.registry, 'fanout_edge_cluster_members')) === 2,
        'both edges see the membership',
      );
    }
  });

  after(async () => {
    await cluster.stop();
    await ingest.stop();
    await kafka.close();
    await stopOwnKafka();
  });

  it('answers GET /v1/route with the same placement on every edge', async () => {
    const channels = Array.from({ length: 20 }, (_, index) => uniqueChannel(`route${index}`));
    const expected = placePartitions(['edge-a', 'edge-b'], options);
    const urls = new Map([...cluster.edges].map(([id, edge]) => [id, edge.httpBase]));
    const answers = await Promise.all(
      [...cluster.edges.values()].map((edge) => route(edge, channels)),
    );
    for (const answer of answers) {
      assert.equal(answer.placementVersion, placementVersion);
      assert.equal(answer.partitions, partitions);
      assert.deepEqual(
        answer.members.map((member) => member.id),
        ['edge-a', 'edge-b'],
      );
      for (const entry of answer.channels) {
        assert.equal(entry.partition, partitionForChannel(entry.channel, partitions));
        assert.deepEqual(
          entry.owners,
          ownersOf(expected, entry.partition).map((id) => urls.get(id)),
        );
      }
      assert.ok([...urls.values()].includes(answer.edge));
    }
    const withoutSelf = (answer: RouteBody | undefined) => ({ ...answer, self: undefined });
    assert.deepEqual(withoutSelf(answers[0]), withoutSelf(answers[1]));
  });

  it('refuses a route question without channels or with a pattern', async () => {
    const edge = cluster.edges.get('edge-a');
    assert.ok(edge);
    for (const query of ['', '?channels=', '?channels=orders.*']) {
      const response = await fetch(`${edge.httpBase}/v1/route${query}`);
      assert.equal(response.status, 400);
      const body = (await response.json()) as { error: { code: string } };
      assert.equal(body.error.code, 'invalid_argument');
    }
  });

  it('serves a channel on an edge that does not own it, with a hint naming the owner', async () => {
    const placement = placePartitions(['edge-a', 'edge-b'], options);
    const channel = channelOwnedBy(placement, 'edge-b', 'hinted');
    const [a, b] = [cluster.edges.get('edge-a'), cluster.edges.get('edge-b')];
    assert.ok(a && b);
    const socket = new TestSocket(a.wsUrl, 'fanout.json.v1');
    await socket.opened;
    socket.sendJson({ subscribe: { requestId: 1, subscriptions: [{ channel }] } });
    const [subscribed] = await socket.take(1, (frame) => {
      const [kind, body] = jsonFrame(frame);
      return kind === 'subscribed' ? body : undefined;
    });
    const states = subscribed?.['subscriptions'] as { channel: string; hint?: string }[];
    assert.equal(states[0]?.hint, b.httpBase);
    const position = await publishEvent(ingest, channel);
    const [event] = await socket.take(1, (frame) => {
      const [kind, body] = jsonFrame(frame);
      return kind === 'event' ? body : undefined;
    });
    assert.equal(event?.['position'], position, 'served all the same');

    // On the owner there is no hint.
    const owner = new TestSocket(b.wsUrl, 'fanout.json.v1');
    await owner.opened;
    owner.sendJson({ subscribe: { requestId: 1, subscriptions: [{ channel }] } });
    const [ownerSubscribed] = await owner.take(1, (frame) => {
      const [kind, body] = jsonFrame(frame);
      return kind === 'subscribed' ? body : undefined;
    });
    const ownerStates = ownerSubscribed?.['subscriptions'] as { hint?: string }[];
    assert.equal(ownerStates[0]?.hint, undefined);
    socket.socket.close();
    owner.socket.close();
  });

  it('moves the clients of partitions that a joining edge takes over, and they resume there without loss', async () => {
    const before2 = placePartitions(['edge-a', 'edge-b'], options);
    const after3 = placePartitions(['edge-a', 'edge-b', 'edge-c'], options);
    // A channel owned by edge-a now and by edge-c once it joins, and one that stays on edge-a.
    let moving = '';
    let staying = '';
    while (moving === '' || staying === '') {
      const channel = uniqueChannel('rebalance');
      const partition = partitionForChannel(channel, partitions);
      const [was] = ownersOf(before2, partition);
      const [will] = ownersOf(after3, partition);
      if (was === 'edge-a' && will === 'edge-c' && moving === '') moving = channel;
      if (was === 'edge-a' && will === 'edge-a' && staying === '') staying = channel;
    }
    const a = cluster.edges.get('edge-a');
    assert.ok(a);
    const published: string[] = [await publishEvent(ingest, moving)];
    const socket = new TestSocket(a.wsUrl, 'fanout.json.v1');
    await socket.opened;
    socket.sendJson({
      subscribe: { requestId: 1, subscriptions: [{ channel: moving, since: published[0] }] },
    });
    const stay = new TestSocket(a.wsUrl, 'fanout.json.v1');
    await stay.opened;
    stay.sendJson({ subscribe: { requestId: 1, subscriptions: [{ channel: staying }] } });
    const sse = await SseClient.open(`${a.httpBase}/v1/channels/${moving}?watch=true`);
    assert.equal(sse.status, 200);
    await sse.take(1, (event) => event.event === 'subscribed');
    await socket.take(1, (frame) => (jsonFrame(frame)[0] === 'subscribed' ? true : undefined));
    await stay.take(1, (frame) => (jsonFrame(frame)[0] === 'subscribed' ? true : undefined));
    published.push(await publishEvent(ingest, moving));
    const received: string[] = (
      await socket.take(1, (frame) => {
        const [kind, body] = jsonFrame(frame);
        return kind === 'event' ? String(body['position']) : undefined;
      })
    ).map(String);

    const c = await cluster.startMember('edge-c');
    await cluster.writeMembers(['edge-a', 'edge-b', 'edge-c']);
    // Events published while the edge set changes must not be lost.
    published.push(await publishEvent(ingest, moving));

    const [disconnect] = await socket.take(
      1,
      (frame) => {
        const [kind, body] = jsonFrame(frame);
        if (kind === 'event') received.push(String(body['position']));
        return kind === 'disconnect' ? body : undefined;
      },
      15_000,
    );
    await socket.closed;
    assert.equal(socket.closeCode, 4202);
    assert.equal(disconnect?.['code'], 'rebalance');
    assert.equal(disconnect?.['action'], 'resume_elsewhere');
    assert.equal(disconnect?.['hint'], c.httpBase);
    const positions = disconnect?.['positions'] as { channel: string; position: string }[];
    const resumeFrom = positions[0]?.position;
    assert.ok(resumeFrom);

    const sseRest = await sse.rest(15_000);
    const sseDisconnect = sseRest.find((event) => event.event === 'disconnect');
    assert.ok(sseDisconnect, 'the SSE stream ends with a typed disconnect event');
    const sseBody = JSON.parse(sseDisconnect.data) as { code: string; hint: string };
    assert.equal(sseBody.code, 'rebalance');
    assert.equal(sseBody.hint, c.httpBase);

    // Resume on the edge named in the hint.
    published.push(await publishEvent(ingest, moving));
    const resumed = new TestSocket(
      `${disconnect['hint']}/v1/ws`.replace('http', 'ws'),
      'fanout.json.v1',
    );
    await resumed.opened;
    resumed.sendJson({
      subscribe: { requestId: 1, subscriptions: [{ channel: moving, since: resumeFrom }] },
    });
    // published[0] is where the first subscription started (`since`).
    const missing = published.slice(1).filter((position) => !received.includes(position));
    const replayed = await resumed.take(missing.length, (frame) => {
      const [kind, body] = jsonFrame(frame);
      return kind === 'event' ? String(body['position']) : undefined;
    });
    assert.deepEqual(replayed, missing, 'every event after the close, once, in order');
    resumed.socket.close();

    // The client whose partition stayed was not moved.
    assert.equal(stay.closeCode, undefined);
    stay.socket.close();
    assert.equal(
      await metricValue(a.registry, 'fanout_edge_clients_moved_total', { transport: 'ws' }),
      1,
    );
    assert.equal(
      await metricValue(a.registry, 'fanout_edge_clients_moved_total', { transport: 'sse' }),
      1,
    );
  });
});
