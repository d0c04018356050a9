/**
 * One contract every membership source passes: the static list, the watched
 * file, DNS against a real DNS server on loopback, and Kubernetes
 * EndpointSlices against a loopback API server that replays responses in the
 * shape of kube-apiserver's (test/fixtures/kubernetes). Then the liveness of
 * `static` and `file` lists: real readiness probes of loopback HTTP servers.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import dns2 from 'dns2';
import { loadConfig } from '@fanout/shared';
import {
  DnsMembership,
  FileMembership,
  KubernetesMembership,
  membershipFromConfig,
  probeReadiness,
  SettledMembership,
  StaticMembership,
  type Member,
  type MembershipSource,
} from '@fanout/edge';
import { KubernetesApiReplay } from '../support/kubernetes-api-replay.js';

/** How one kind of source is set up, fed and broken for the contract. */
interface SourceFixture {
  readonly name: string;
  /** False for sources whose list cannot change (static). */
  readonly dynamic: boolean;
  /** The member the source reports for edge number `index`. */
  member(index: number): Member;
  /** Creates a source whose backing lists these edges. */
  create(indexes: readonly number[]): Promise<MembershipSource>;
  /** Changes what the backing lists (dynamic fixtures). */
  set(indexes: readonly number[]): Promise<void>;
  /** Makes the backing fail until `heal` (dynamic fixtures). */
  break(): Promise<void>;
  heal(): Promise<void>;
  /** Longest a dynamic source takes to see a change. */
  readonly changeWithinMs: number;
  cleanup(): Promise<void>;
}

const address = (index: number): string => `10.1.0.${index + 1}`;

function staticFixture(): SourceFixture {
  const member = (index: number): Member => ({
    id: `edge-${index}`,
    url: `http://${address(index)}:8081`,
  });
  return {
    name: 'static list',
    dynamic: false,
    member,
    create: (indexes) =>
      Promise.resolve(new StaticMembership([...indexes, indexes[0] ?? 0].map(member))),
    set: () => Promise.reject(new Error('static')),
    break: () => Promise.reject(new Error('static')),
    heal: () => Promise.reject(new Error('static')),
    changeWithinMs: 0,
    cleanup: () => Promise.resolve(),
  };
}

