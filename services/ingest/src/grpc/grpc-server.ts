/**
 * The gRPC face of ingest: fanout.v1.IngestService (Publish, PublishStream,
 * ChangeState),
 * the standard health service (grpc.health.v1) and server reflection.
 * Errors carry the catalog message in the status details, the catalog code
 * in the `fanout-error-code` trailer and, when the error says how long to
 * wait (`rate_limited`), that delay in the `fanout-retry-after-ms` trailer
 * (grpc-status.ts).
 *
 * Calls are authenticated and weighed against the request budget before
 * their messages are read (grpc-admission.ts); the handlers receive the
 * messages as bytes and decode them themselves (publish-request-decoder.ts),
 * so that a message that is not valid protobuf answers INVALID_ARGUMENT.
 */
import type { PeerCertificate } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { loadFileDescriptorSetFromBuffer } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import {
  contractDescriptorSet,
  FanoutError,
  IngestServiceDefinition,
  fanout,
  toFanoutError,
  type Logger,
} from '@fanout/shared';
import {
  context as otelContext,
  propagation,
  type Context,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import { HealthImplementation } from 'grpc-health-check';
import type { IncomingEvent } from '../publishing/event-validator.js';
import type { WrittenEvent } from '../kafka/event-writer.js';
import { admissionInterceptor, admittedCall, credentialsOf } from './grpc-admission.js';
import { raiseReceiveWindow } from './grpc-flow-control.js';
import { grpcStatusOf } from './grpc-status.js';
import { encodePublishResponse } from './publish-response.js';
import { grpcServerCredentials, subjectCommonName, type IngestTls } from '../ingest-tls.js';
import type { PublisherCredentials, PublisherIdentity } from '../admission/publisher-auth.js';
import {
  decodeChangeStateRequest,
  decodePublishRequest,
  decodePublishStreamRequest,
} from './publish-request-decoder.js';
import type { IncomingStateChange } from '../publishing/state-change.js';
import type { PublishCall, PublishService, Transport } from '../publishing/publish-service.js';
import {
  grpcBytesPerByte,
  grpcEventBytes,
  type RequestBudget,
} from '../admission/request-budget.js';

export interface GrpcServerOptions {
  readonly host: string;
  readonly port: number;
  readonly publish: PublishService;
  readonly logger: Logger;
  /** Deadline applied when a call has none. */
  readonly defaultTimeoutMs: number;
  /** Most unacknowledged events per PublishStream before the server stops reading it. */
  readonly streamWindow: number;
  /** HTTP/2 receive window granted to each connection and stream (grpc-flow-control.ts). */
  readonly receiveWindowBytes: number;
  /** TLS, mutual when it has a client CA; plaintext when undefined. */
  readonly tls?: IngestTls | undefined;
  /** Largest message, in bytes (request-budget.ts `requestByteLimit`). */
  readonly maxMessageBytes: number;
  /** Most events of one Publish message; more are refused before they are decoded. */
  readonly maxBatchEvents: number;
  /** Memory budget of the messages being read, decoded or written. */
  readonly budget: RequestBudget;
}

export interface GrpcServer {
  readonly port: number;
  setServing(serving: boolean): void;
  /** Stops accepting calls; waits for running calls up to timeoutMs, then cancels them. */
  shutdown(timeoutMs: number): Promise<void>;
}

const pb = fanout.v1;
const passThrough = (bytes: Buffer): Buffer => bytes;
/**
 * The generated definition, with the requests handed over as bytes (the
 * handlers decode them) and Publish's response encoded by `encodePublishResponse`.
 */
const serviceDefinition = {
  ...IngestServiceDefinition,
  publish: {
    ...IngestServiceDefinition.publish,
    requestDeserialize: passThrough,
    responseSerialize: passThrough,
  },
  publishStream: {
    ...IngestServiceDefinition.publishStream,
    requestDeserialize: passThrough,
  },
  changeState: {
    ...IngestServiceDefinition.changeState,
    requestDeserialize: passThrough,
  },
};
const tracer = trace.getTracer('fanout-ingest');
const serviceName = 'fanout.v1.IngestService';

const metadataGetter = {
  keys: (carrier: grpc.Metadata) => Object.keys(carrier.getMap()),
  get: (carrier: grpc.Metadata, key: string) => {
    const value = carrier.get(key)[0];
    return value === undefined ? undefined : String(value);
  },
};

function toIncoming(event: fanout.v1.PublishEvent.$Properties | null | undefined): IncomingEvent {
  return {
    channel: event?.channel ?? '',
    type: event?.type ?? '',
    data: event?.data ?? new Uint8Array(0),
    contentType: event?.contentType ?? '',
    headers: event?.headers ?? {},
    id: event?.id ?? '',
  };
}

function toResult(written: WrittenEvent): fanout.v1.PublishResult.$Properties {
  return {
    id: written.id,
    position: {
      epoch: written.position.epoch,
      partition: written.position.partition,
      offset: written.position.offset,
    },
    duplicate: written.duplicate,
  };
}

/** The subject CN of the call's client certificate, when TLS verified one. */
function certificateSubjectOf(call: {
  getAuthContext(): { sslPeerCertificate?: PeerCertificate | undefined };
}): string | undefined {
  return subjectCommonName(call.getAuthContext().sslPeerCertificate);
}

/** The metrics transport of an IngestService method. */
function transportOf(path: string): Transport {
  return path.endsWith('/PublishStream') ? 'grpc_stream' : 'grpc';
}

function deadlineOf(call: { getDeadline(): grpc.Deadline }, fallbackMs: number): number {
  const deadline = call.getDeadline();
  const fallback = Date.now() + fallbackMs;
  const value = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(value) ? Math.min(value, fallback) : fallback;
}

export async function startGrpcServer(options: GrpcServerOptions): Promise<GrpcServer> {
  const server = new grpc.Server({
    'grpc.max_receive_message_length': options.maxMessageBytes,
    'grpc.keepalive_permit_without_calls': 1,
    interceptors: [
      admissionInterceptor({
        pathPrefix: `/${serviceName}/`,
        authenticate: (credentials, path) =>
          options.publish.authenticate(credentials, transportOf(path)),
        budget: options.budget,
        maxMessageBytes: options.maxMessageBytes,
        readTimeoutMs: options.defaultTimeoutMs,
        onRefused: (error, path) => options.publish.refused(error, transportOf(path)),
        logger: options.logger,
      }),
    ],
  });
  const health = new HealthImplementation({ '': 'NOT_SERVING', [serviceName]: 'NOT_SERVING' });
  health.addToServer(server);
  new ReflectionService(loadFileDescriptorSetFromBuffer(contractDescriptorSet())).addToServer(
    server,
  );

  /**
   * What a publish takes from its call: trace parent, credentials (once per
   * stream) and, for Publish, the publisher authenticated on admission.
   */
  interface CallFacts {
    readonly parent: Context;
    readonly credentials: PublisherCredentials;
    readonly identity?: PublisherIdentity | undefined;
  }

  function callFacts(metadata: grpc.Metadata, certificateSubject: string | undefined): CallFacts {
    return {
      parent: propagation.extract(otelContext.active(), metadata, metadataGetter),
      credentials: credentialsOf(metadata, certificateSubject),
    };
  }

  /**
   * Runs one publish of `events` events inside a server span whose context
   * goes into the Kafka records.
   */
  async function traced<T>(
    name: string,
    facts: CallFacts,
    events: number,
    deadline: number,
    run: (call: PublishCall) => Promise<T>,
  ): Promise<T> {
    return tracer.startActiveSpan(
      name,
      {
        kind: SpanKind.SERVER,
        attributes: { 'fanout.events': events, 'rpc.system': 'grpc' },
      },
      facts.parent,
      async (span) => {
        const carrier: Record<string, string> = {};
        propagation.inject(otelContext.active(), carrier);
        const call: PublishCall = {
          credentials: facts.credentials,
          identity: facts.identity,
          deadline,
          ...(carrier['traceparent'] ? { traceparent: carrier['traceparent'] } : {}),
          ...(carrier['tracestate'] ? { tracestate: carrier['tracestate'] } : {}),
        };
        try {
          return await run(call);
        } catch (error) {
          const fanoutError = toFanoutError(error);
          span.setStatus({ code: SpanStatusCode.ERROR, message: fanoutError.code });
          throw fanoutError;
        } finally {
          span.end();
        }
      },
    );
  }

  /** Publish answers with the response already encoded (publish-response.ts). */
  const publish: grpc.handleUnaryCall<Buffer, Buffer> = (call, callback) => {
    const admitted = admittedCall(call.metadata);
    let events: IncomingEvent[];
    try {
      const request = decodePublishRequest(call.request, options.maxBatchEvents);
      // The decoded events' objects, beyond the bytes the message was weighed by.
      admitted?.reservation.grow(request.events.length * grpcEventBytes);
      events = request.events.map(toIncoming);
    } catch (error) {
      callback(grpcStatusOf(options.publish.refused(error, 'grpc')));
      return;
    }
    traced(
      'fanout.v1.IngestService/Publish',
      {
        ...callFacts(call.metadata, certificateSubjectOf(call)),
        identity: admitted?.identity,
      },
      events.length,
      deadlineOf(call, options.defaultTimeoutMs),
      (publishCall) => options.publish.publish(events, publishCall, 'grpc'),
    ).then(
      (written) => {
        callback(null, encodePublishResponse(written));
      },
      (error: unknown) => {
        callback(grpcStatusOf(toFanoutError(error)));
      },
    );
  };

  /** ChangeState: one state change, written as one event with `state` set. */
  const changeState: grpc.handleUnaryCall<Buffer, fanout.v1.ChangeStateResponse> = (
    call,
    callback,
  ) => {
    const admitted = admittedCall(call.metadata);
    let change: IncomingStateChange;
    try {
      change = decodeChangeStateRequest(call.request);
      admitted?.reservation.grow(grpcEventBytes);
    } catch (error) {
      callback(grpcStatusOf(options.publish.refused(error, 'grpc')));
      return;
    }
    traced(
      'fanout.v1.IngestService/ChangeState',
      {
        ...callFacts(call.metadata, certificateSubjectOf(call)),
        identity: admitted?.identity,
      },
      1,
      deadlineOf(call, options.defaultTimeoutMs),
      (publishCall) => options.publish.changeState(change, publishCall, 'grpc'),
    ).then(
      (written) => {
        callback(null, pb.ChangeStateResponse.create(toResult(written)));
      },
      (error: unknown) => {
        callback(grpcStatusOf(toFanoutError(error)));
      },
    );
  };

  /**
   * PublishStream: the events read together (in one turn of the event loop)
   * are published together, in one span and one write, and each is
   * acknowledged on its own with its position or its error.
   */
  const publishStream: grpc.handleBidiStreamingCall<Buffer, fanout.v1.PublishStreamResponse> = (
    call,
  ) => {
    // The metadata is the stream's: trace parent and credentials are read once.
    const facts = callFacts(call.metadata, certificateSubjectOf(call));
    const reservation = admittedCall(call.metadata)?.reservation;
    let outstanding = 0;
    let ended = false;
    let paused = false;
    /** Set once an authentication or permission error ended the call with its status. */
    let failed = false;
    let sequences: number[] = [];
    let events: IncomingEvent[] = [];
    /** Budget bytes of the gathered messages, given back once they are answered. */
    let weight = 0;
    let publishScheduled = false;
    const finishIfDone = () => {
      if (ended && outstanding === 0 && !failed) call.end();
    };
    const acknowledge = (sequence: number, outcome: WrittenEvent | FanoutError) => {
      call.write(
        outcome instanceof FanoutError
          ? pb.PublishStreamResponse.create({
              sequence,
              error: { code: outcome.code, message: outcome.message },
            })
          : pb.PublishStreamResponse.create({ sequence, result: toResult(outcome) }),
      );
    };
    const publishGathered = () => {
      publishScheduled = false;
      const batchSequences = sequences;
      const batchEvents = events;
      const batchWeight = weight;
      sequences = [];
      events = [];
      weight = 0;
      if (failed) return;
      traced(
        'fanout.v1.IngestService/PublishStream',
        facts,
        batchEvents.length,
        Date.now() + options.defaultTimeoutMs,
        (publishCall) => options.publish.publishEach(batchEvents, publishCall, 'grpc_stream'),
      )
        .then(
          (outcomes) => {
            if (call.cancelled || failed) return;
            let i = 0;
            for (const outcome of outcomes) acknowledge(batchSequences[i++] ?? 0, outcome);
          },
          (error: unknown) => {
            const fanoutError = toFanoutError(error);
            if (failed) return;
            // Only authentication and permission errors reject the whole call.
            fail(fanoutError);
          },
        )
        .finally(() => {
          reservation?.shrink(batchWeight);
          outstanding -= batchEvents.length;
          if (paused && outstanding < options.streamWindow / 2) {
            paused = false;
            call.resume();
          }
          finishIfDone();
        });
    };
    /**
     * Ends the call with `error`'s status and trailers (destroying the
     * stream would end it without a status).
     */
    const fail = (error: FanoutError) => {
      failed = true;
      call.emit('error', Object.assign(new Error(error.message), grpcStatusOf(error)));
    };
    call.on('data', (bytes: Buffer) => {
      if (failed) return;
      let request: fanout.v1.PublishStreamRequest;
      try {
        request = decodePublishStreamRequest(bytes);
      } catch (error) {
        // Without its sequence the message cannot be answered on its own.
        fail(options.publish.refused(error, 'grpc_stream'));
        return;
      }
      weight += grpcBytesPerByte * bytes.length;
      outstanding++;
      if (outstanding >= options.streamWindow && !paused) {
        paused = true;
        call.pause();
      }
      sequences.push(request.sequence);
      events.push(toIncoming(request.event));
      if (!publishScheduled) {
        publishScheduled = true;
        setImmediate(publishGathered);
      }
    });
    call.on('end', () => {
      ended = true;
      finishIfDone();
    });
    call.on('error', (error) => {
      options.logger.debug({ err: error }, 'publish stream error');
    });
  };

  server.addService(serviceDefinition, {
    publish,
    publishStream,
    changeState,
  });

  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(
      `${options.host}:${options.port}`,
      grpcServerCredentials(options.tls),
      (error, bound) => {
        if (error)
          reject(
            new FanoutError(
              'internal',
              `cannot listen on ${options.host}:${options.port}: ${error.message}`,
              { cause: error },
            ),
          );
        else resolve(bound);
      },
    );
  });
  if (!raiseReceiveWindow(server, options.receiveWindowBytes)) {
    options.logger.warn(
      'cannot raise the gRPC receive window (grpc-js internals changed); connections keep the 64 KiB HTTP/2 default',
    );
  }

  return {
    port,
    setServing(serving) {
      const status = serving ? 'SERVING' : 'NOT_SERVING';
      health.setStatus('', status);
      health.setStatus(serviceName, status);
    },
    async shutdown(timeoutMs) {
      health.setStatus('', 'NOT_SERVING');
      health.setStatus(serviceName, 'NOT_SERVING');
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, timeoutMs);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
    },
  };
}
