/**
 * The bridge's one write path: the ingest's gRPC API (decision 046).
 * Documents go out as `ChangeState` puts, status events as `Publish`; both
 * with an idempotency key, the producer credential of bridge.ingestTokenFile
 * and the W3C trace context of the caller's span, so the ingest's span and
 * the event's deliveries link back to the poll that caused them.
 */
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { context as otelContext, propagation, type Context } from '@opentelemetry/api';
import {
  fanout,
  FanoutError,
  formatPosition,
  IngestServiceDefinition,
  positionFromProto,
  type FanoutConfig,
} from '@fanout/shared';
import {
  decodeHealthCheckResponse,
  encodeHealthCheckRequest,
  healthCheckPath,
  ingestServiceName,
  servingStatus,
} from './ingest-health.js';

export interface PublishOutcome {
  /** `<epoch>:<partition>:<offset>` of the written (or first written) record. */
  readonly position: string;
  /** The ingest had written this key already: a retry, not a second change. */
  readonly duplicate: boolean;
}

export interface StatePut {
  readonly channel: string;
  /** The document as canonical JSON. */
  readonly json: string;
  readonly id: string;
  /** JSON Pointer of the identity member of objects in arrays (the put's `array_key`). */
  readonly arrayKey?: string;
}

export interface EventPublish {
  readonly channel: string;
  readonly type: string;
  /** JSON text of the event. */
  readonly json: string;
  readonly id: string;
}

/** Where the bridge publishes; the ingest, or a fake in tests. */
export interface BridgePublisher {
  putState(put: StatePut, parent?: Context): Promise<PublishOutcome>;
  publishEvent(event: EventPublish, parent?: Context): Promise<PublishOutcome>;
  /**
   * Whether the ingest answers SERVING to a health check within timeoutMs
   * (never rejects). A publisher without it counts as always serving.
   */
  serving?(timeoutMs: number): Promise<boolean>;
  close(): void;
}

/** gRPC statuses after which the same publish may succeed later. */
const retryableStatuses = new Set<number>([
  grpc.status.UNAVAILABLE,
  grpc.status.DEADLINE_EXCEEDED,
  grpc.status.RESOURCE_EXHAUSTED,
  grpc.status.ABORTED,
  grpc.status.INTERNAL,
  grpc.status.UNKNOWN,
  grpc.status.CANCELLED,
]);

/** A failed publish: whether a retry can help, and the ingest's catalog code if it sent one. */
export class PublishFailure extends Error {
  readonly retryable: boolean;
  readonly code: string;

  constructor(message: string, retryable: boolean, code: string, cause?: unknown) {
    super(message, cause === undefined ? {} : { cause });
    this.name = 'PublishFailure';
    this.retryable = retryable;
    this.code = code;
  }
}

type UnaryCallback<T> = (error: grpc.ServiceError | null, value?: T) => void;

interface RawIngestClient extends grpc.Client {
  publish(
    request: fanout.v1.PublishRequest,
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    callback: UnaryCallback<fanout.v1.PublishResponse>,
  ): grpc.ClientUnaryCall;
  changeState(
    request: fanout.v1.ChangeStateRequest,
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    callback: UnaryCallback<fanout.v1.ChangeStateResponse>,
  ): grpc.ClientUnaryCall;
}

const IngestClient = grpc.makeGenericClientConstructor(
  IngestServiceDefinition,
  'IngestService',
) as unknown as new (
  address: string,
  credentials: grpc.ChannelCredentials,
  options?: grpc.ChannelOptions,
) => RawIngestClient;

export interface IngestPublisherOptions {
  readonly address: string;
  readonly tls: boolean;
  /** PEM of the CA of the ingest's certificate (system CAs when absent). */
  readonly ca?: Buffer;
  /** Producer credential sent as `authorization: Bearer <token>`. */
  readonly token?: string;
  readonly timeoutMs: number;
}

function readFileSetting(path: string, key: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new FanoutError(
      'config_invalid',
      `${key}: cannot read ${path} (${error instanceof Error ? error.message : String(error)})`,
    );
  }
}

/** The publisher options of the `bridge.ingest*` settings (reads the token and CA files). */
export function ingestPublisherOptions(bridge: FanoutConfig['bridge']): IngestPublisherOptions {
  const token =
    bridge.ingestTokenFile === ''
      ? undefined
      : readFileSetting(bridge.ingestTokenFile, 'bridge.ingestTokenFile').toString('utf8').trim();
  if (token === '') {
    throw new FanoutError(
      'config_invalid',
      `bridge.ingestTokenFile: ${bridge.ingestTokenFile} is empty`,
    );
  }
  return {
    address: bridge.ingestAddress,
    tls: bridge.ingestTls,
    ...(bridge.ingestCaFile === ''
      ? {}
      : { ca: readFileSetting(bridge.ingestCaFile, 'bridge.ingestCaFile') }),
    ...(token === undefined ? {} : { token }),
    timeoutMs: bridge.publishTimeoutMs,
  };
}

