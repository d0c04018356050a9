/**
 * Apache Kafka's own image (`apache/kafka`, KRaft, broker+controller in one
 * node) run by Testcontainers, for machines with a Docker engine. By default
 * the same Kafka version as the local broker (`deploy/kafka/pom.xml`).
 *
 * `@testcontainers/kafka`'s `KafkaContainer` (11.x) only runs Confluent's
 * `confluentinc/cp-kafka` images (its start script calls
 * `/etc/confluent/docker/run`), so this uses `GenericContainer` the way
 * Testcontainers for Java's `KafkaContainer` runs `apache/kafka`: the
 * container waits for a start script, which is copied in once the mapped
 * port, and so the advertised listener, is known.
 *
 * Without Docker or a registry, `deploy/tools/podman-docker-api.mjs` serves
 * the Docker API from Podman with `localhost/fanout/kafka:<version>`, an
 * image built here that behaves the same way (decision 043).
 */
import { randomBytes } from 'node:crypto';
import type { StartedTestContainer } from 'testcontainers';
import { waitForBroker } from './broker-ready.js';
import type { KafkaEnvironment } from './kafka-environment.js';
import { pinnedKafkaVersion } from './repo-paths.js';

/** Listener for clients outside the container (mapped to a random host port). */
const clientPort = 9092;
/** Listener the broker uses to reach itself. */
const brokerPort = 9093;
const controllerPort = 9094;
const startScript = '/tmp/fanout-kafka-start.sh';
const startScriptReady = '/tmp/fanout-kafka-start.ready';
const waitingMessage = 'fanout: waiting for the start script';

/** `FANOUT_TEST_KAFKA_IMAGE`, or `apache/kafka:<the version in deploy/kafka/pom.xml>`. */
export function kafkaContainerImage(env: NodeJS.ProcessEnv = process.env): string {
  const image = env['FANOUT_TEST_KAFKA_IMAGE'];
  return image !== undefined && image !== '' ? image : `apache/kafka:${pinnedKafkaVersion()}`;
}

/** 16 random bytes in base64url, never starting with "-" (like Kafka's Uuid.randomUuid()). */
function clusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

/** The image's entrypoint turns `KAFKA_FOO_BAR` into `foo.bar` in server.properties. */
function brokerEnvironment(): Record<string, string> {
  return {
    CLUSTER_ID: clusterId(),
    KAFKA_NODE_ID: '1',
    KAFKA_PROCESS_ROLES: 'broker,controller',
    KAFKA_LISTENERS: `PLAINTEXT://0.0.0.0:${clientPort},BROKER://0.0.0.0:${brokerPort},CONTROLLER://0.0.0.0:${controllerPort}`,
    KAFKA_LISTENER_SECURITY_PROTOCOL_MAP:
      'PLAINTEXT:PLAINTEXT,BROKER:PLAINTEXT,CONTROLLER:PLAINTEXT',
    KAFKA_INTER_BROKER_LISTENER_NAME: 'BROKER',
    KAFKA_CONTROLLER_LISTENER_NAMES: 'CONTROLLER',
    KAFKA_CONTROLLER_QUORUM_VOTERS: `1@localhost:${controllerPort}`,
    KAFKA_LOG_DIRS: '/tmp/kraft-combined-logs',
    KAFKA_NUM_PARTITIONS: '1',
    KAFKA_DEFAULT_REPLICATION_FACTOR: '1',
    KAFKA_MIN_INSYNC_REPLICAS: '1',
    KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: '1',
    KAFKA_OFFSETS_TOPIC_NUM_PARTITIONS: '1',
    KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: '1',
    KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: '1',
    KAFKA_TRANSACTION_STATE_LOG_NUM_PARTITIONS: '1',
    KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR: '1',
    KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR: '1',
    KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: '0',
    KAFKA_AUTO_CREATE_TOPICS_ENABLE: 'false',
    KAFKA_LOG_RETENTION_CHECK_INTERVAL_MS: '5000',
  };
}

export interface ContainerKafkaOptions {
  readonly image?: string;
  /** How long to wait for the broker once the container runs (default 120 s). */
  readonly timeoutMs?: number;
}

export class ContainerKafkaEnvironment implements KafkaEnvironment {
  readonly kind = 'container' as const;
  private stopping: Promise<void> | undefined;

  private constructor(
    readonly brokers: string[],
    readonly image: string,
    private readonly container: StartedTestContainer,
  ) {}

  static async start(options: ContainerKafkaOptions = {}): Promise<ContainerKafkaEnvironment> {
    const { GenericContainer, Wait } = await import('testcontainers');
    const image = options.image ?? kafkaContainerImage();
    const container = await new GenericContainer(image)
      .withExposedPorts(clientPort)
      .withEnvironment(brokerEnvironment())
      .withEntrypoint(['sh', '-c'])
      .withCommand([
        `echo '${waitingMessage}'; while [ ! -f ${startScriptReady} ]; do sleep 0.1; done; exec bash ${startScript}`,
      ])
      .withWaitStrategy(Wait.forLogMessage(waitingMessage))
      .withStartupTimeout(120_000)
      .start();
    try {
      const bootstrap = `${container.getHost()}:${container.getMappedPort(clientPort)}`;
      const script = [
        '#!/bin/bash',
        `export KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://${bootstrap},BROKER://localhost:${brokerPort}`,
        'exec /etc/kafka/docker/run',
        '',
      ].join('\n');
      await container.copyContentToContainer([
        { content: script, target: startScript, mode: 0o755 },
      ]);
      // A separate marker, so the script is complete before the shell reads it.
      await container.copyContentToContainer([{ content: '', target: startScriptReady }]);
      await waitForBroker([bootstrap], options.timeoutMs ?? 120_000);
      return new ContainerKafkaEnvironment([bootstrap], image, container);
    } catch (error) {
      await container.stop().catch(() => {});
      throw error;
    }
  }

  stop(): Promise<void> {
    this.stopping ??= this.container.stop().then(() => undefined);
    return this.stopping;
  }
}
