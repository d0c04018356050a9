/**
 * The process-level cluster scenarios (test/chaos/cluster-scaling.test.ts)
 * on a real single-node Kubernetes cluster (deploy/tools/local-cluster.mjs,
 * docs/guides/local-cluster.md), under publish load through the ingest
 * Service and with resuming WebSocket and SSE clients on the edge pods
 * (`KubernetesScenario`):
 *
 *   (a) a rolling upgrade of the edges (`helm upgrade` changing a pod
 *       annotation): old pods drain, clients resume on the new ones;
 *   (b) an edge pod deleted with `--grace-period=0 --force`: its clients
 *       resume on the other;
 *   (c) 2→4 edges and (d) 4→2 (`helm upgrade --set edge.replicaCount`):
 *       clients moved within the placement's bound (with
 *       `config.cluster.rebalance=true`: with the chart's default no client
 *       moves when edges join);
 *   (e) the ingest pod restarted (a rolling upgrade of the ingest);
 *
 * then the independent checker reads the topic from the cluster's Kafka:
 * every acknowledged event is there, and every client got every event of
 * its channels in order, duplicates only across reconnects. The release
 * gets a topic of its own (24 partitions), deleted at the end with the
 * release. Last, the k6 Job of deploy/k6/k6-job.yaml runs ws-subscribers.js
 * in the cluster against the Services (`npm run cluster -- k6`) and must
 * meet its thresholds (0 missing, 0 duplicated, latency p99). Then the
 * cluster is brought down.
 *
 * Opt-in, like local-cluster.test.ts (root, Go, the Debian packages; builds
 * unless cached):
 *   FANOUT_TEST_CLUSTER=1 FANOUT_TEST_STATIC=0 npm test -- local-cluster-scenarios
 * Sizes: FANOUT_TEST_CLUSTER_WS (300), FANOUT_TEST_CLUSTER_SSE (100),
 * FANOUT_TEST_CLUSTER_CHANNELS (100), and the edges' drain
 * FANOUT_TEST_CLUSTER_DRAIN_MS (config.edge.shutdownTimeoutMs, 10000).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import kafkajs from 'kafkajs';
import { KubernetesScenario } from '../support/kubernetes-scenario.js';
import {
  localCluster,
  localClusterSkipReason,
  localClusterStatus,
  releasePods,
  releaseService,
  type LocalClusterStatus,
  type PodSummary,
  type ReleaseServices,
} from '../support/local-cluster-control.js';

const skip = localClusterSkipReason();
const sizes = {
  ws: Number(process.env['FANOUT_TEST_CLUSTER_WS'] ?? 300),
  sse: Number(process.env['FANOUT_TEST_CLUSTER_SSE'] ?? 100),
  channels: Number(process.env['FANOUT_TEST_CLUSTER_CHANNELS'] ?? 100),
};
const drainMs = Number(process.env['FANOUT_TEST_CLUSTER_DRAIN_MS'] ?? 10_000);
const partitions = 24;
const topic = `fanout.scenarios.${randomBytes(3).toString('hex')}`;
const stepTimeout = 10 * 60_000;

/**
 * Pod annotations set so far, by value path: an upgrade that left one out
 * would change the pod template back and roll every pod again.
 */
const annotations = new Map<string, string>();

/** Helm arguments every upgrade repeats (an upgrade keeps only what it is given). */
function releaseArgs(edges: number): string[] {
  return [
    '--set',
    `config.kafka.topic=${topic}`,
    '--set',
    `config.kafka.partitions=${partitions}`,
    '--set',
    `config.edge.shutdownTimeoutMs=${drainMs}`,
    // Clients connect to the owners (as the client library does), so moved
    // ownership may close them towards their new edge (the chart's default is off).
    '--set',
    'config.cluster.rebalance=true',
    '--set',
    `edge.replicaCount=${edges}`,
    ...[...annotations].flatMap(([path, value]) => ['--set-string', `${path}=${value}`]),
  ];
}

/** Until the component has exactly `count` pods, all Ready and none terminating. */
async function podsSettled(
  status: LocalClusterStatus,
  component: string,
  count: number,
  timeoutMs = 300_000,
): Promise<PodSummary[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pods = await releasePods(status, component);
    if (pods.length === count && pods.every((pod) => pod.ready && !pod.deleting)) return pods;
    if (Date.now() > deadline) {
      throw new Error(`${component} pods not settled at ${count}: ${JSON.stringify(pods)}`);
    }
    await sleep(500);
  }
}