async function fileFixture(): Promise<SourceFixture> {
  const dir = await mkdtemp(join(tmpdir(), 'fanout-members-'));
  const path = join(dir, 'members.json');
  const member = (index: number): Member => ({
    id: `edge-${index}`,
    url: `http://${address(index)}:8081`,
  });
  let version = 0;
  const writeAtomically = async (text: string): Promise<void> => {
    const temporary = `${path}.${version++}.tmp`;
    await writeFile(temporary, text);
    await rename(temporary, path);
  };
  const set = (indexes: readonly number[]): Promise<void> =>
    writeAtomically(JSON.stringify({ members: indexes.map(member) }));
  let current: readonly number[] = [];
  return {
    name: 'watched file',
    dynamic: true,
    member,
    async create(indexes) {
      current = indexes;
      await set(indexes);
      return new FileMembership({ path, pollIntervalMs: 200 });
    },
    async set(indexes) {
      current = indexes;
      await set(indexes);
    },
    break: () => writeAtomically('{"members": [ not json'),
    heal: () => set(current),
    changeWithinMs: 3000,
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

async function dnsFixture(): Promise<SourceFixture> {
  const name = 'fanout-edge-headless.fanout.svc.cluster.local';
  let records: readonly number[] = [];
  let failing = false;
  const server = dns2.createServer({
    udp: true,
    handle: (request, send) => {
      const response = dns2.Packet.createResponseFromRequest(request);
      const question = request.questions[0];
      if (failing) {
        response.header.rcode = 2; // SERVFAIL
      } else if (question?.name !== name) {
        response.header.rcode = 3; // NXDOMAIN
      } else if (question.type === dns2.Packet.TYPE.A) {
        for (const index of records) {
          // dns2 encodes plain records; its typings ask for the encoder method too.
          const record = {
            name,
            type: dns2.Packet.TYPE.A,
            class: dns2.Packet.CLASS.IN,
            ttl: 5,
            address: address(index),
          };
          response.answers.push(record as typeof record & { toBuffer(): Buffer });
        }
      }
      void send(response);
    },
  });
  const listening = await server.listen({ udp: { port: 0, address: '127.0.0.1' } });
  const port = listening.udp?.port ?? 0;
  const member = (index: number): Member => ({
    id: address(index),
    url: `http://${address(index)}:8081`,
  });
  return {
    name: 'DNS of a headless Service',
    dynamic: true,
    member,
    create(indexes) {
      records = indexes;
      return Promise.resolve(
        new DnsMembership({
          name,
          servers: [`127.0.0.1:${port}`],
          pollIntervalMs: 200,
          port: 8081,
          scheme: 'http',
          timeoutMs: 500,
        }),
      );
    },
    set(indexes) {
      records = indexes;
      return Promise.resolve();
    },
    break() {
      failing = true;
      return Promise.resolve();
    },
    heal() {
      failing = false;
      return Promise.resolve();
    },
    changeWithinMs: 3000,
    cleanup: () => server.close(),
  };
}

async function kubernetesFixture(): Promise<SourceFixture> {
  const api = await KubernetesApiReplay.start({ namespace: 'fanout', service: 'fanout-edge' });
  const member = (index: number): Member => ({
    id: `fanout-edge-${index}`,
    url: `http://${address(index)}:8081`,
  });
  return {
    name: 'Kubernetes EndpointSlices',
    dynamic: true,
    member,
    create(indexes) {
      api.setReady(indexes);
      return Promise.resolve(
        new KubernetesMembership({
          apiUrl: api.url,
          namespace: 'fanout',
          service: 'fanout-edge',
          portName: 'client',
          port: 1,
          scheme: 'http',
          token: () => 'test-token',
          backoffMs: 50,
          maxBackoffMs: 200,
        }),
      );
    },
    set(indexes) {
      api.setReady(indexes);
      return Promise.resolve();
    },
    break() {
      api.failing = true;
      api.dropWatches();
      return Promise.resolve();
    },
    heal() {
      api.failing = false;
      return Promise.resolve();
    },
    changeWithinMs: 3000,
    cleanup: () => api.close(),
  };
}

/** Collects reports; `next` waits for one satisfying the check. */
class Reports {
  readonly lists: (readonly Member[])[] = [];
  #waiters: (() => void)[] = [];

  readonly listener = (members: readonly Member[]): void => {
    this.lists.push(members);
    for (const wake of this.#waiters.splice(0)) wake();
  };

  async until(check: (members: readonly Member[]) => boolean, withinMs: number): Promise<void> {
    const deadline = Date.now() + withinMs;
    while (!this.lists.some(check)) {
      const left = deadline - Date.now();
      assert.ok(
        left > 0,
        `no report as expected within ${withinMs} ms: ${JSON.stringify(this.lists)}`,
      );
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function contract(makeFixture: () => Promise<SourceFixture>, label: string): void {
  describe(`membership contract: ${label}`, () => {
    let fixture: SourceFixture;
    const sources: MembershipSource[] = [];
    before(async () => {
      fixture = await makeFixture();
    });
    after(async () => {
      for (const source of sources) await source.close();
      await fixture.cleanup();
    });
    const expected = (indexes: readonly number[]): Member[] =>
      [...new Set(indexes)]
        .map((index) => fixture.member(index))
        .sort((a, b) => (a.id < b.id ? -1 : 1));
    const open = async (indexes: readonly number[]): Promise<[MembershipSource, Reports]> => {
      const source = await fixture.create(indexes);
      sources.push(source);
      const reports = new Reports();
      const first = await source.start(reports.listener);
      assert.deepEqual(first, expected(indexes));
      return [source, reports];
    };

    it('reports the first list on start, de-duplicated and sorted by id', async () => {
      const [source, reports] = await open([2, 0, 1]);
      assert.deepEqual(reports.lists, [expected([0, 1, 2])]);
      await source.close();
    });

    it('reports a join and a leave, each once', async (t) => {
      if (!fixture.dynamic) {
        t.skip('the list cannot change');
        return;
      }
      const [source, reports] = await open([0, 1]);
      await fixture.set([0, 1, 2]);
      await reports.until((list) => list.length === 3, fixture.changeWithinMs);
      await fixture.set([1, 2]);
      await reports.until(
        (list) => list.length === 2 && list[0]?.id === fixture.member(1).id,
        fixture.changeWithinMs,
      );
      assert.deepEqual(reports.lists, [expected([0, 1]), expected([0, 1, 2]), expected([1, 2])]);
      await source.close();
    });

    it('reports nothing while the list stays the same, and nothing after close', async (t) => {
      if (!fixture.dynamic) {
        t.skip('the list cannot change');
        return;
      }
      const [source, reports] = await open([3, 4]);
      await fixture.set([4, 3]);
      await sleep(800);
      assert.equal(reports.lists.length, 1);
      await source.close();
      await fixture.set([5]);
      await sleep(800);
      assert.equal(reports.lists.length, 1);
    });

    it('keeps the last list while its backing fails, and follows again once it heals', async (t) => {
      if (!fixture.dynamic) {
        t.skip('the list cannot change');
        return;
      }
      const [source, reports] = await open([0, 1]);
      await fixture.break();
      await sleep(800);
      assert.deepEqual(reports.lists, [expected([0, 1])], 'a failure is not an empty cluster');
      await fixture.heal();
      await fixture.set([0, 1, 6]);
      await reports.until((list) => list.length === 3, fixture.changeWithinMs * 3);
      await source.close();
    });

    it('reports through settle-time smoothing only what stayed listed', async (t) => {
      if (!fixture.dynamic) {
        t.skip('the list cannot change');
        return;
      }
      const inner = await fixture.create([0, 1]);
      const settled = new SettledMembership(inner, { settleMs: 1500 });
      sources.push(settled);
      const reports = new Reports();
      assert.deepEqual(await settled.start(reports.listener), expected([0, 1]));
      await fixture.set([0, 1, 7]);
      await reports.until((list) => list.length === 3, fixture.changeWithinMs + 3000);
      assert.deepEqual(reports.lists.at(-1), expected([0, 1, 7]));
      await settled.close();
    });
  });
}

contract(() => Promise.resolve(staticFixture()), 'static list');
contract(fileFixture, 'watched file');
contract(dnsFixture, 'DNS of a headless Service (real DNS server on loopback)');
contract(kubernetesFixture, 'Kubernetes EndpointSlices (replayed API responses)');

describe('Kubernetes EndpointSlice membership', () => {
  it('lists again after 410 Gone and resumes watches from the last resourceVersion', async () => {
    const api = await KubernetesApiReplay.start({ namespace: 'fanout', service: 'fanout-edge' });
    const source = new KubernetesMembership({
      apiUrl: api.url,
      namespace: 'fanout',
      service: 'fanout-edge',
      portName: 'client',
      port: 1,
      scheme: 'http',
      token: () => 'test-token',
      backoffMs: 50,
      maxBackoffMs: 200,
    });
    const reports = new Reports();
    try {
      api.setReady([0]);
      await source.start(reports.listener);
      api.bookmark();
      // A dropped watch resumes from the bookmark's version: no new list.
      api.dropWatches();
      api.setReady([0, 1]);
      await reports.until((list) => list.length === 2, 3000);
      assert.equal(api.requests.filter((kind) => kind === 'list').length, 1);
      // History compacted while disconnected: the watch gets 410 and lists again.
      api.compact();
      api.dropWatches();
      api.setReady([1, 2, 3]);
      await reports.until((list) => list.length === 3, 3000);
      assert.equal(api.requests.filter((kind) => kind === 'list').length, 2);
      assert.deepEqual(reports.lists.at(-1), [
        { id: 'fanout-edge-1', url: 'http://10.1.0.2:8081' },
        { id: 'fanout-edge-2', url: 'http://10.1.0.3:8081' },
        { id: 'fanout-edge-3', url: 'http://10.1.0.4:8081' },
      ]);
    } finally {
      await source.close();
      await api.close();
    }
  });

  it('fails to start without the service account token the API server wants', async () => {
    const api = await KubernetesApiReplay.start({ namespace: 'fanout', service: 'fanout-edge' });
    const source = new KubernetesMembership({
      apiUrl: api.url,
      namespace: 'fanout',
      service: 'fanout-edge',
      portName: '',
      port: 8081,
      scheme: 'http',
      token: () => 'wrong',
    });
    try {
      await assert.rejects(
        source.start(() => undefined),
        /401/,
      );
    } finally {
      await source.close();
      await api.close();
    }
  });
});

/** An edge's readiness endpoint on loopback: answers `/readyz` with `status`, counts the probes. */
class ReadinessServer {
  status = 200;
  probes = 0;
  /** Accepts connections and never answers. */
  hang = false;
  readonly #server = createServer((request, response) => {
    if (request.url !== '/readyz') {
      response.writeHead(404).end();
      return;
    }
    this.probes++;
    if (this.hang) return;
    response.writeHead(this.status, { 'content-type': 'text/plain' }).end('ready\n');
  });

  static async start(): Promise<ReadinessServer> {
    const server = new ReadinessServer();
    await new Promise<void>((resolve) => server.#server.listen(0, '127.0.0.1', resolve));
    return server;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async connections(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#server.getConnections((error, count) => {
        if (error) reject(error);
        else resolve(count);
      });
    });
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => {
      this.#server.close(() => {
        resolve();
      });
    });
  }
}

