/**
 * The cluster as processes: its own broker, 2 ingest and 3 edge processes on
 * 127.0.0.1 with a watched membership file, a few thousand WebSocket and SSE
 * clients following channels and resuming wherever the placement or a
 * close's hint sends them, and producers publishing at a steady rate through
 * both ingests. Steps: (a) an edge is killed with SIGKILL and comes back on
 * a new port, (b) 3→4 edges, (c) 4→2 with SIGTERM drain, (d) the broker is
 * restarted, (e) one edge's broker traffic is delayed then dropped (a
 * proxy between that edge and the broker) while the other edge stays
 * healthy. After each step every client is live again; at the end an
 * independent checker compares what every client received with what Kafka
 * holds: nothing missing, per-channel order, duplicates only across a
 * reconnect and with the record's id.
 *
 * Sizes: FANOUT_CLUSTER_TEST_WS (1500), FANOUT_CLUSTER_TEST_SSE (500),
 * FANOUT_CLUSTER_TEST_CHANNELS (200). It prints a table of reconnect times
 * and clients moved per step (docs/guides/scaling.md).
 */
import assert from 'node:assert/strict';
import { cpus, loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import {
  ClusterRouter,
  SseClusterClient,
  WsClusterClient,
  type ClusterClient,
} from '../support/cluster-clients.js';
import { checkClients, percentile, readChannels } from '../support/cluster-checker.js';
import { ClusterHarness, type ClusterMember } from '../support/cluster-harness.js';
import { startSteadyProducer, type SteadyProducer } from '../support/cluster-producer.js';

const wsClients = Number(process.env['FANOUT_CLUSTER_TEST_WS'] ?? 1500);
const sseClients = Number(process.env['FANOUT_CLUSTER_TEST_SSE'] ?? 500);
const channelCount = Number(process.env['FANOUT_CLUSTER_TEST_CHANNELS'] ?? 200);
const partitions = 24;
const replicas = 2;
const loadFactor = 1.25;
const settleMs = 1000;
const stepTimeout = 300_000;

interface StepResult {
  readonly step: string;
  readonly reconnected: number;
  readonly moved: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly seconds: number;
}

describe('cluster of processes through failures and scaling', { timeout: 900_000 }, () => {
  let harness: ClusterHarness | undefined;
  let producer: SteadyProducer | undefined;
  const clients: ClusterClient[] = [];
  const results: StepResult[] = [];
  const edges = new Map<string, ClusterMember>();
  const channels = Array.from({ length: channelCount }, (_, n) => `cluster.c${n}`);

  function live(): ClusterMember[] {
    return [...(harness?.members.values() ?? [])];
  }

  async function membersSeen(expected: readonly ClusterMember[]): Promise<void> {
    const urls = expected.map((member) => member.url).sort();
    const deadline = Date.now() + 60_000;
    for (const member of expected) {
      for (;;) {
        const response = await fetch(`${member.url}/v1/route?channels=${channels[0]}`).catch(
          () => undefined,
        );
        const body = (await response?.json().catch(() => undefined)) as
          { members?: { url: string }[] } | undefined;
        const seen = (body?.members ?? []).map((entry) => entry.url).sort();
        if (JSON.stringify(seen) === JSON.stringify(urls)) break;
        if (Date.now() > deadline) {
          throw new Error(`${member.id} sees ${seen.join(',')}, not ${urls.join(',')}`);
        }
        await sleep(200);
      }
    }
  }

  /** Until every client is live and none closed for `quietMs`. */
  async function allLive(what: string, quietMs = 3000, timeoutMs = 180_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const down = clients.filter((client) => !client.live);
      const lastClose = Math.max(0, ...clients.map((client) => client.lastClosedAt));
      if (down.length === 0 && Date.now() - lastClose >= quietMs) return;
      if (Date.now() > deadline) {
        throw new Error(
          `${what}: ${down.length} clients not live, e.g. ${down
            .slice(0, 3)
            .map((client) => `${client.id} on ${client.url} closes ${client.closeCodes.join(',')}`)
            .join('; ')}`,
        );
      }
      await sleep(250);
    }
  }

  async function step(name: string, action: () => Promise<void>, minWaitMs: number) {
    const began = Date.now();
    const urlBefore = new Map(clients.map((client) => [client, client.url]));
    const reconnectsBefore = new Map(clients.map((client) => [client, client.reconnects.length]));
    await action();
    await sleep(minWaitMs);
    await allLive(name);
    const times: number[] = [];
    let reconnected = 0;
    for (const client of clients) {
      const fresh = client.reconnects.slice(reconnectsBefore.get(client) ?? 0);
      if (fresh.length > 0) reconnected++;
      for (const reconnect of fresh) times.push(reconnect.ms);
    }
    const moved = clients.filter((client) => urlBefore.get(client) !== client.url).length;
    const result: StepResult = {
      step: name,
      reconnected,
      moved,
      p50: percentile(times, 50),
      p99: percentile(times, 99),
      max: times.length === 0 ? Number.NaN : Math.max(...times),
      seconds: Math.round((Date.now() - began) / 100) / 10,
    };
    results.push(result);
    console.log(`cluster step ${JSON.stringify(result)}`);
    return result;
  }

  before(
    async () => {
      harness = await ClusterHarness.start({
        partitions,
        ingests: 2,
        edgeEnv: {
          FANOUT_CLUSTER_POLL_INTERVAL_MS: '200',
          FANOUT_CLUSTER_SETTLE_MS: String(settleMs),
          FANOUT_CLUSTER_REPLICAS: String(replicas),
          FANOUT_CLUSTER_LOAD_FACTOR: String(loadFactor),
          FANOUT_CLUSTER_REBALANCE_JITTER_MS: '500',
          FANOUT_EDGE_SHUTDOWN_TIMEOUT_MS: '5000',
        },
      });
      const running = harness;
      for (const [id, viaProxy] of [
        ['edge-0', true],
        ['edge-1', false],
        ['edge-2', false],
      ] as const) {
        edges.set(id, await running.startEdge(id, { viaProxy }));
      }
      await running.setMembers([...edges.values()]);
      await membersSeen([...edges.values()]);
      const router = new ClusterRouter({ partitions, replicas, loadFactor }, live);
      producer = startSteadyProducer({
        ingests: running.ingests.map((ingest) => ingest.client),
        channels,
        batch: 10,
        intervalMs: 100,
      });
      const total = wsClients + sseClients;
      for (let n = 0; n < total; n++) {
        // Two or three channels each, spread over all of them.
        const followed = [n, n * 7 + 3, n * 13 + 5]
          .slice(0, 2 + (n % 2))
          .map((k) => channels[k % channels.length] ?? '');
        const unique = [...new Set(followed)];
        const client =
          n % total < wsClients
            ? new WsClusterClient(`ws${n}`, unique, router)
            : new SseClusterClient(`sse${n}`, unique, router);
        clients.push(client);
        client.start();
        if (n % 100 === 99) await sleep(100);
      }
      await allLive('start', 2000);
    },
    { timeout: stepTimeout },
  );

  after(async () => {
    for (const client of clients) client.stop();
    await producer?.stop();
    await harness?.stop();
  });

  it(
    '(a) an edge killed with SIGKILL: its clients resume elsewhere',
    { timeout: stepTimeout },
    async () => {
      assert.ok(harness);
      const running = harness;
      const victim = edges.get('edge-1');
      assert.ok(victim);
      const onVictim = clients.filter((client) => client.url === victim.url).length;
      const result = await step(
        'kill -9 edge',
        async () => {
          await victim.process.kill('SIGKILL');
          edges.delete('edge-1');
          await running.setMembers([...edges.values()]);
          // It comes back (a new port) and rejoins.
          const back = await running.startEdge('edge-1');
          edges.set('edge-1', back);
          await running.setMembers([...edges.values()]);
        },
        settleMs + 2000,
      );
      assert.ok(onVictim > 0, 'the killed edge had clients');
      assert.ok(result.reconnected >= onVictim, 'every client of the killed edge reconnected');
    },
  );

  it(
    '(b) 3→4 edges: clients of moved partitions are rebalanced to the new edge',
    { timeout: stepTimeout },
    async () => {
      assert.ok(harness);
      const running = harness;
      let added: ClusterMember | undefined;
      const result = await step(
        'scale 3→4',
        async () => {
          added = await running.startEdge('edge-3');
          edges.set('edge-3', added);
          await running.setMembers([...edges.values()]);
        },
        settleMs + 3000,
      );
      assert.ok(added);
      const url = added.url;
      assert.ok(result.moved > 0, 'clients moved');
      assert.ok(
        clients.some((client) => client.url === url),
        'the new edge has clients',
      );
    },
  );

  it(
    '(c) 4→2 edges with SIGTERM drain: their clients resume on the others',
    { timeout: stepTimeout },
    async () => {
      assert.ok(harness);
      const running = harness;
      const leaving = ['edge-1', 'edge-2'].map((id) => edges.get(id));
      const result = await step(
        'scale 4→2 (SIGTERM)',
        async () => {
          for (const member of leaving) if (member) edges.delete(member.id);
          await running.setMembers([...edges.values()]);
          await Promise.all(leaving.map((member) => member?.process.kill('SIGTERM')));
        },
        settleMs + 1000,
      );
      const leftUrls = leaving.map((member) => member?.url);
      assert.ok(result.reconnected > 0);
      assert.equal(
        clients.filter((client) => leftUrls.includes(client.url)).length,
        0,
        'no client stays on a stopped edge',
      );
    },
  );

  it(
    '(d) broker restart: clients keep or regain their edges and miss nothing',
    { timeout: stepTimeout },
    async () => {
      assert.ok(harness);
      const running = harness;
      await step(
        'broker restart',
        async () => {
          await running.restartBroker(1500);
        },
        5000,
      );
    },
  );

  it(
    '(e) delay then drop between one edge and the broker: the other edge is undisturbed',
    { timeout: stepTimeout },
    async () => {
      assert.ok(harness);
      const faulty = edges.get('edge-0');
      const healthy = edges.get('edge-3');
      assert.ok(faulty?.brokerProxy && healthy);
      const proxy = faulty.brokerProxy;
      assert.ok(proxy.rewrites() > 0, 'the edge reached the broker through the proxy');
      const onHealthy = clients.filter((client) => client.url === healthy.url);
      const closesBefore = new Map(onHealthy.map((client) => [client, client.closeCodes.length]));
      await step(
        'delay 300 ms, then drop, edge↔broker',
        async () => {
          proxy.setFault({ kind: 'delay', ms: 300 });
          await sleep(6000);
          proxy.setFault({ kind: 'drop' });
          await sleep(8000);
          proxy.setFault({ kind: 'none' });
        },
        3000,
      );
      const disturbed = onHealthy.filter(
        (client) => client.closeCodes.length !== closesBefore.get(client),
      );
      assert.equal(disturbed.length, 0, 'no client of the healthy edge was closed');
    },
  );

  it(
    'every client got every event of its channels in order, duplicates only across reconnects',
    { timeout: stepTimeout },
    async () => {
      assert.ok(harness && producer);
      await producer.stop();
      const kafka = await readChannels(harness.kafka, harness.topic);
      const last = new Map(
        [...kafka.channels].map(([channel, log]) => [channel, log.offsets.at(-1) ?? -1]),
      );
      const caughtUp = (client: ClusterClient): boolean =>
        [...client.logs].every(
          ([channel, log]) => (log.offsets.at(-1) ?? log.start ?? -1) >= (last.get(channel) ?? -1),
        );
      const deadline = Date.now() + 120_000;
      while (!clients.every(caughtUp) && Date.now() < deadline) await sleep(500);
      for (const client of clients) client.stop();
      const report = checkClients(kafka, clients, producer.acked);
      const table = [
        '| step | clients reconnected | clients moved | reconnect p50 | reconnect p99 | max | step took |',
        '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
        ...results.map(
          (r) =>
            `| ${r.step} | ${r.reconnected} | ${r.moved} | ${r.p50} ms | ${r.p99} ms | ${r.max} ms | ${r.seconds} s |`,
        ),
      ];
      console.log(
        [
          `cluster test: ${wsClients} WebSocket + ${sseClients} SSE clients, ${channelCount} channels, ` +
            `${partitions} partitions, ${producer.acked.length} events acknowledged ` +
            `(${producer.failures()} publishes failed), ${report.kafkaRecords} records in Kafka, ` +
            `${report.eventsChecked} deliveries checked, ${report.duplicatesAcrossReconnects} duplicates across reconnects`,
          `machine: ${cpus().length}× ${cpus()[0]?.model ?? '?'}, load average ${loadavg()
            .map((value) => value.toFixed(2))
            .join(' ')}, ${new Date().toISOString()}`,
          ...table,
        ].join('\n'),
      );
      assert.deepEqual(report.problems, []);
      assert.ok(report.eventsChecked > 0);
    },
  );
});
