/**
 * A fanout cluster as separate processes on 127.0.0.1: the test run's
 * broker or one of its own (so it can be restarted), ingest processes and edge processes whose
 * membership is a watched file this harness rewrites. An edge may reach the
 * broker through a fault-injecting proxy. Edges that are replaced get a new
 * port (the member id may stay): membership is by URL.
 */
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import kafkajs, { type Kafka } from 'kafkajs';
import { startBrokerProxy, type BrokerProxy } from './cluster-broker-proxy.js';
import { startEdgeProcess, type EdgeProcess } from './edge-process.js';
import { ingestClient, type IngestClient } from './ingest-harness.js';
import { startIngestProcess, type IngestProcess } from './ingest-process.js';
import { LocalKafkaEnvironment } from './local-kafka-environment.js';
import { testKafka, type TestKafka } from './test-kafka.js';

/** An ingest process of the cluster with a gRPC client of it. */
export interface ClusterIngest {
  readonly process: IngestProcess;
  readonly client: IngestClient;
}

export interface ClusterMember {
  readonly id: string;
  readonly process: EdgeProcess;
  /** `http://127.0.0.1:<port>`: the member URL. */
  readonly url: string;
  /** Present when this edge reaches the broker through a fault proxy. */
  readonly brokerProxy: BrokerProxy | undefined;
}

export interface ClusterHarnessOptions {
  readonly partitions: number;
  readonly ingests: number;
  /**
   * A broker of its own, which `restartBroker` can restart (slower to
   * start); otherwise the test run's broker (`testKafka`) with a unique topic.
   */
  readonly ownBroker: boolean;
  /** Extra environment of every edge (cluster.* settings). */
  readonly edgeEnv?: Readonly<Record<string, string>>;
}

export class ClusterHarness {
  readonly partitions: number;
  topic = 'cluster.events';
  readonly ingests: ClusterIngest[] = [];
  /** Edges listed in the membership file, by id. */
  readonly members = new Map<string, ClusterMember>();
  /** Every edge process started, for cleanup. */
  readonly #started: ClusterMember[] = [];
  readonly #dir: string;
  readonly #membersFile: string;
  readonly #edgeEnv: Readonly<Record<string, string>>;
  #broker: LocalKafkaEnvironment | undefined;
  #shared: TestKafka | undefined;
  #brokerPort = 0;
  #kafka: Kafka | undefined;

  private constructor(options: ClusterHarnessOptions, dir: string) {
    this.partitions = options.partitions;
    this.#dir = dir;
    this.#membersFile = join(dir, 'members.json');
    this.#edgeEnv = options.edgeEnv ?? {};
  }

  static async start(options: ClusterHarnessOptions): Promise<ClusterHarness> {
    const harness = new ClusterHarness(
      options,
      await mkdtemp(join(tmpdir(), 'fanout-cluster-test-')),
    );
    await writeFile(harness.#membersFile, JSON.stringify({ members: [] }));
    if (options.ownBroker) {
      const broker = await LocalKafkaEnvironment.start({
        dataDir: join(harness.#dir, 'kafka'),
        keepData: true,
      });
      harness.#broker = broker;
      harness.#brokerPort = broker.port;
      const admin = harness.kafka.admin();
      await admin.connect();
      try {
        await admin.createTopics({
          topics: [
            { topic: harness.topic, numPartitions: options.partitions, replicationFactor: 1 },
          ],
          waitForLeaders: true,
        });
      } finally {
        await admin.disconnect();
      }
    } else {
      const shared = await testKafka();
      harness.#shared = shared;
      const [host, port] = (shared.brokers[0] ?? '').split(':');
      if (host !== '127.0.0.1' || shared.brokers.length !== 1) {
        throw new Error(
          `the cluster test needs one broker on 127.0.0.1, not ${shared.brokers.join(',')}`,
        );
      }
      harness.#brokerPort = Number(port);
      harness.topic = await shared.createTopic({ name: 'cluster', partitions: options.partitions });
    }
    harness.ingests.push(
      ...(await Promise.all(
        Array.from({ length: options.ingests }, async () => {
          const process = await startIngestProcess({
            brokers: harness.brokers,
            topic: harness.topic,
          });
          return { process, client: ingestClient(process.grpcAddress) };
        }),
      )),
    );
    return harness;
  }

  get brokers(): string[] {
    return [`127.0.0.1:${this.#brokerPort}`];
  }

  get brokerPort(): number {
    return this.#brokerPort;
  }

  /** A kafkajs client of the broker, independent of the services. */
  get kafka(): Kafka {
    this.#kafka ??= new kafkajs.Kafka({
      clientId: 'fanout-cluster-checker',
      brokers: this.brokers,
      logLevel: kafkajs.logLevel.NOTHING,
    });
    return this.#kafka;
  }

  /** Starts an edge (not yet a member: call `setMembers`). */
  async startEdge(
    id: string,
    options: { viaProxy?: boolean; env?: Readonly<Record<string, string>> } = {},
  ): Promise<ClusterMember> {
    const brokerProxy =
      options.viaProxy === true
        ? await startBrokerProxy({ host: '127.0.0.1', brokerPort: this.#brokerPort })
        : undefined;
    const process = await startEdgeProcess({
      brokers: brokerProxy ? [brokerProxy.address] : this.brokers,
      topic: this.topic,
      timeoutMs: 60_000,
      env: {
        FANOUT_EDGE_EDGE_ID: id,
        FANOUT_CLUSTER_MEMBERSHIP: 'file',
        FANOUT_CLUSTER_MEMBERS_FILE: this.#membersFile,
        ...this.#edgeEnv,
        ...options.env,
      },
    });
    const member: ClusterMember = { id, process, url: process.httpBase, brokerProxy };
    this.#started.push(member);
    return member;
  }

  /** Rewrites the membership file atomically with exactly these edges. */
  async setMembers(members: readonly ClusterMember[]): Promise<void> {
    this.members.clear();
    for (const member of members) this.members.set(member.id, member);
    const temporary = `${this.#membersFile}.${process.pid}.${Date.now()}.tmp`;
    await writeFile(
      temporary,
      JSON.stringify({ members: members.map((member) => ({ id: member.id, url: member.url })) }),
    );
    await rename(temporary, this.#membersFile);
  }

  /** Kills the broker with SIGKILL, waits `downMs`, starts it again on the same port and data. */
  async restartBroker(downMs: number): Promise<void> {
    const broker = this.#broker;
    if (broker === undefined) throw new Error('only a broker of its own (ownBroker) restarts');
    process.kill(broker.pid, 'SIGKILL');
    await broker.stop();
    this.#broker = undefined;
    await new Promise((resolve) => setTimeout(resolve, downMs));
    this.#broker = await LocalKafkaEnvironment.start({
      port: this.#brokerPort,
      dataDir: join(this.#dir, 'kafka'),
      keepData: true,
    });
  }

  async stop(): Promise<void> {
    for (const member of this.#started) {
      await member.process.kill('SIGKILL');
      await member.brokerProxy?.close();
    }
    for (const ingest of this.ingests) {
      ingest.client.close();
      await ingest.process.stop();
    }
    await this.#broker?.stop();
    await this.#shared?.close();
    await rm(this.#dir, { recursive: true, force: true });
  }
}
