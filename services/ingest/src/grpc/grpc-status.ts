/**
 * The gRPC status of a FanoutError: the catalog's status code, the message
 * in the details, the catalog code in the `fanout-error-code` trailer and,
 * when the error says how long to wait (`rate_limited`), that delay in the
 * `fanout-retry-after-ms` trailer.
 */
import * as grpc from '@grpc/grpc-js';
import { errorSpec, type FanoutError } from '@fanout/shared';

export function grpcStatusOf(error: FanoutError): grpc.StatusObject {
  const metadata = new grpc.Metadata();
  metadata.set('fanout-error-code', error.code);
  const retryAfterMs = error.details['retryAfterMs'];
  if (typeof retryAfterMs === 'number') metadata.set('fanout-retry-after-ms', String(retryAfterMs));
  return { code: grpc.status[errorSpec(error.code).grpc], details: error.message, metadata };
}
