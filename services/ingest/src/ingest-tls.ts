/**
 * TLS of the ingest servers from `ingest.tls`: the server certificate and
 * key, and optionally the CA that client certificates must chain to (mutual
 * TLS: a connection without such a certificate fails its handshake).
 *
 * Everything is read and checked once at start-up, so a missing file, a
 * file that is not PEM or a key that does not match the certificate stops
 * the process with a `config_invalid` error naming the setting.
 */
import { readFileSync } from 'node:fs';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import type { Socket } from 'node:net';
import { createSecureContext, TLSSocket, type PeerCertificate } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { FanoutError, type FanoutConfig } from '@fanout/shared';

export interface IngestTls {
  /** PEM certificate chain of the servers. */
  readonly cert: Buffer;
  /** PEM private key of `cert`. */
  readonly key: Buffer;
  /** PEM CA certificates for client certificates; set means mutual TLS. */
  readonly clientCa?: Buffer;
}

function readSetting(path: string, key: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new FanoutError(
      'config_invalid',
      `${key}: cannot read ${path} (${error instanceof Error ? error.message : String(error)})`,
    );
  }
}

function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The PEM certificates in a bundle, each checked; throws naming `key`. */
function certificates(pem: Buffer, key: string, path: string): X509Certificate[] {
  const blocks = pem
    .toString('utf8')
    .match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
  if (blocks === null) {
    throw new FanoutError('config_invalid', `${key}: ${path} holds no PEM certificate`);
  }
  return blocks.map((block, index) => {
    try {
      return new X509Certificate(block);
    } catch (error) {
      throw new FanoutError(
        'config_invalid',
        `${key}: certificate ${index + 1} of ${path} is not valid (${reason(error)})`,
      );
    }
  });
}

/** Reads and checks `ingest.tls`; undefined when TLS is off (no certFile). */
export function loadIngestTls(settings: FanoutConfig['ingest']['tls']): IngestTls | undefined {
  if (settings.certFile === '') return undefined;
  const cert = readSetting(settings.certFile, 'ingest.tls.certFile');
  const key = readSetting(settings.keyFile, 'ingest.tls.keyFile');
  const [leaf] = certificates(cert, 'ingest.tls.certFile', settings.certFile);
  let privateKey: ReturnType<typeof createPrivateKey>;
  try {
    privateKey = createPrivateKey(key);
  } catch (error) {
    throw new FanoutError(
      'config_invalid',
      `ingest.tls.keyFile: ${settings.keyFile} is not a readable PEM private key (${reason(error)})`,
    );
  }
  if (leaf !== undefined && !leaf.checkPrivateKey(privateKey)) {
    throw new FanoutError(
      'config_invalid',
      `ingest.tls.keyFile: ${settings.keyFile} is not the key of the certificate in ingest.tls.certFile (${settings.certFile})`,
    );
  }
  let clientCa: Buffer | undefined;
  if (settings.clientCaFile !== '') {
    clientCa = readSetting(settings.clientCaFile, 'ingest.tls.clientCaFile');
    certificates(clientCa, 'ingest.tls.clientCaFile', settings.clientCaFile);
  }
  try {
    createSecureContext({ cert, key, ...(clientCa ? { ca: clientCa } : {}) });
  } catch (error) {
    throw new FanoutError('config_invalid', `ingest.tls: unusable (${reason(error)})`);
  }
  return { cert, key, ...(clientCa ? { clientCa } : {}) };
}

/** Server credentials of the gRPC server: TLS (mutual with a client CA) or plaintext. */
export function grpcServerCredentials(tls: IngestTls | undefined): grpc.ServerCredentials {
  if (tls === undefined) return grpc.ServerCredentials.createInsecure();
  return grpc.ServerCredentials.createSsl(
    tls.clientCa ?? null,
    [{ cert_chain: tls.cert, private_key: tls.key }],
    tls.clientCa !== undefined,
  );
}

/** The subject CN of a verified peer certificate; undefined without one (or with several CNs). */
export function subjectCommonName(certificate: PeerCertificate | undefined): string | undefined {
  const cn: unknown = certificate?.subject.CN;
  return typeof cn === 'string' && cn !== '' ? cn : undefined;
}

/** The subject CN of the verified client certificate of an HTTPS connection. */
export function verifiedSubjectOf(socket: Socket): string | undefined {
  if (!(socket instanceof TLSSocket) || !socket.authorized) return undefined;
  const certificate = socket.getPeerCertificate();
  return Object.keys(certificate).length === 0 ? undefined : subjectCommonName(certificate);
}
