/**
 * The ingest service assembled from its configuration: Kafka topic and
 * writer, gRPC and HTTP servers, readiness, and the drain on shutdown.
 */
import { readFileSync } from 'node:fs';
import { FanoutError, jwtVerifierFromConfig, type FanoutConfig, type Logger } from '@fanout/shared';
import type { Registry } from 'prom-client';
import { EventWriter } from './kafka/event-writer.js';
import { startGrpcServer, type GrpcServer } from './grpc/grpc-server.js';
import { startHttpServer, type HttpServer } from './http/http-server.js';
import { createIngestMetrics } from './ingest-metrics.js';
import { loadIngestTls } from './ingest-tls.js';
import { createKafkaAdmin } from './kafka/kafka-admin.js';
import { parseApiKeys, PublisherAuth } from './admission/publisher-auth.js';
import { PublisherRateLimiter } from './admission/publisher-rate-limiter.js';
import { PublishService } from './publishing/publish-service.js';
import { connectRecordProducer } from './kafka/record-producer.js';
import { RequestBudget, requestByteLimit } from './admission/request-budget.js';
import { ensureTopic, type TopicState } from './kafka/topic-setup.js';

export interface IngestApp {
  readonly grpcPort: number;
  readonly httpPort: number;
  readonly topic: TopicState;
  /** True when Kafka is reachable and the app is not draining. */
  ready(): boolean;
  /** Drains: stop accepting, finish or fail in-flight publishes, close. */
  stop(): Promise<void>;
}

export interface IngestAppOptions {
  readonly config: FanoutConfig;
  readonly logger: Logger;
  readonly registry: Registry;
}

function readSecretFile(path: string, key: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new FanoutError(
      'config_invalid',
      `${key}: cannot read ${path} (${error instanceof Error ? error.message : String(error)})`,
    );
  }
}

/** Publisher authentication from the `auth` and `ingest` settings. */
export async function createPublisherAuth(config: FanoutConfig): Promise<PublisherAuth> {
  const apiKeys =
    config.ingest.apiKeysFile === ''
      ? []
      : parseApiKeys(
          readSecretFile(config.ingest.apiKeysFile, 'ingest.apiKeysFile'),
          config.ingest.apiKeysFile,
        );
  const jwt = await jwtVerifierFromConfig(config.auth);
  const withSubject = apiKeys.findIndex((entry) => entry.certificateSubject !== undefined);
  if (withSubject >= 0 && config.ingest.tls.clientCaFile === '') {
    throw new FanoutError(
      'config_invalid',
      `ingest.apiKeysFile: ${config.ingest.apiKeysFile}[${withSubject}] maps a certificateSubject, but ingest.tls.clientCaFile is not set, so no client certificate is ever verified`,
    );
  }
  if (config.ingest.authRequired && apiKeys.length === 0 && jwt === undefined) {
    throw new FanoutError(
      'config_invalid',
      'ingest.authRequired is true but no API keys (ingest.apiKeysFile) or JWT key (auth.*) is configured',
    );
  }
  return new PublisherAuth({
    required: config.ingest.authRequired,
    apiKeys,
    ...(jwt ? { jwt } : {}),
    namespacesClaim: config.ingest.jwtNamespacesClaim,
  });
}

