import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  partitionForChannel,
  pickEdge,
  placementVersion,
  placePartitions,
} from '@fanout/shared/portable-core';
import { PlacementRouter } from './placement-router.js';

interface PlacementVectors {
  readonly placementVersion: number;
  readonly placements: readonly {
    name: string;
    members: string[];
    partitions: number;
    replicas: number;
    loadFactor: number;
    expected: { owners: string[][] };
  }[];
  readonly picks: readonly {
    case: number;
    partitions: number[];
    spreadKey: string;
    edge: string | null;
  }[];
}

/** The cluster's own vectors (services/shared/src), read from the compiled test in dist/. */
const vectorsPath = fileURLToPath(
  new URL('../../shared/src/placement-vectors.json', import.meta.url),
);
const vectors = JSON.parse(readFileSync(vectorsPath, 'utf8')) as PlacementVectors;

interface Cluster {
  placementVersion?: number;
  partitions: number;
  replicas: number;
  loadFactor: number;
  members: { id: string; url: string }[];
  edge?: string;
}

/** A fetch answering `GET /v1/route` from `cluster` for the bases in `up`; records each question. */
function routeFetch(cluster: () => Cluster, up: (base: string) => boolean = () => true) {
  const asked: string[] = [];
  const fetchImpl = (input: string | URL | Request): Promise<Response> => {
    const url = new URL(input instanceof Request ? input.url : input);
    asked.push(`${url.origin}${url.pathname}?${url.searchParams.toString()}`);
    if (!up(url.origin)) return Promise.reject(new TypeError('fetch failed'));
    const current = cluster();
    const body = {
      placementVersion: current.placementVersion ?? placementVersion,
      partitions: current.partitions,
      replicas: current.replicas,
      loadFactor: current.loadFactor,
      self: current.members[0],
      members: current.members,
      channels: [],
      edge: current.edge ?? current.members[0]?.url ?? url.origin,
    };
    return Promise.resolve(
      new Response(JSON.stringify(body), { headers: { 'content-type': 'application/json' } }),
    );
  };
  return { fetch: fetchImpl, asked };
}

const urlOf = (id: string): string => `http://${id.replace(/[^a-z0-9-]/gi, 'x')}.test:8081`;

/** A channel of each wanted partition (first match of `c0`, `c1`, …). */
function channelsFor(partitions: readonly number[], count: number): string[] {
  return partitions.map((partition) => {
    for (let index = 0; ; index++) {
      const channel = `vectors.c${index}`;
      if (partitionForChannel(channel, count) === partition) return channel;
    }
  });
}

function routerFor(cluster: Cluster, spreadKey = 'client-1', seed = 'http://seed.test:8081') {
  const fake = routeFetch(() => cluster);
  const router = new PlacementRouter({ seeds: [seed], fetch: fake.fetch, spreadKey });
  return { router, asked: fake.asked };
}

