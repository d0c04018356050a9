/**
 * A gRPC client of the ingest's Publish and PublishStream that sends and
 * receives raw message bytes, so what it sends need not decode: for tests
 * that hand the ingest bytes a well-behaved client would never write.
 */
import * as grpc from '@grpc/grpc-js';

const identity = (bytes: Buffer): Buffer => bytes;

/** Publish and PublishStream with identity serialization each way. */
const rawIngestMethods = {
  publish: {
    path: '/fanout.v1.IngestService/Publish',
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
  publishStream: {
    path: '/fanout.v1.IngestService/PublishStream',
    requestStream: true,
    responseStream: true,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
} satisfies grpc.ServiceDefinition;

export type RawUnaryCallback = (error: grpc.ServiceError | null, value?: Buffer) => void;

export interface RawIngestClient extends grpc.Client {
  publish(request: Buffer, callback: RawUnaryCallback): grpc.ClientUnaryCall;
  publish(
    request: Buffer,
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    callback: RawUnaryCallback,
  ): grpc.ClientUnaryCall;
  publishStream(
    metadata?: grpc.Metadata,
    options?: grpc.CallOptions,
  ): grpc.ClientDuplexStream<Buffer, Buffer>;
}

const RawIngestClientConstructor = grpc.makeGenericClientConstructor(
  rawIngestMethods,
  'IngestService',
) as unknown as new (address: string, credentials: grpc.ChannelCredentials) => RawIngestClient;

/** A raw-bytes client of the ingest at `address` (host:port), over plain TCP unless told. */
export function rawIngestClient(
  address: string,
  credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
): RawIngestClient {
  return new RawIngestClientConstructor(address, credentials);
}
