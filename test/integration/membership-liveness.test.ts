/**
 * `static` membership follows the liveness of its members: three edge
 * processes list each other with `cluster.staticMembers`; one is killed with
 * SIGKILL. After the settle time no `subscribed` hint and no `GET /v1/route`
 * answer of the others names it, and the metric counts it dead; once it is
 * started again at the same URL, every edge re-admits it and hints at it
 * again. A client sent by a hint is served either way.
 */
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ownersOf, partitionForChannel, placePartitions } from '@fanout/shared';
import {
  startEdge,
  startEdgeProcess,
  startIngest,
  stopOwnKafka,
  testKafka,
  TestSocket,
  type EdgeProcess,
  type IngestHarness,
  type TestKafka,
} from '../support/index.js';
import { jsonFrame, publishEvent, uniqueChannel } from '../support/edge-test-clients.js';

const partitions = 12;
const ids = ['edge-a', 'edge-b', 'edge-c'] as const;
type Id = (typeof ids)[number];

interface RouteBody {
  members: { id: string; url: string }[];
  channels: { channel: string; partition: number; owners: string[] }[];
  edge: string;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => {
    server.close(() => {
      resolve();
    });
  });
  return port;
}

/** Polls `check` every 200 ms until it holds. */
async function eventually(
  check: () => Promise<boolean>,
  what: string,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('static membership drops a killed edge and re-admits it when it is back', () => {
  let kafka: TestKafka;
  let topic: string;
  let ingest: IngestHarness;
  const ports = new Map<Id, number>();
  const urls = new Map<Id, string>();
  const edges = new Map<Id, EdgeProcess>();
  /** One channel per partition. */
  const channels: string[] = [];

  const url = (id: Id): string => urls.get(id) ?? '';
  const edge = (id: Id): EdgeProcess => {
    const found = edges.get(id);
    assert.ok(found, `${id} runs`);
    return found;
  };

  async function startMember(id: Id): Promise<EdgeProcess> {
    const started = await startEdgeProcess({
      brokers: kafka.brokers,
      topic,
      timeoutMs: 60_000,
      env: {
        FANOUT_EDGE_EDGE_ID: id,
        FANOUT_EDGE_PORT: String(ports.get(id)),
        FANOUT_CLUSTER_MEMBERSHIP: 'static',
        FANOUT_CLUSTER_STATIC_MEMBERS: ids.map((member) => `${member}=${url(member)}`).join(','),
        FANOUT_CLUSTER_SETTLE_MS: '1000',
        FANOUT_CLUSTER_PROBE_INTERVAL_MS: '200',
        FANOUT_CLUSTER_PROBE_TIMEOUT_MS: '3000',
        FANOUT_CLUSTER_REPLICAS: '1',
        FANOUT_CLUSTER_REBALANCE: 'false',
      },
    });
    edges.set(id, started);
    return started;
  }

  async function route(id: Id): Promise<RouteBody> {
    const response = await fetch(`${url(id)}/v1/route?channels=${channels.join(',')}`);
    assert.equal(response.status, 200);
    return (await response.json()) as RouteBody;
  }

  const memberIds = async (id: Id): Promise<string> =>
    (await route(id)).members.map((member) => member.id).join(',');

  /** The hints of a subscription to every channel (one per partition) on `id`. */
  async function hints(id: Id): Promise<Map<string, string | undefined>> {
    const socket = new TestSocket(`${url(id).replace('http', 'ws')}/v1/ws`, 'fanout.json.v1');
    try {
      await socket.opened;
      socket.sendJson({
        subscribe: { requestId: 1, subscriptions: channels.map((channel) => ({ channel })) },
      });
      const [subscribed] = await socket.take(1, (frame) => {
        const [kind, body] = jsonFrame(frame);
        return kind === 'subscribed' ? body : undefined;
      });
      const states = subscribed?.['subscriptions'] as { channel: string; hint?: string }[];
      return new Map(states.map((state) => [state.channel, state.hint]));
    } finally {
      socket.socket.close();
    }
  }

  async function metric(id: Id, state: 'live' | 'dead'): Promise<number> {
    const text = await (await fetch(`${edge(id).metricsBase}/metrics`)).text();
    const line = text
      .split('\n')
      .find(
        (entry) =>
          entry.startsWith('fanout_edge_cluster_listed_members{') &&
          entry.includes(`state="${state}"`),
      );
    return Number(line?.split(' ')[1] ?? NaN);
  }

  before(async () => {
    kafka = await testKafka();
    topic = await kafka.createTopic({ name: 'membership-liveness', partitions });
    ingest = await startIngest({ brokers: kafka.brokers, topic, partitions });
    for (const id of ids) {
      ports.set(id, await freePort());
      urls.set(id, `http://127.0.0.1:${ports.get(id)}`);
    }
    const covered = new Set<number>();
    while (covered.size < partitions) {
      const channel = uniqueChannel('liveness');
      const partition = partitionForChannel(channel, partitions);
      if (covered.has(partition)) continue;
      covered.add(partition);
      channels.push(channel);
    }
    await Promise.all(ids.map((id) => startMember(id)));
  });

  after(async () => {
    for (const process of edges.values()) await process.kill('SIGKILL');
    await ingest.stop();
    await kafka.close();
    await stopOwnKafka();
  });

  it('answers its readiness on the client port, where the other edges probe it', async () => {
    const response = await fetch(`${url('edge-a')}/readyz`);
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { ready: true });
  });

  it('places on every edge that answers, the same on each', async () => {
    for (const id of ids) {
      await eventually(
        async () => (await memberIds(id)) === ids.join(','),
        `${id} lists the three edges`,
      );
    }
    const placement = placePartitions([...ids], { partitions, replicas: 1, loadFactor: 1.25 });
    const answers = await Promise.all(ids.map((id) => route(id)));
    for (const answer of answers) {
      for (const entry of answer.channels) {
        const [owner] = ownersOf(placement, entry.partition) as [Id];
        assert.deepEqual(entry.owners, [url(owner)]);
      }
    }
    const onA = await hints('edge-a');
    assert.ok(
      [...onA.values()].some((hint) => hint === url('edge-c')),
      'edge-c owns partitions and is hinted at',
    );
  });

  it('no longer names a killed edge after the settle time, and still serves a client a stale hint sent', async () => {
    const dead = url('edge-c');
    await edge('edge-c').kill('SIGKILL');
    edges.delete('edge-c');
    for (const id of ['edge-a', 'edge-b'] as const) {
      await eventually(
        async () => (await memberIds(id)) === 'edge-a,edge-b',
        `${id} drops the killed edge`,
      );
      const answer = await route(id);
      assert.ok(!JSON.stringify(answer).includes(dead), `${id}: /v1/route does not name it`);
      assert.equal(answer.channels.length, partitions);
      for (const entry of answer.channels) {
        assert.equal(entry.owners.length, 1);
        assert.ok([url('edge-a'), url('edge-b')].includes(entry.owners[0] ?? ''));
      }
      const hinted = await hints(id);
      assert.equal(hinted.size, partitions);
      assert.ok(
        ![...hinted.values()].includes(dead),
        `${id}: no subscribe hint names the killed edge`,
      );
      assert.equal(await metric(id, 'dead'), 1);
      assert.equal(await metric(id, 'live'), 2);
    }
    // A client that followed an old hint lands on an edge that does not own its channel: served all the same.
    const socket = new TestSocket(`${url('edge-a').replace('http', 'ws')}/v1/ws`, 'fanout.json.v1');
    try {
      await socket.opened;
      const hinted = await hints('edge-a');
      const channel = channels.find((entry) => hinted.get(entry) !== undefined);
      assert.ok(channel, 'edge-a does not own every partition');
      socket.sendJson({ subscribe: { requestId: 1, subscriptions: [{ channel }] } });
      await socket.take(1, (frame) => (jsonFrame(frame)[0] === 'subscribed' ? true : undefined));
      const position = await publishEvent(ingest, channel);
      const [event] = await socket.take(
        1,
        (frame) => {
          const [kind, body] = jsonFrame(frame);
          return kind === 'event' ? body : undefined;
        },
        20_000,
      );
      assert.equal(event?.['position'], position);
    } finally {
      socket.socket.close();
    }
  });

  it('re-admits the edge once it answers again at its URL', async () => {
    await startMember('edge-c');
    for (const id of ids) {
      await eventually(
        async () => (await memberIds(id)) === ids.join(','),
        `${id} re-admits edge-c`,
      );
    }
    for (const id of ['edge-a', 'edge-b'] as const) {
      const hinted = await hints(id);
      assert.ok([...hinted.values()].includes(url('edge-c')), `${id} hints at edge-c again`);
      assert.equal(await metric(id, 'dead'), 0);
      assert.equal(await metric(id, 'live'), 3);
    }
  });
});

describe('the readiness of an edge on its client port', () => {
  it('answers 503 kafka_unavailable while the edge cannot reach Kafka', async () => {
    const closed = await freePort();
    const edge = await startEdge({ brokers: [`127.0.0.1:${closed}`], topic: 'unreachable' });
    try {
      const response = await fetch(`${edge.httpBase}/readyz`);
      assert.equal(response.status, 503);
      assert.equal(response.headers.get('retry-after'), '1');
      const body = (await response.json()) as { error: { code: string } };
      assert.equal(body.error.code, 'kafka_unavailable');
    } finally {
      await edge.stop();
    }
  });
});
