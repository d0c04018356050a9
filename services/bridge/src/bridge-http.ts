/**
 * The bridge's HTTP server: `PUT /internal/v1/leases` for edges, `/readyz`
 * (the membership probes of peer bridges, and Kubernetes) and `/healthz`.
 * Internal: reach it only from the cluster (the chart's NetworkPolicy lets
 * edges and bridges in), and with bridge.leaseToken set a lease must carry
 * `authorization: Bearer <token>` (compared in constant time, before the
 * body is read). Bodies are bounded and every answer is JSON; an error is
 * the catalog's `{"error":{code,message,details}}`.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FanoutError, toHttpStatus, type Logger } from '@fanout/shared';

export const leasesPath = '/internal/v1/leases';
/** Largest lease request body. */
export const maxLeaseBodyBytes = 16 * 1024;

export interface BridgeHttpHandlers {
  ready(): { ready: boolean; reason?: string };
  /** Answers the body of a lease; throws a FanoutError. */
  lease(body: unknown): unknown;
}

/**
 * Checks the bearer token of a request against the shared secret in constant
 * time (both sides hashed first, so neither their lengths nor their contents
 * shape the time taken). An empty secret checks nothing.
 */
export function leaseTokenCheck(token: string): (request: IncomingMessage) => void {
  if (token === '') return () => {};
  const expected = createHash('sha256').update(token, 'utf8').digest();
  return (request) => {
    const header = request.headers.authorization ?? '';
    const match = /^Bearer ([^\s]+)$/i.exec(header);
    const given = createHash('sha256')
      .update(match?.[1] ?? '', 'utf8')
      .digest();
    if (match === null || !timingSafeEqual(given, expected)) {
      throw new FanoutError(
        'unauthenticated',
        match === null
          ? 'a lease request needs authorization: Bearer <bridge.leaseToken>'
          : 'the lease token does not match bridge.leaseToken',
      );
    }
  };
}

export interface BridgeHttpServer {
  readonly port: number;
  close(): Promise<void>;
}

function send(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  response.end(text);
}

function sendError(response: ServerResponse, error: FanoutError): void {
  send(response, toHttpStatus(error.code), error.toJSON());
}

function readBody(request: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(request.headers['content-length'] ?? 0);
    if (declared > limit) {
      reject(new FanoutError('event_too_large', `the body is larger than ${limit} bytes`));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new FanoutError('event_too_large', `the body is larger than ${limit} bytes`));
        request.destroy();
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => {
      resolve(Buffer.concat(chunks));
    });
    request.on('error', reject);
  });
}

async function handle(
  handlers: BridgeHttpHandlers,
  authenticate: (request: IncomingMessage) => void,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  const path = (request.url ?? '/').split('?')[0];
  if (path === '/healthz') {
    send(response, 200, { ok: true });
    return;
  }
  if (path === '/readyz') {
    const readiness = handlers.ready();
    send(response, readiness.ready ? 200 : 503, readiness);
    return;
  }
  if (path !== leasesPath) {
    sendError(response, new FanoutError('not_found', `no ${path} here`));
    return;
  }
  if (request.method !== 'PUT') {
    response.setHeader('allow', 'PUT');
    sendError(response, new FanoutError('method_not_allowed', `${leasesPath} takes PUT`));
    return;
  }
  authenticate(request);
  const type = request.headers['content-type']?.split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json') {
    sendError(
      response,
      new FanoutError('content_type_not_allowed', 'a lease request is application/json'),
    );
    return;
  }
  const bytes = await readBody(request, maxLeaseBodyBytes);
  let body: unknown;
  try {
    body = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new FanoutError('invalid_argument', 'the body is not JSON', {
      details: { field: 'body' },
    });
  }
  send(response, 200, handlers.lease(body));
}

export async function startBridgeHttpServer(options: {
  readonly host: string;
  readonly port: number;
  readonly handlers: BridgeHttpHandlers;
  /** bridge.leaseToken: the bearer token a lease must carry; empty checks nothing. */
  readonly leaseToken?: string;
  readonly logger: Logger;
}): Promise<BridgeHttpServer> {
  const { handlers, logger } = options;
  const authenticate = leaseTokenCheck(options.leaseToken ?? '');
  const server: Server = createServer((request, response) => {
    handle(handlers, authenticate, request, response).catch((error: unknown) => {
      const fanoutError =
        error instanceof FanoutError
          ? error
          : new FanoutError('internal', 'an unexpected error; it was logged');
      if (fanoutError.code === 'internal') logger.error({ err: error }, 'request failed');
      if (!response.headersSent) sendError(response, fanoutError);
      else response.destroy();
    });
  });
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  server.maxHeadersCount = 64;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}