export class IngestPublisher implements BridgePublisher {
  readonly #client: RawIngestClient;
  readonly #options: IngestPublisherOptions;

  constructor(options: IngestPublisherOptions) {
    this.#options = options;
    const credentials = options.tls
      ? grpc.credentials.createSsl(options.ca ?? null)
      : grpc.credentials.createInsecure();
    this.#client = new IngestClient(options.address, credentials, {
      'grpc.keepalive_time_ms': 30_000,
      'grpc.primary_user_agent': 'fanout-bridge',
      // An ingest that comes back is found within seconds (the health checks follow it).
      'grpc.initial_reconnect_backoff_ms': 500,
      'grpc.max_reconnect_backoff_ms': 5_000,
    });
  }

  serving(timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      this.#client.makeUnaryRequest(
        healthCheckPath,
        encodeHealthCheckRequest,
        decodeHealthCheckResponse,
        ingestServiceName,
        new grpc.Metadata(),
        { deadline: Date.now() + timeoutMs },
        (error, status) => {
          resolve(error === null && status === servingStatus);
        },
      );
    });
  }

  putState(put: StatePut, parent?: Context): Promise<PublishOutcome> {
    const request = fanout.v1.ChangeStateRequest.create({
      channel: put.channel,
      operation: fanout.v1.StateOperation.STATE_OPERATION_PUT,
      data: Buffer.from(put.json, 'utf8'),
      id: put.id,
      arrayKey: put.arrayKey ?? '',
    });
    return this.#unary<fanout.v1.ChangeStateResponse>(parent, (metadata, options, callback) =>
      this.#client.changeState(request, metadata, options, callback),
    ).then((response) => outcome(response.position, response.duplicate));
  }

  publishEvent(event: EventPublish, parent?: Context): Promise<PublishOutcome> {
    const request = fanout.v1.PublishRequest.create({
      events: [
        {
          channel: event.channel,
          type: event.type,
          data: Buffer.from(event.json, 'utf8'),
          contentType: 'application/json',
          id: event.id,
        },
      ],
    });
    return this.#unary<fanout.v1.PublishResponse>(parent, (metadata, options, callback) =>
      this.#client.publish(request, metadata, options, callback),
    ).then((response) => {
      const result = response.results[0];
      if (result === undefined)
        throw new PublishFailure('the ingest answered no result', true, 'internal');
      return outcome(result.position, result.duplicate);
    });
  }

  close(): void {
    this.#client.close();
  }

  #unary<T>(
    parent: Context | undefined,
    call: (metadata: grpc.Metadata, options: grpc.CallOptions, callback: UnaryCallback<T>) => void,
  ): Promise<T> {
    const metadata = new grpc.Metadata();
    if (this.#options.token !== undefined) {
      metadata.set('authorization', `Bearer ${this.#options.token}`);
    }
    const carrier: Record<string, string> = {};
    propagation.inject(parent ?? otelContext.active(), carrier);
    for (const [key, value] of Object.entries(carrier)) metadata.set(key, value);
    return new Promise((resolve, reject) => {
      const options = { deadline: Date.now() + this.#options.timeoutMs };
      const callback: UnaryCallback<T> = (error, value) => {
        if (error) {
          const code = error.metadata.get('fanout-error-code')[0];
          reject(
            new PublishFailure(
              `the ingest refused the publish: ${error.details || error.message}`,
              retryableStatuses.has(error.code),
              typeof code === 'string' ? code : grpc.status[error.code].toLowerCase(),
              error,
            ),
          );
        } else if (value === undefined) {
          reject(new PublishFailure('the ingest answered nothing', true, 'internal'));
        } else {
          resolve(value);
        }
      };
      // grpc-js captures the caller's stack at every call (`new Error()`, to append it to a
      // failure's stack): half of what a call costs the bridge. A publish failure is reported
      // by its status, details and catalog code, never that stack, so none is captured (an
      // error thrown by the call itself, such as a closed channel, has its message only).
      const stackTraceLimit = Error.stackTraceLimit;
      Error.stackTraceLimit = 0;
      try {
        call(metadata, options, callback);
      } finally {
        Error.stackTraceLimit = stackTraceLimit;
      }
    });
  }
}

function outcome(
  position: fanout.v1.Position.$Properties | null | undefined,
  duplicate: boolean | null | undefined,
): PublishOutcome {
  return {
    position: position ? formatPosition(positionFromProto(position)) : '',
    duplicate: duplicate === true,
  };
}
