/**
 * A lean gRPC load generator for the ingest benchmark. On a small machine
 * the producer shares the cores with the ingest and the broker, so it must
 * cost as little as possible per event: requests are protobuf-encoded once
 * per distinct content and sent as bytes, and a `Publish` answer is only
 * checked for its number of results (one per event), not decoded into
 * objects. On the wire the calls are exactly what any producer sends.
 */
import * as grpc from '@grpc/grpc-js';
import { fanout } from '@fanout/shared';

type Callback<T> = (error: grpc.ServiceError | null, value?: T) => void;

interface RawClient extends grpc.Client {
  publish(
    request: Buffer,
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    callback: Callback<number>,
  ): grpc.ClientUnaryCall;
  publishStream(): grpc.ClientDuplexStream<Buffer, fanout.v1.PublishStreamResponse>;
}

const bytes = (value: Buffer): Buffer => value;

/** Number of `results` (field 1) in an encoded PublishResponse. */
export function countResults(response: Buffer): number {
  let offset = 0;
  let count = 0;
  const varint = (): number => {
    let value = 0;
    let shift = 0;
    for (;;) {
      const byte = response[offset++];
      if (byte === undefined) throw new Error('truncated PublishResponse');
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
      shift += 7;
    }
  };
  while (offset < response.length) {
    const tag = varint();
    if ((tag & 7) !== 2) throw new Error(`unexpected PublishResponse field tag ${tag}`);
    const length = varint();
    offset += length;
    if (tag >>> 3 === 1) count++;
  }
  return count;
}

const definition = {
  publish: {
    path: '/fanout.v1.IngestService/Publish',
    requestStream: false,
    responseStream: false,
    requestSerialize: bytes,
    requestDeserialize: bytes,
    responseSerialize: bytes,
    responseDeserialize: countResults,
  },
  publishStream: {
    path: '/fanout.v1.IngestService/PublishStream',
    requestStream: true,
    responseStream: true,
    requestSerialize: bytes,
    requestDeserialize: bytes,
    responseSerialize: (value: fanout.v1.PublishStreamResponse) =>
      Buffer.from(fanout.v1.PublishStreamResponse.encode(value).finish()),
    responseDeserialize: (value: Buffer) => fanout.v1.PublishStreamResponse.decode(value),
  },
} as const;

const Client = grpc.makeGenericClientConstructor(definition, 'IngestService') as unknown as new (
  address: string,
  credentials: grpc.ChannelCredentials,
) => RawClient;

export interface LoadClient {
  /** Publishes an encoded PublishRequest of `events` events; rejects unless all are acknowledged. */
  publish(request: Buffer, events: number, deadlineMs: number): Promise<void>;
  /** A PublishStream taking encoded PublishStreamRequests. */
  publishStream(): grpc.ClientDuplexStream<Buffer, fanout.v1.PublishStreamResponse>;
  close(): void;
}

export function loadClient(address: string): LoadClient {
  const raw = new Client(address, grpc.credentials.createInsecure());
  return {
    publish(request, events, deadlineMs) {
      return new Promise((resolve, reject) => {
        raw.publish(
          request,
          new grpc.Metadata(),
          { deadline: Date.now() + deadlineMs },
          (error, results) => {
            if (error) reject(error);
            else if (results !== events) {
              reject(new Error(`${results ?? 0} results for ${events} events`));
            } else resolve();
          },
        );
      });
    },
    publishStream: () => raw.publishStream(),
    close() {
      raw.close();
    },
  };
}

/** Encoded requests for a workload whose events repeat with a period (the channel count). */
export class RequestCache {
  private readonly requests = new Map<number, Buffer>();
  private readonly streamEvents = new Map<number, Buffer>();

  constructor(
    private readonly eventAt: (n: number) => fanout.v1.PublishEvent.$Properties,
    private readonly period: number,
  ) {}

  /** The PublishRequest of events n … n+size-1. */
  publishRequest(n: number, size: number): Buffer {
    const key = (n % this.period) * 1_000_003 + size;
    let request = this.requests.get(key);
    if (request === undefined) {
      const events = Array.from({ length: size }, (_, i) => this.eventAt(n + i));
      request = Buffer.from(fanout.v1.PublishRequest.encode({ events }).finish());
      this.requests.set(key, request);
    }
    return request;
  }

  /** The PublishStreamRequest of event n with its sequence number. */
  streamRequest(sequence: number, n: number): Buffer {
    let event = this.streamEvents.get(n % this.period);
    if (event === undefined) {
      // Field 2 (event) of PublishStreamRequest, tag included.
      const request = fanout.v1.PublishStreamRequest.encode({ event: this.eventAt(n) }).finish();
      event = Buffer.from(request);
      this.streamEvents.set(n % this.period, event);
    }
    // Field 1 (sequence, varint) followed by the encoded event field.
    const head = Buffer.allocUnsafe(11);
    head[0] = 0x08;
    let offset = 1;
    let rest = sequence;
    while (rest >= 0x80) {
      head[offset++] = (rest % 128) | 0x80;
      rest = Math.floor(rest / 128);
    }
    head[offset++] = rest;
    return Buffer.concat([head.subarray(0, offset), event]);
  }
}
