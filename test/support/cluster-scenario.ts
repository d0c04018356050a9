/**
 * The process-level cluster scenario shared by the chaos tests: a
 * `ClusterHarness` with 2 ingest and 3 edge processes (edge-0 reaches the
 * broker through a fault proxy), a few thousand WebSocket and SSE clients
 * following channels and resuming where the placement or a close's hint
 * sends them, and steady producers. `step` runs one disruption, waits
 * until every client is live again, and measures reconnect times and
 * clients moved; `check` stops the producers, reads Kafka and runs the
 * independent checker.
 *
 * Sizes: FANOUT_TEST_CLUSTER_WS (1500), FANOUT_TEST_CLUSTER_SSE (500),
 * FANOUT_TEST_CLUSTER_CHANNELS (200).
 */
import { cpus, loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { percentile, settleAndCheck, type CheckReport } from './cluster-checker.js';
import {
  ClusterRouter,
  SseClusterClient,
  WsClusterClient,
  type ClusterClient,
} from './cluster-clients.js';
import { ClusterHarness, type ClusterMember } from './cluster-harness.js';
import { startSteadyProducer, type SteadyProducer } from './cluster-producer.js';

export interface StepResult {
  readonly step: string;
  readonly reconnected: number;
  readonly moved: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly seconds: number;
}

export const clusterSettleMs = 1000;
const partitions = 24;
const replicas = 2;
const loadFactor = 1.25;

export class ClusterScenario {
  readonly harness: ClusterHarness;
  readonly producer: SteadyProducer;
  readonly clients: ClusterClient[];
  readonly results: StepResult[] = [];
  readonly channels: readonly string[];
  readonly wsClients: number;
  readonly sseClients: number;

  private constructor(
    harness: ClusterHarness,
    producer: SteadyProducer,
    clients: ClusterClient[],
    channels: readonly string[],
    sizes: { ws: number; sse: number },
  ) {
    this.harness = harness;
    this.producer = producer;
    this.clients = clients;
    this.channels = channels;
    this.wsClients = sizes.ws;
    this.sseClients = sizes.sse;
  }

  /** Edges in the membership now, by id. */
  get edges(): Map<string, ClusterMember> {
    return this.harness.members;
  }

  /** `ownBroker`: a broker of its own, for tests that restart it. */
  static async start(options: { ownBroker: boolean }): Promise<ClusterScenario> {
    const ws = Number(process.env['FANOUT_TEST_CLUSTER_WS'] ?? 1500);
    const sse = Number(process.env['FANOUT_TEST_CLUSTER_SSE'] ?? 500);
    const channelCount = Number(process.env['FANOUT_TEST_CLUSTER_CHANNELS'] ?? 200);
    const channels = Array.from({ length: channelCount }, (_, n) => `cluster.c${n}`);
    const harness = await ClusterHarness.start({
      partitions,
      ingests: 2,
      ownBroker: options.ownBroker,
      edgeEnv: {
        FANOUT_CLUSTER_POLL_INTERVAL_MS: '200',
        FANOUT_CLUSTER_SETTLE_MS: String(clusterSettleMs),
        FANOUT_CLUSTER_REPLICAS: String(replicas),
        FANOUT_CLUSTER_LOAD_FACTOR: String(loadFactor),
        FANOUT_CLUSTER_REBALANCE_JITTER_MS: '500',
        FANOUT_EDGE_SHUTDOWN_TIMEOUT_MS: '5000',
      },
    });
    try {
      const started = await Promise.all([
        // Behind the fault proxy; a request timeout below the test's drop.
        harness.startEdge('edge-0', {
          viaProxy: true,
          env: { FANOUT_KAFKA_REQUEST_TIMEOUT_MS: '4000' },
        }),
        harness.startEdge('edge-1'),
        harness.startEdge('edge-2'),
      ]);
      await harness.setMembers(started);
      await membersSeen(started, channels[0] ?? '');
      const router = new ClusterRouter({ partitions, replicas, loadFactor }, () => [
        ...harness.members.values(),
      ]);
      const producer = startSteadyProducer({
        ingests: harness.ingests.map((ingest) => ingest.client),
        channels,
        batch: 10,
        intervalMs: 100,
      });
      const clients: ClusterClient[] = [];
      const scenario = new ClusterScenario(harness, producer, clients, channels, { ws, sse });
      const total = ws + sse;
      for (let n = 0; n < total; n++) {
        // Two or three channels each, spread over all of them.
        const followed = [n, n * 7 + 3, n * 13 + 5]
          .slice(0, 2 + (n % 2))
          .map((k) => channels[k % channels.length] ?? '');
        const unique = [...new Set(followed)];
        const client =
          n < ws
            ? new WsClusterClient(`ws${n}`, unique, router)
            : new SseClusterClient(`sse${n}`, unique, router);
        clients.push(client);
        client.start();
        if (n % 100 === 99) await sleep(100);
      }
      await scenario.allLive('start', 2000);
      return scenario;
    } catch (error) {
      await harness.stop();
      throw error;
    }
  }

  /** Until every client is live and none closed for `quietMs`. */
  async allLive(what: string, quietMs = 3000, timeoutMs = 90_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const down = this.clients.filter((client) => !client.live);
      let lastClose = 0;
      for (const client of this.clients) lastClose = Math.max(lastClose, client.lastClosedAt);
      if (down.length === 0 && Date.now() - lastClose >= quietMs) return;
      if (Date.now() > deadline) {
        for (const client of down.slice(0, 10)) {
          console.log(`timeline of ${client.id}:\n  ${client.timeline.join('\n  ')}`);
        }
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

  /** Runs `action`, waits at least `minWaitMs` and until all clients are live; measures. */
  async step(name: string, action: () => Promise<void>, minWaitMs: number): Promise<StepResult> {
    const began = Date.now();
    const urlBefore = new Map(this.clients.map((client) => [client, client.url]));
    const reconnectsBefore = new Map(
      this.clients.map((client) => [client, client.reconnects.length]),
    );
    await action();
    await sleep(minWaitMs);
    await this.allLive(name);
    const times: number[] = [];
    let reconnected = 0;
    let slowShown = 0;
    for (const client of this.clients) {
      const fresh = client.reconnects.slice(reconnectsBefore.get(client) ?? 0);
      if (fresh.length > 0) reconnected++;
      for (const reconnect of fresh) times.push(reconnect.ms);
      if (fresh.some((reconnect) => reconnect.ms >= 5000) && slowShown++ < 10) {
        console.log(
          `slow reconnect of ${client.id} in ${name} (began ${began}):\n  ${client.timeline.join('\n  ')}`,
        );
      }
    }
    const result: StepResult = {
      step: name,
      reconnected,
      moved: this.clients.filter((client) => urlBefore.get(client) !== client.url).length,
      p50: percentile(times, 50),
      p99: percentile(times, 99),
      max: times.length === 0 ? Number.NaN : Math.max(...times),
      seconds: Math.round((Date.now() - began) / 100) / 10,
    };
    this.results.push(result);
    console.log(`cluster step ${JSON.stringify(result)}`);
    return result;
  }

  /** Sets the membership file to these edges and waits until each of them sees it. */
  async setMembers(members: readonly ClusterMember[]): Promise<void> {
    await this.harness.setMembers(members);
    await membersSeen(members, this.channels[0] ?? '');
  }

  /**
   * Stops the producers, reads Kafka, waits until every client has what
   * Kafka holds for its channels (or 120 s), stops the clients and checks.
   * Prints the step table.
   */
  async check(): Promise<CheckReport> {
    await this.producer.stop();
    const report = await settleAndCheck(
      this.harness.kafka,
      this.harness.topic,
      this.clients,
      this.producer.acked,
    );
    const cpu = cpus();
    console.log(
      [
        `cluster test: ${this.wsClients} WebSocket + ${this.sseClients} SSE clients, ` +
          `${this.channels.length} channels, ${partitions} partitions, ` +
          `${this.producer.acked.length} events acknowledged (${this.producer.failures()} publishes failed), ` +
          `${report.kafkaRecords} records in Kafka, ${report.eventsChecked} deliveries checked, ` +
          `${report.duplicatesAcrossReconnects} duplicates across reconnects, ${report.problems.length} problems`,
        `machine: ${cpu.length}× ${cpu[0]?.model ?? '?'}, load average ${loadavg()
          .map((value) => value.toFixed(2))
          .join(' ')}, ${new Date().toISOString()}`,
        '| step | clients reconnected | clients moved | reconnect p50 | reconnect p99 | max | step took |',
        '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
        ...this.results.map(
          (r) =>
            `| ${r.step} | ${r.reconnected} | ${r.moved} | ${r.p50} ms | ${r.p99} ms | ${r.max} ms | ${r.seconds} s |`,
        ),
      ].join('\n'),
    );
    return report;
  }

  async stop(): Promise<void> {
    for (const client of this.clients) client.stop();
    await this.producer.stop();
    await this.harness.stop();
  }
}

/** Waits until every edge in `expected` answers `GET /v1/route` with exactly these members. */
async function membersSeen(expected: readonly ClusterMember[], channel: string): Promise<void> {
  const urls = JSON.stringify(expected.map((member) => member.url).sort());
  const deadline = Date.now() + 60_000;
  for (const member of expected) {
    for (;;) {
      const body = await fetch(`${member.url}/v1/route?channels=${channel}`)
        .then((response) => response.json() as Promise<{ members?: { url: string }[] }>)
        .catch(() => undefined);
      const seen = JSON.stringify((body?.members ?? []).map((entry) => entry.url).sort());
      if (seen === urls) break;
      if (Date.now() > deadline) throw new Error(`${member.id} sees ${seen}, not ${urls}`);
      await sleep(200);
    }
  }
}
