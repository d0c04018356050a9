/**
 * Admission of IngestService calls, before any byte of their messages is
 * read: a server interceptor authenticates the caller from the call's
 * metadata (and its client certificate) while grpc-js holds the stream
 * paused, and ends the call with its error when that fails, so an
 * unauthenticated call costs its headers and nothing more. Admitted calls
 * get a reservation in the request budget (request-budget.ts); each message
 * is weighed from its length prefix before it is read
 * (grpc-message-decoder.ts), and refused with `rate_limited` when the
 * budget cannot take it or `event_too_large` when it is over the size limit.
 * The reservation is given back when the call ends; PublishStream gives
 * back each message's share when the event is acknowledged. A message that
 * is not received whole within `readTimeoutMs` of its length prefix ends the
 * call with `deadline_exceeded`, so a slow sender cannot keep its share.
 */
import * as grpc from '@grpc/grpc-js';
import { FanoutError, toFanoutError, type Logger } from '@fanout/shared';
import { AdmittingMessageDecoder, installMessageDecoder } from './grpc-message-decoder.js';
import { grpcStatusOf } from './grpc-status.js';
import { subjectCommonName } from '../ingest-tls.js';
import type { PublisherCredentials, PublisherIdentity } from '../admission/publisher-auth.js';
import {
  grpcBytesPerByte,
  type RequestBudget,
  type Reservation,
} from '../admission/request-budget.js';

export interface AdmittedCall {
  readonly identity: PublisherIdentity;
  readonly reservation: Reservation;
}

export interface GrpcAdmissionOptions {
  /** Path prefix of the calls to admit (`/fanout.v1.IngestService/`); others pass. */
  readonly pathPrefix: string;
  /** Authenticates the caller of the method at `path`. */
  readonly authenticate: (
    credentials: PublisherCredentials,
    path: string,
  ) => Promise<PublisherIdentity>;
  readonly budget: RequestBudget;
  /** Largest message, in bytes. */
  readonly maxMessageBytes: number;
  /** Longest a message may take to arrive once its length prefix has. */
  readonly readTimeoutMs: number;
  /** Called with every call refused here after authentication (for the metrics). */
  readonly onRefused: (error: FanoutError, path: string) => void;
  readonly logger: Logger;
}

const admitted = new WeakMap<grpc.Metadata, AdmittedCall>();

/** The identity and reservation of an admitted call, by the metadata its handler was given. */
export function admittedCall(metadata: grpc.Metadata): AdmittedCall | undefined {
  return admitted.get(metadata);
}

/** The publisher credentials of a call: its metadata and its verified client certificate. */
export function credentialsOf(
  metadata: grpc.Metadata,
  certificateSubject: string | undefined,
): PublisherCredentials {
  const first = (key: string) => {
    const value = metadata.get(key)[0];
    return value === undefined ? undefined : String(value);
  };
  return {
    authorization: first('authorization'),
    apiKey: first('x-api-key'),
    certificateSubject,
  };
}

/** Estimated bytes a message of `size` bytes holds (a compressed one: up to the limit once inflated). */
function messageWeight(size: number, compressed: boolean, maxMessageBytes: number): number {
  return grpcBytesPerByte * size + (compressed ? grpcBytesPerByte * maxMessageBytes : 0);
}

export function admissionInterceptor(options: GrpcAdmissionOptions): grpc.ServerInterceptor {
  let warned = false;
  return (method, call) => {
    if (!method.path.startsWith(options.pathPrefix)) return new grpc.ServerInterceptingCall(call);
    const connection = call.getPeer();
    let reservation: Reservation | undefined;
    let ended = false;
    let readTimer: NodeJS.Timeout | undefined;
    const end = () => {
      ended = true;
      clearTimeout(readTimer);
      reservation?.release();
    };
    const refuse = (error: FanoutError, counted = false) => {
      if (ended) return;
      end();
      if (!counted) options.onRefused(error, method.path);
      call.sendStatus(grpcStatusOf(error));
    };
    const decoder = new AdmittingMessageDecoder({
      maxMessageBytes: options.maxMessageBytes,
      admit: (size, compressed) => {
        if (reservation === undefined) throw new Error('message before admission');
        reservation.grow(messageWeight(size, compressed, options.maxMessageBytes));
        if (size > 0) {
          readTimer = setTimeout(() => {
            refuse(
              new FanoutError(
                'deadline_exceeded',
                `the message was not received within ${options.readTimeoutMs} ms`,
              ),
            );
          }, options.readTimeoutMs);
        }
      },
      read: () => {
        clearTimeout(readTimer);
      },
      refuse,
    });
    const hooked = installMessageDecoder(call, decoder);
    if (!hooked && !warned) {
      warned = true;
      options.logger.warn(
        'cannot weigh gRPC messages before they are read (grpc-js internals changed); they are weighed once read, within the message size limit',
      );
    }
    return new grpc.ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, nextMetadata) {
            const certificate = call.getAuthContext().sslPeerCertificate;
            const credentials = credentialsOf(metadata, subjectCommonName(certificate));
            options.authenticate(credentials, method.path).then(
              (identity) => {
                if (ended) return;
                reservation = options.budget.reserve(connection, 0);
                admitted.set(metadata, { identity, reservation });
                nextMetadata(metadata);
              },
              (error: unknown) => {
                refuse(toFanoutError(error), true);
              },
            );
          },
          onReceiveMessage(message: unknown, nextMessage) {
            if (!hooked && Buffer.isBuffer(message)) {
              try {
                reservation?.grow(messageWeight(message.length, false, options.maxMessageBytes));
              } catch (error) {
                refuse(toFanoutError(error));
                return;
              }
            }
            nextMessage(message);
          },
          onCancel() {
            end();
          },
        });
      },
      sendStatus(status, next) {
        end();
        next(status);
      },
    });
  };
}
