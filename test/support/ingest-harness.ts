/**
 * An ingest service started in this process against a test broker, with
 * its own topic, ports chosen by the OS, and gRPC and HTTP clients for it.
 */
import * as grpc from '@grpc/grpc-js';
import {
  createLogger,
  createSpanRecorder,
  fanout,
  IngestServiceDefinition,
  loadConfig,
  startTelemetry,
  type FanoutConfig,
  type SpanRecorder,
  type Telemetry,
} from '@fanout/shared';
import { startIngestApp, type IngestApp } from '@fanout/ingest';
import { Registry } from 'prom-client';

export interface IngestHarness {
  readonly app: IngestApp;
  readonly config: FanoutConfig;
  readonly registry: Registry;
  /** A plaintext gRPC client (make your own with `ingestClient` when the ingest serves TLS). */
  readonly client: IngestClient;
  /** `http://127.0.0.1:<port>`, or `https://127.0.0.1:<port>` when the ingest serves TLS. */
  readonly httpBase: string;
  stop(): Promise<void>;
}

export interface IngestClient {
  publish(
    request: fanout.v1.PublishRequest.$Properties,
    options?: { metadata?: grpc.Metadata; deadlineMs?: number },
  ): Promise<fanout.v1.PublishResponse>;
  publishStream(
    metadata?: grpc.Metadata,
  ): grpc.ClientDuplexStream<fanout.v1.PublishStreamRequest, fanout.v1.PublishStreamResponse>;
  changeState(
    request: fanout.v1.ChangeStateRequest.$Properties,
    options?: { metadata?: grpc.Metadata; deadlineMs?: number },
  ): Promise<fanout.v1.ChangeStateResponse>;
  health(service?: string): Promise<string>;
  close(): void;
}

type UnaryCallback<T> = (error: grpc.ServiceError | null, value?: T) => void;

/** One unary call with the options' metadata and deadline (10 s by default). */
function unary<T>(
  options: { metadata?: grpc.Metadata; deadlineMs?: number },
  call: (
    metadata: grpc.Metadata,
    callOptions: grpc.CallOptions,
    callback: UnaryCallback<T>,
  ) => void,
): Promise<T> {
  return new Promise((resolve, reject) => {
    call(
      options.metadata ?? new grpc.Metadata(),
      { deadline: Date.now() + (options.deadlineMs ?? 10_000) },
      (error, value) => {
        if (error) reject(error);
        else if (value) resolve(value);
        else reject(new Error('empty response'));
      },
    );
  });
}

interface RawIngestClient extends grpc.Client {
  publish(
    request: fanout.v1.PublishRequest,
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    callback: UnaryCallback<fanout.v1.PublishResponse>,
  ): grpc.ClientUnaryCall;
  publishStream(
    metadata?: grpc.Metadata,
  ): grpc.ClientDuplexStream<fanout.v1.PublishStreamRequest, fanout.v1.PublishStreamResponse>;
  changeState(
    request: fanout.v1.ChangeStateRequest,
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    callback: UnaryCallback<fanout.v1.ChangeStateResponse>,
  ): grpc.ClientUnaryCall;
}

const IngestClientConstructor = grpc.makeGenericClientConstructor(
  IngestServiceDefinition,
  'IngestService',
) as unknown as new (
  address: string,
  credentials: grpc.ChannelCredentials,
  options?: grpc.ChannelOptions,
) => RawIngestClient;

/** The standard health check, without generated code. */
const healthDefinition = {
  check: {
    path: '/grpc.health.v1.Health/Check',
    requestStream: false,
    responseStream: false,
    // HealthCheckRequest { string service = 1; }
    requestSerialize: (service: string) => {
      const bytes = Buffer.from(service, 'utf8');
      return Buffer.concat([Buffer.from([0x0a, bytes.length]), bytes]);
    },
    requestDeserialize: (bytes: Buffer) => bytes.toString('utf8'),
    // HealthCheckResponse { ServingStatus status = 1; }
    responseSerialize: (status: number) => Buffer.from([0x08, status]),
    responseDeserialize: (bytes: Buffer) => (bytes.length >= 2 ? (bytes[1] ?? 0) : 0),
  },
} as const;
const statusNames = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];

/** A client of the ingest at `address`; plaintext unless `credentials` say otherwise. */
export function ingestClient(
  address: string,
  credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
  channelOptions: grpc.ChannelOptions = {},
): IngestClient {
  const raw = new IngestClientConstructor(address, credentials, channelOptions);
  const HealthClient = grpc.makeGenericClientConstructor(healthDefinition, 'Health');
  const health = new HealthClient(address, credentials, channelOptions) as unknown as {
    check(request: string, callback: UnaryCallback<number>): void;
    close(): void;
  };
  return {
    publish: (request, options = {}) =>
      unary(options, (metadata, callOptions, callback) => {
        raw.publish(fanout.v1.PublishRequest.create(request), metadata, callOptions, callback);
      }),
    publishStream: (metadata) => raw.publishStream(metadata ?? new grpc.Metadata()),
    changeState: (request, options = {}) =>
      unary(options, (metadata, callOptions, callback) => {
        raw.changeState(
          fanout.v1.ChangeStateRequest.create(request),
          metadata,
          callOptions,
          callback,
        );
      }),
    health(service = '') {
      return new Promise((resolve, reject) => {
        health.check(service, (error, status) => {
          if (error) reject(error);
          else resolve(statusNames[status ?? 0] ?? 'UNKNOWN');
        });
      });
    },
    close() {
      raw.close();
      health.close();
    },
  };
}

let telemetry: Telemetry | undefined;

/** Every span the services in this test process finished (sampling is parent-based). */
export const finishedSpans: SpanRecorder = createSpanRecorder();

/** The OpenTelemetry SDK, started once per test process as a service's main does. */
export function ensureTelemetry(): Telemetry {
  telemetry ??= startTelemetry({
    serviceName: 'fanout-test',
    config: loadConfig({ env: {} }).telemetry,
    recorder: finishedSpans,
  });
  return telemetry;
}

export async function startIngest(options: {
  brokers: readonly string[];
  topic: string;
  partitions?: number;
  env?: Readonly<Record<string, string>>;
}): Promise<IngestHarness> {
  const config = loadConfig({
    env: {
      FANOUT_KAFKA_BROKERS: options.brokers.join(','),
      FANOUT_KAFKA_TOPIC: options.topic,
      FANOUT_KAFKA_PARTITIONS: String(options.partitions ?? 3),
      FANOUT_INGEST_GRPC_PORT: '0',
      FANOUT_INGEST_HTTP_PORT: '0',
      FANOUT_INGEST_SHUTDOWN_TIMEOUT_MS: '5000',
      FANOUT_LOG_LEVEL: process.env['FANOUT_TEST_LOG_LEVEL'] ?? 'silent',
      ...options.env,
    },
  });
  ensureTelemetry();
  const registry = new Registry();
  const logger = createLogger({ service: 'fanout-ingest-test', level: config.log.level });
  const app = await startIngestApp({ config, logger, registry });
  const client = ingestClient(`127.0.0.1:${app.grpcPort}`);
  return {
    app,
    config,
    registry,
    client,
    httpBase:
      config.ingest.tls.certFile === ''
        ? `http://127.0.0.1:${app.httpPort}`
        : `https://127.0.0.1:${app.httpPort}`,
    async stop() {
      client.close();
      await app.stop();
    },
  };
}