/** A port nothing listens on. */
async function closedPortUrl(): Promise<string> {
  const server = await ReadinessServer.start();
  const url = server.url;
  await server.close();
  return url;
}

describe('readiness-probed membership of static and file lists (real HTTP probes)', () => {
  it('answers a probe by status, and bounds one that hangs', async () => {
    const server = await ReadinessServer.start();
    try {
      assert.deepEqual(await probeReadiness(server.url, 2000), { ok: true, detail: 'HTTP 200' });
      server.status = 503;
      assert.deepEqual(await probeReadiness(server.url, 2000), { ok: false, detail: 'HTTP 503' });
      server.hang = true;
      const hung = await probeReadiness(server.url, 300);
      assert.equal(hung.ok, false);
      assert.match(hung.detail, /no answer within 300 ms/);
      // The prober closed its connection.
      const deadline = Date.now() + 5000;
      while ((await server.connections()) > 0) {
        assert.ok(Date.now() < deadline, 'the hung probe closed its connection');
        await sleep(50);
      }
      // Closing the membership ends a probe in flight.
      const controller = new AbortController();
      const pending = probeReadiness(server.url, 60_000, controller.signal);
      await sleep(100);
      controller.abort();
      assert.deepEqual(await pending, { ok: false, detail: 'probing stopped' });
      const refused = await probeReadiness(await closedPortUrl(), 2000);
      assert.deepEqual(refused, { ok: false, detail: 'ECONNREFUSED' });
      assert.equal((await probeReadiness('http://[::1', 2000)).ok, false);
    } finally {
      await server.close();
    }
  });

  for (const kind of ['static', 'file'] as const) {
    it(`${kind}: lists only members that answer, drops one after settleMs of failures, re-admits it, never probes itself`, async () => {
      const servers = await Promise.all([0, 1, 2].map(() => ReadinessServer.start()));
      const [a, b, self] = servers as [ReadinessServer, ReadinessServer, ReadinessServer];
      const hanging = await ReadinessServer.start();
      hanging.hang = true;
      const members: Member[] = [
        { id: 'edge-a', url: a.url },
        { id: 'edge-b', url: b.url },
        { id: 'edge-self', url: self.url },
        { id: 'edge-hanging', url: hanging.url },
        { id: 'edge-gone', url: await closedPortUrl() },
      ];
      const dir = await mkdtemp(join(tmpdir(), 'fanout-liveness-'));
      const membersFile = join(dir, 'members.json');
      await writeFile(membersFile, JSON.stringify({ members }));
      const config = loadConfig({
        env: {
          FANOUT_KAFKA_BROKERS: '127.0.0.1:9092',
          FANOUT_KAFKA_TOPIC: 'liveness',
          FANOUT_CLUSTER_MEMBERSHIP: kind,
          FANOUT_CLUSTER_STATIC_MEMBERS: members
            .map((member) => `${member.id}=${member.url}`)
            .join(','),
          FANOUT_CLUSTER_MEMBERS_FILE: membersFile,
          FANOUT_CLUSTER_POLL_INTERVAL_MS: '200',
          FANOUT_CLUSTER_SETTLE_MS: '600',
          FANOUT_CLUSTER_PROBE_INTERVAL_MS: '100',
          FANOUT_CLUSTER_PROBE_TIMEOUT_MS: '300',
        },
      });
      const changes: string[] = [];
      const source = membershipFromConfig({
        cluster: config.cluster,
        servicePort: 8081,
        onError: () => undefined,
        selfId: 'edge-self',
        selfReady: () => true,
        liveness: {
          onChange: (change) => changes.push(`${change.member.id} ${change.live ? 'up' : 'down'}`),
        },
      });
      assert.ok(source);
      const reports = new Reports();
      const names = (list: readonly Member[]): string => list.map((member) => member.id).join(',');
      try {
        assert.equal(names(await source.start(reports.listener)), 'edge-a,edge-b,edge-self');
        assert.deepEqual(changes.sort(), ['edge-gone down', 'edge-hanging down']);
        b.status = 503;
        await reports.until((list) => names(list) === 'edge-a,edge-self', 5000);
        assert.equal(changes.at(-1), 'edge-b down');
        b.status = 200;
        await reports.until(
          (list) => names(list) === 'edge-a,edge-b,edge-self' && reports.lists.length === 3,
          5000,
        );
        assert.equal(changes.at(-1), 'edge-b up');
        assert.equal(self.probes, 0, 'an edge never probes itself');
        assert.ok(a.probes > 1, 'the others are probed again and again');
        assert.deepEqual(reports.lists.map(names), [
          'edge-a,edge-b,edge-self',
          'edge-a,edge-self',
          'edge-a,edge-b,edge-self',
        ]);
      } finally {
        await source.close();
        for (const server of [...servers, hanging]) await server.close();
        await rm(dir, { recursive: true, force: true });
      }
    });
  }
});