describe('scenarios under load on a local single-node cluster', { skip }, () => {
  let status: LocalClusterStatus;
  let scenario: KubernetesScenario | undefined;
  let edges = 2;
  const brokers = ['198.18.255.2:9092'];

  const kafkaAdmin = () =>
    new kafkajs.Kafka({
      clientId: 'fanout-cluster-scenarios',
      brokers,
      logLevel: kafkajs.logLevel.NOTHING,
    }).admin();

  /** The edge pods once the Deployment settled at `edges` and the edges agree on them. */
  async function edgesSettled(): Promise<PodSummary[]> {
    const pods = await podsSettled(status, 'edge', edges);
    await scenario?.membersAre(pods.map((pod) => pod.ip));
    return pods;
  }

  before(
    async () => {
      await localCluster('up');
      status = localClusterStatus();
      assert.equal(brokers[0], `${status.network.nodeAddress}:9092`);
      const admin = kafkaAdmin();
      await admin.connect();
      try {
        await admin.createTopics({
          topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }],
          waitForLeaders: true,
        });
      } finally {
        await admin.disconnect();
      }
      const services = JSON.parse(
        await localCluster('install', ...releaseArgs(edges)),
      ) as ReleaseServices;
      const edge = releaseService(services, '-edge');
      const ingest = releaseService(services, '-ingest');
      await podsSettled(status, 'edge', edges);
      scenario = await KubernetesScenario.start({
        edgeService: `http://${edge.clusterIP}:${edge.ports['http']?.port ?? 8081}`,
        ingestGrpc: `${ingest.clusterIP}:${ingest.ports['grpc']?.port ?? 50051}`,
        brokers,
        topic,
        ...sizes,
        batch: 10,
        intervalMs: 100,
      });
      await edgesSettled();
    },
    { timeout: 90 * 60_000 },
  );

  after(
    async () => {
      if (skip !== undefined) return;
      await scenario?.stop().catch((error: unknown) => {
        console.error(error);
      });
      await localCluster('uninstall').catch((error: unknown) => {
        console.error(error);
      });
      const admin = kafkaAdmin();
      await admin
        .connect()
        .then(() => admin.deleteTopics({ topics: [topic] }))
        .catch((error: unknown) => {
          console.error(error);
        })
        .finally(() => admin.disconnect());
      await localCluster('down');
    },
    { timeout: 10 * 60_000 },
  );

  it(
    '(a) a rolling upgrade of the edges: clients resume on the new pods over the drain',
    { timeout: stepTimeout },
    async () => {
      assert.ok(scenario);
      const before = await releasePods(status, 'edge');
      const result = await scenario.step('rolling upgrade of the edges', async () => {
        annotations.set('edge.podAnnotations.restartedAt', String(Date.now()));
        await localCluster('upgrade', ...releaseArgs(edges));
        await edgesSettled();
      });
      const after = await releasePods(status, 'edge');
      for (const pod of before) {
        assert.ok(!after.some((next) => next.name === pod.name), `${pod.name} was replaced`);
        assert.equal(scenario.clientsOn(pod.ip).length, 0, `no client stays on ${pod.name}`);
      }
      assert.ok(result.reconnected > 0, 'clients reconnected');
    },
  );

  it(
    '(b) an edge pod deleted with --grace-period=0 --force: its clients resume on the other',
    { timeout: stepTimeout },
    async () => {
      assert.ok(scenario);
      const pods = await releasePods(status, 'edge');
      const victim = pods
        .map((pod) => ({ pod, clients: scenario?.clientsOn(pod.ip) ?? [] }))
        .sort((a, b) => b.clients.length - a.clients.length)[0];
      assert.ok(victim !== undefined && victim.clients.length > 0, 'the victim has clients');
      const reconnectsBefore = new Map(
        victim.clients.map((client) => [client, client.reconnects.length]),
      );
      await scenario.step(`delete --force ${victim.pod.name}`, async () => {
        await localCluster(
          'kubectl',
          'delete',
          'pod',
          victim.pod.name,
          '-n',
          'fanout',
          '--grace-period=0',
          '--force',
        );
        await edgesSettled();
      });
      for (const client of victim.clients) {
        assert.ok(
          client.reconnects.length > (reconnectsBefore.get(client) ?? 0),
          `${client.id} resumed`,
        );
      }
      assert.equal(scenario.clientsOn(victim.pod.ip).length, 0, 'no client on the deleted pod');
    },
  );

  it(
    "(c) 2→4 edges: clients moved within the placement's bound, 1/E per joining edge + 5 %",
    { timeout: stepTimeout },
    async () => {
      assert.ok(scenario);
      edges = 4;
      const result = await scenario.step('scale 2→4', async () => {
        await localCluster('upgrade', ...releaseArgs(edges));
        await edgesSettled();
        // Rebalancing starts after the settle time and a jitter: let it run.
        await sleep(8000);
      });
      const fraction = result.moved / result.clients;
      console.log(`scale 2→4: ${result.moved} of ${result.clients} clients moved (${fraction})`);
      assert.ok(result.moved > 0, 'clients moved to the new edges');
      for (const pod of await releasePods(status, 'edge')) {
        assert.ok(scenario.clientsOn(pod.ip).length > 0, `${pod.name} has clients`);
      }
      assert.ok(fraction <= 2 / 4 + 0.05, `moved ${fraction} ≤ 2/4 + 5 %`);
    },
  );

  it(
    '(d) 4→2 edges: only the clients of the removed edges move',
    { timeout: stepTimeout },
    async () => {
      assert.ok(scenario);
      const before = await releasePods(status, 'edge');
      const onBefore = new Map(before.map((pod) => [pod.ip, scenario?.clientsOn(pod.ip).length]));
      edges = 2;
      let removed: PodSummary[] = [];
      const result = await scenario.step('scale 4→2 (drain)', async () => {
        await localCluster('upgrade', ...releaseArgs(edges));
        const kept = await edgesSettled();
        removed = before.filter((pod) => !kept.some((keep) => keep.name === pod.name));
      });
      assert.equal(removed.length, 2);
      const onRemoved = removed.reduce((sum, pod) => sum + (onBefore.get(pod.ip) ?? 0), 0);
      const fraction = result.moved / result.clients;
      console.log(
        `scale 4→2: ${result.moved} of ${result.clients} clients moved (${fraction}), ` +
          `${onRemoved} were on the removed edges`,
      );
      for (const pod of removed) assert.equal(scenario.clientsOn(pod.ip).length, 0);
      assert.ok(result.moved >= onRemoved, 'every client of a removed edge moved');
      assert.ok(
        result.moved <= onRemoved + 0.05 * result.clients,
        `moved ${result.moved} ≤ ${onRemoved} + 5 %`,
      );
    },
  );

  it('(e) the ingest pod restarted under publish load', { timeout: stepTimeout }, async () => {
    assert.ok(scenario);
    const before = await releasePods(status, 'ingest');
    const ackedBefore = scenario.producer.acked.length;
    await scenario.step('ingest restart (rolling)', async () => {
      annotations.set('ingest.podAnnotations.restartedAt', String(Date.now()));
      await localCluster('upgrade', ...releaseArgs(edges));
      const after = await podsSettled(status, 'ingest', 1);
      assert.ok(!after.some((pod) => before.some((old) => old.name === pod.name)));
      // Publishing goes on through the new pod.
      const acked = scenario?.producer.acked.length ?? 0;
      const deadline = Date.now() + 60_000;
      while ((scenario?.producer.acked.length ?? 0) < acked + 100 && Date.now() < deadline) {
        await sleep(250);
      }
    });
    assert.ok(scenario.producer.acked.length > ackedBefore + 100, 'publishes acknowledged after');
  });

  it(
    'every acknowledged event is in Kafka, and every client got every event in order',
    { timeout: stepTimeout },
    async () => {
      assert.ok(scenario);
      const report = await scenario.check();
      assert.deepEqual(report.problems, []);
      assert.ok(report.eventsChecked > 0);
    },
  );

  it(
    'the k6 Job (deploy/k6/k6-job.yaml) in the cluster meets its thresholds',
    { timeout: stepTimeout },
    async () => {
      const output = await localCluster(
        'k6',
        'ws-subscribers.js',
        `FANOUT_LOAD_SUBSCRIBERS=${process.env['FANOUT_TEST_CLUSTER_K6_SUBSCRIBERS'] ?? 200}`,
        'FANOUT_LOAD_CHANNELS=10',
        'FANOUT_LOAD_EVENTS=100',
        'FANOUT_LOAD_RATE=10',
      );
      console.log(output.slice(-4000));
      assert.match(output, /fanout_missing_events/);
    },
  );
});