export async function startIngestApp({
  config,
  logger,
  registry,
}: IngestAppOptions): Promise<IngestApp> {
  const metrics = createIngestMetrics(registry);
  const tls = loadIngestTls(config.ingest.tls);
  const auth = await createPublisherAuth(config);
  const rateLimiter = new PublisherRateLimiter(
    config.ingest.rateLimitEventsPerSecond,
    config.ingest.rateLimitBurst || config.ingest.rateLimitEventsPerSecond,
  );
  const admin = createKafkaAdmin(config.kafka, 'ingest');
  let topic: TopicState;
  try {
    topic = await ensureTopic({
      admin,
      kafka: config.kafka,
      wanted: {
        topic: config.kafka.topic,
        partitions: config.kafka.partitions,
        replicationFactor: config.kafka.replicationFactor,
      },
      logger: logger.child({ component: 'topic-setup' }),
      create: true,
    });
  } finally {
    await admin.close();
  }
  const writer = new EventWriter({
    connectProducer: () =>
      connectRecordProducer({
        kafka: config.kafka,
        topic: topic.topic,
        clientId: 'ingest',
        ackTimeoutMs: config.kafka.requestTimeoutMs,
        onRetry: (partition, error) => {
          metrics.kafkaRetries.inc();
          logger.warn({ err: error, partition }, 'produce retried');
        },
      }),
    epoch: topic.epoch,
    partitions: topic.partitions,
    logger: logger.child({ component: 'event-writer' }),
    metrics,
    maxBatchEvents: config.ingest.kafkaBatchMaxEvents,
    maxInFlightRequests: config.ingest.kafkaMaxInFlightRequests,
    maxInFlightEvents: config.ingest.maxInFlightEvents,
    idempotencyWindowMs: config.ingest.idempotencyWindowSeconds * 1000,
    idempotencyMaxEntries: config.ingest.idempotencyMaxEntries,
    probeIntervalMs: config.ingest.kafkaProbeIntervalMs,
    probeTimeoutMs: config.ingest.kafkaProbeTimeoutMs,
  });
  await writer.start();
  const publish = new PublishService(
    writer,
    {
      maxEventBytes: config.ingest.maxEventBytes,
      maxBatchEvents: config.ingest.maxBatchEvents,
      allowedContentTypes: config.ingest.allowedContentTypes,
    },
    auth,
    rateLimiter,
    metrics,
    config.state,
  );

  const budget = new RequestBudget({
    maxBytes: config.ingest.maxPendingBytes,
    maxBytesPerConnection: config.ingest.maxPendingBytesPerConnection,
    onChange: (bytes) => {
      metrics.pendingBytes.set(bytes);
    },
  });
  const maxRequestBytes = requestByteLimit(config.ingest);

  let grpc: GrpcServer | undefined;
  let http: HttpServer | undefined;
  try {
    grpc = await startGrpcServer({
      host: config.ingest.host,
      port: config.ingest.grpcPort,
      publish,
      logger: logger.child({ component: 'grpc' }),
      defaultTimeoutMs: config.ingest.requestTimeoutMs,
      streamWindow: config.ingest.streamWindow,
      receiveWindowBytes: config.ingest.grpcReceiveWindowBytes,
      tls,
      maxMessageBytes: maxRequestBytes,
      maxBatchEvents: config.ingest.maxBatchEvents,
      budget,
    });
    http = await startHttpServer({
      host: config.ingest.host,
      port: config.ingest.httpPort,
      publish,
      logger: logger.child({ component: 'http' }),
      maxBodyBytes: maxRequestBytes,
      budget,
      timeoutMs: config.ingest.requestTimeoutMs,
      corsOrigins: config.ingest.corsOrigins,
      tls,
      state: config.state,
    });
  } catch (error) {
    await grpc?.shutdown(0);
    await writer.stop(0);
    throw error;
  }
  const grpcServer = grpc;
  const httpServer = http;
  grpcServer.setServing(writer.isAvailable);
  const healthSync = setInterval(() => {
    grpcServer.setServing(writer.isAvailable);
  }, 1000);
  healthSync.unref();

  let draining = false;
  return {
    grpcPort: grpcServer.port,
    httpPort: httpServer.port,
    topic,
    ready: () => !draining && writer.isAvailable,
    async stop() {
      if (draining) return;
      draining = true;
      clearInterval(healthSync);
      const timeout = config.ingest.shutdownTimeoutMs;
      logger.info({ timeoutMs: timeout }, 'draining');
      await Promise.all([
        grpcServer.shutdown(timeout),
        httpServer.close(timeout),
        writer.stop(timeout),
      ]);
      logger.info('drained');
    },
  };
}
