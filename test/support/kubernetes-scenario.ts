/**
 * The cluster scenario of the chaos tests (`cluster-scenario.ts`) against a
 * release on a real Kubernetes cluster (deploy/tools/local-cluster.mjs):
 * the same resuming WebSocket and SSE clients (`cluster-clients.ts`), the
 * same steady producer (`cluster-producer.ts`) publishing over gRPC through
 * the ingest Service, and the same independent checker
 * (`cluster-checker.ts`) reading the topic from the cluster's Kafka.
 *
 * Clients learn the members, partitions, replicas and load factor from
 * `GET /v1/route` through the edge Service (polled), compute the owner with
 * the placement like the client library, and connect to the edge pods
 * directly (the host routes to the pod network); on a close they follow the
 * close's hint. `step` runs one disruption (a `helm upgrade`, a forced pod
 * deletion), waits until every client is live again, and measures: clients
 * reconnected and moved, reconnect times, and a histogram of when the
 * reconnects completed, relative to the start of the step.
 */
import { cpus, loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import kafkajs, { type Kafka } from 'kafkajs';
import { percentile, settleAndCheck, type CheckReport } from './cluster-checker.js';
import {
  ClusterRouter,
  SseClusterClient,
  WsClusterClient,
  type ClusterClient,
  type ClusterMemberRef,
} from './cluster-clients.js';
import { startSteadyProducer, type SteadyProducer } from './cluster-producer.js';
import { ingestClient, type IngestClient } from './ingest-harness.js';

export interface KubernetesScenarioOptions {
  /** `http://<edge Service ClusterIP>:<port>`. */
  readonly edgeService: string;
  /** `<ingest Service ClusterIP>:<gRPC port>`. */
  readonly ingestGrpc: string;
  readonly brokers: readonly string[];
  readonly topic: string;
  readonly ws: number;
  readonly sse: number;
  readonly channels: number;
  /** Events per publish and publish interval of the producer. */
  readonly batch: number;
  readonly intervalMs: number;
}

export interface KubernetesStepResult {
  readonly step: string;
  readonly clients: number;
  readonly reconnected: number;
  readonly moved: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly seconds: number;
  /** Publishes that failed during the step. */
  readonly publishFailures: number;
  /** Reconnects completed per `bucketMs` since the start of the step. */
  readonly histogram: readonly number[];
  readonly bucketMs: number;
}

interface RouteAnswer {
  readonly partitions: number;
  readonly replicas: number;
  readonly loadFactor: number;
  readonly members: readonly ClusterMemberRef[];
}

async function route(edgeService: string, channel: string): Promise<RouteAnswer | undefined> {
  try {
    const response = await fetch(`${edgeService}/v1/route?channels=${channel}`, {
      signal: AbortSignal.timeout(3000),
    });
    if (response.status !== 200) return undefined;
    return (await response.json()) as RouteAnswer;
  } catch {
    return undefined;
  }
}

export class KubernetesScenario {
  readonly options: KubernetesScenarioOptions;
  readonly clients: ClusterClient[] = [];
  readonly results: KubernetesStepResult[] = [];
  readonly channels: readonly string[];
  readonly producer: SteadyProducer;
  readonly kafka: Kafka;
  #members: readonly ClusterMemberRef[];
  readonly #ingest: IngestClient;
  #polling = true;
  readonly #poller: Promise<void>;

  private constructor(
    options: KubernetesScenarioOptions,
    first: RouteAnswer,
    channels: readonly string[],
  ) {
    this.options = options;
    this.channels = channels;
    this.#members = first.members;
    this.#ingest = ingestClient(options.ingestGrpc);
    this.kafka = new kafkajs.Kafka({
      clientId: 'fanout-cluster-scenario-checker',
      brokers: [...options.brokers],
      logLevel: kafkajs.logLevel.NOTHING,
    });
    this.producer = startSteadyProducer({
      ingests: [this.#ingest],
      channels,
      batch: options.batch,
      intervalMs: options.intervalMs,
    });
    this.#poller = this.#poll();
  }

  /** The members the clients route over (the last `/v1/route` answer). */
  get members(): readonly ClusterMemberRef[] {
    return this.#members;
  }

  static async start(options: KubernetesScenarioOptions): Promise<KubernetesScenario> {
    const channels = Array.from({ length: options.channels }, (_, n) => `scenario.c${n}`);
    const first = await route(options.edgeService, channels[0] ?? '');
    if (first === undefined) throw new Error(`no /v1/route answer from ${options.edgeService}`);
    const scenario = new KubernetesScenario(options, first, channels);
    try {
      const router = new ClusterRouter(
        { partitions: first.partitions, replicas: first.replicas, loadFactor: first.loadFactor },
        () => scenario.#members,
      );
      const total = options.ws + options.sse;
      for (let n = 0; n < total; n++) {
        // Two or three channels each, spread over all of them (as cluster-scenario.ts).
        const followed = [n, n * 7 + 3, n * 13 + 5]
          .slice(0, 2 + (n % 2))
          .map((k) => channels[k % channels.length] ?? '');
        const unique = [...new Set(followed)];
        const client =
          n < options.ws
            ? new WsClusterClient(`ws${n}`, unique, router)
            : new SseClusterClient(`sse${n}`, unique, router);
        scenario.clients.push(client);
        client.start();
        if (n % 100 === 99) await sleep(100);
      }
      await scenario.allLive('start', 2000, 180_000);
      return scenario;
    } catch (error) {
      await scenario.stop();
      throw error;
    }
  }

  async #poll(): Promise<void> {
    while (this.#polling) {
      const answer = await route(this.options.edgeService, this.channels[0] ?? '');
      if (answer !== undefined && answer.members.length > 0) this.#members = answer.members;
      await sleep(500);
    }
  }

  /** Until `/v1/route` through the Service names exactly these pod addresses, several times running. */
  async membersAre(ips: readonly string[], timeoutMs = 120_000): Promise<void> {
    const want = JSON.stringify([...ips].sort());
    const deadline = Date.now() + timeoutMs;
    let agreeing = 0;
    for (;;) {
      const answer = await route(this.options.edgeService, this.channels[0] ?? '');
      const seen = JSON.stringify(
        (answer?.members ?? []).map((member) => new URL(member.url).hostname).sort(),
      );
      agreeing = seen === want ? agreeing + 1 : 0;
      if (agreeing >= 5) return;
      if (Date.now() > deadline) throw new Error(`members ${seen}, not ${want}`);
      await sleep(300);
    }
  }

  /** Until every client is live and none closed for `quietMs`. */
  async allLive(what: string, quietMs = 3000, timeoutMs = 180_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const down = this.clients.filter((client) => !client.live);
      let lastClose = 0;
      for (const client of this.clients) lastClose = Math.max(lastClose, client.lastClosedAt);
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

  /** Clients connected to the pod with this address. */
  clientsOn(ip: string): ClusterClient[] {
    return this.clients.filter(
      (client) => client.url !== '' && new URL(client.url).hostname === ip,
    );
  }

  /**
   * Runs `action` (which returns once the cluster has settled), then waits
   * until every client is live; measures.
   */
  async step(
    name: string,
    action: () => Promise<void>,
    bucketMs = 2000,
  ): Promise<KubernetesStepResult> {
    const began = Date.now();
    const failuresBefore = this.producer.failures();
    const urlBefore = new Map(this.clients.map((client) => [client, client.url]));
    const reconnectsBefore = new Map(
      this.clients.map((client) => [client, client.reconnects.length]),
    );
    await action();
    await this.allLive(name);
    const times: number[] = [];
    const histogram: number[] = [];
    let reconnected = 0;
    for (const client of this.clients) {
      const fresh = client.reconnects.slice(reconnectsBefore.get(client) ?? 0);
      if (fresh.length > 0) reconnected++;
      for (const reconnect of fresh) {
        times.push(reconnect.ms);
        const bucket = Math.max(
          0,
          Math.floor((reconnect.closedAt + reconnect.ms - began) / bucketMs),
        );
        while (histogram.length <= bucket) histogram.push(0);
        histogram[bucket] = (histogram[bucket] ?? 0) + 1;
      }
    }
    const result: KubernetesStepResult = {
      step: name,
      clients: this.clients.length,
      reconnected,
      moved: this.clients.filter((client) => urlBefore.get(client) !== client.url).length,
      p50: percentile(times, 50),
      p99: percentile(times, 99),
      max: times.length === 0 ? Number.NaN : Math.max(...times),
      seconds: Math.round((Date.now() - began) / 100) / 10,
      publishFailures: this.producer.failures() - failuresBefore,
      histogram,
      bucketMs,
    };
    this.results.push(result);
    console.log(`kubernetes step ${JSON.stringify(result)}`);
    return result;
  }

  /**
   * Stops the producer, reads the topic from Kafka, waits until every
   * client has what Kafka holds for its channels (or 120 s), stops the
   * clients and runs the checker. Prints the step table.
   */
  async check(): Promise<CheckReport> {
    await this.producer.stop();
    const report = await settleAndCheck(
      this.kafka,
      this.options.topic,
      this.clients,
      this.producer.acked,
    );
    const cpu = cpus();
    console.log(
      [
        `kubernetes scenario: ${this.options.ws} WebSocket + ${this.options.sse} SSE clients, ` +
          `${this.channels.length} channels, ` +
          `${this.producer.acked.length} events acknowledged (${this.producer.failures()} publishes failed), ` +
          `${report.kafkaRecords} records in Kafka, ${report.eventsChecked} deliveries checked, ` +
          `${report.duplicatesAcrossReconnects} duplicates across reconnects, ${report.problems.length} problems`,
        `machine: ${cpu.length}× ${cpu[0]?.model ?? '?'}, load average ${loadavg()
          .map((value) => value.toFixed(2))
          .join(' ')}, ${new Date().toISOString()}`,
        '| step | clients reconnected | clients moved | reconnect p50 | reconnect p99 | max | publishes failed | step took |',
        '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
        ...this.results.map(
          (r) =>
            `| ${r.step} | ${r.reconnected} | ${r.moved} | ${r.p50} ms | ${r.p99} ms | ${r.max} ms | ${r.publishFailures} | ${r.seconds} s |`,
        ),
        ...this.results
          .filter((r) => r.reconnected > 0)
          .map(
            (r) =>
              `${r.step}: reconnects completed per ${r.bucketMs / 1000} s since the step began: ${r.histogram.join(' ')}`,
          ),
      ].join('\n'),
    );
    return report;
  }

  async stop(): Promise<void> {
    for (const client of this.clients) client.stop();
    this.#polling = false;
    await this.producer.stop();
    await this.#poller;
    this.#ingest.close();
  }
}