describe('PlacementRouter', () => {
  it('reproduces the owners of every placement test vector', async () => {
    assert.equal(vectors.placementVersion, placementVersion);
    for (const vector of vectors.placements) {
      const members = vector.members.map((id) => ({ id, url: urlOf(id) }));
      const { router } = routerFor({ ...vector, members });
      await router.refresh();
      for (let partition = 0; partition < vector.partitions; partition++) {
        const [channel] = channelsFor([partition], vector.partitions);
        assert.ok(channel);
        assert.deepEqual(
          router.owners(channel),
          (vector.expected.owners[partition] ?? []).map(urlOf),
          `${vector.name}, partition ${partition}`,
        );
      }
      router.close();
    }
  });

  it('reproduces the edge of every pick test vector', async () => {
    for (const pick of vectors.picks) {
      const vector = vectors.placements[pick.case];
      assert.ok(vector, `case ${pick.case}`);
      const members = vector.members.map((id) => ({ id, url: urlOf(id) }));
      const { router } = routerFor({ ...vector, members }, pick.spreadKey);
      await router.refresh();
      const channels = channelsFor(pick.partitions, vector.partitions);
      assert.equal(
        router.compute(channels),
        pick.edge === null ? undefined : urlOf(pick.edge),
        `${vector.name}, partitions ${pick.partitions.join(',')}, key ${pick.spreadKey}`,
      );
      router.close();
    }
  });

  const cluster: Cluster = {
    partitions: 12,
    replicas: 1,
    loadFactor: 1.25,
    members: ['edge-a', 'edge-b', 'edge-c'].map((id) => ({ id, url: urlOf(id) })),
  };

  it('connects to the edge the placement picks, reading the membership from the seed first', async () => {
    const { router, asked } = routerFor(cluster, 'key-1');
    const channels = ['orders.1', 'orders.2', 'orders.*'];
    const edge = await router.edgeFor(channels);
    const placement = placePartitions(['edge-a', 'edge-b', 'edge-c'], cluster);
    const expected = pickEdge(
      placement,
      ['orders.1', 'orders.2'].map((channel) => partitionForChannel(channel, 12)),
      'key-1',
    );
    assert.equal(edge, urlOf(expected ?? ''));
    assert.deepEqual(asked, ['http://seed.test:8081/v1/route?channels=orders.1%2Corders.2']);
    assert.equal(router.view?.members.length, 3);
    router.close();
  });

  it('asks with a probe channel when it follows only patterns, and spreads by its key', async () => {
    const picked = new Set<string>();
    for (let index = 0; index < 30; index++) {
      const { router, asked } = routerFor(cluster, `key-${index}`);
      picked.add(await router.edgeFor(['orders.*']));
      assert.match(asked[0] ?? '', /channels=fanout-route$/);
      router.close();
    }
    assert.equal(picked.size, 3, 'clients of no partition spread over every edge');
  });

  it('leaves out an edge that failed and computes over the others, then falls back to the seed', async () => {
    const { router } = routerFor(cluster, 'key-2');
    const channel = 'orders.eu.7';
    const first = await router.edgeFor([channel]);
    router.failed(first);
    const second = await router.edgeFor([channel]);
    assert.notEqual(second, first);
    const others = cluster.members.filter((member) => member.url !== first);
    const expected = pickEdge(
      placePartitions(
        others.map((member) => member.id),
        cluster,
      ),
      [partitionForChannel(channel, 12)],
      'key-2',
    );
    assert.equal(second, others.find((member) => member.id === expected)?.url);
    router.failed(second);
    const third = await router.edgeFor([channel]);
    router.failed(third);
    assert.equal(await router.edgeFor([channel]), 'http://seed.test:8081', 'no member left');
    router.close();
  });

  it('uses the seed when no edge answers GET /v1/route', async () => {
    const fake = routeFetch(
      () => cluster,
      () => false,
    );
    const router = new PlacementRouter({
      seeds: ['ws://seed.test:8081/v1/ws'],
      fetch: fake.fetch,
    });
    assert.equal(await router.edgeFor(['orders.1']), 'http://seed.test:8081');
    assert.equal(router.view, undefined);
    router.close();
  });

  it('follows a close naming an edge, and reads the membership again when it does not know it', async () => {
    let current = cluster;
    const fake = routeFetch(() => current);
    const router = new PlacementRouter({
      seeds: ['http://seed.test:8081'],
      fetch: fake.fetch,
      spreadKey: 'k',
    });
    await router.edgeFor(['orders.1']);
    assert.equal(fake.asked.length, 1);
    const joined = { id: 'edge-d', url: urlOf('edge-d') };
    current = { ...cluster, members: [...cluster.members, joined] };
    router.redirect(`${joined.url.replace('http', 'ws')}/v1/ws`);
    assert.equal(await router.edgeFor(['orders.1']), joined.url, 'the named edge, once');
    for (let wait = 0; wait < 100 && router.view?.members.length !== 4; wait++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.equal(router.view?.members.length, 4, 'an unknown edge made it ask again');
    assert.match(fake.asked[1] ?? '', /^http:\/\/edge-d\.test:8081\/v1\/route/, 'asking it first');
    router.close();
  });

  it('moves on a subscribe hint to the edge the placement picks, and stays on an owner', async () => {
    const { router } = routerFor(cluster, 'key-3');
    const channel = 'orders.eu.42';
    const owner = await router.edgeFor([channel]);
    const other = cluster.members.find((member) => member.url !== owner)?.url ?? '';
    assert.equal(await router.hinted(owner, other, [channel]), owner);
    assert.equal(
      await router.hinted(other, owner, [channel]),
      undefined,
      'this router computes the current edge: it stays',
    );
    router.close();
  });

  it('uses the edge the cluster answers when it runs another placement version', async () => {
    const { router } = routerFor(
      { ...cluster, placementVersion: placementVersion + 1, edge: urlOf('edge-b') },
      'key-4',
    );
    assert.equal(await router.edgeFor(['orders.1']), urlOf('edge-b'));
    assert.equal(router.compute(['orders.1']), undefined);
    assert.equal(await router.hinted(urlOf('edge-c'), urlOf('edge-b'), []), urlOf('edge-c'));
    router.close();
  });

  it('refuses bad options', () => {
    assert.throws(() => new PlacementRouter({ seeds: [] }), { code: 'invalid_argument' });
    assert.throws(() => new PlacementRouter({ seeds: ['edge:8081'] }), {
      code: 'invalid_argument',
    });
    assert.throws(() => new PlacementRouter({ seeds: ['http://a.test'], refreshIntervalMs: 0 }), {
      code: 'invalid_argument',
    });
  });
});
