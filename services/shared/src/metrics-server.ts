/**
 * The internal HTTP server of a service, on its own port, away from client
 * traffic: `GET /metrics` (Prometheus text), `GET /livez` (the process
 * answers) and `GET /readyz` (the service can do its job; 503 while starting,
 * while a dependency is down, and during drain). Both probes answer from
 * callbacks, so the service decides; bind it to 127.0.0.1 outside a cluster.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/** The answer of a probe. */
export interface Readiness {
  readonly ready: boolean;
  /** Why not ready, shown in the 503 body. */
  readonly reason?: string;
}

export interface MetricsServerOptions {
  readonly host: string;
  readonly port: number;
  readonly registry: Registry;
  /** `/readyz`: 200 when ready, 503 with the reason otherwise (during drain, for instance). */
  readonly readiness: () => Readiness;
  /** `/livez`: 200 unless this says otherwise (a wedged event loop cannot answer at all). */
  readonly liveness?: () => Readiness;
}

export interface MetricsServer {
  /** The bound address and port (the real port when 0 was asked for). */
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/metrics') {
      options.registry.metrics().then(
        (text) => {
          response.writeHead(200, { 'content-type': options.registry.contentType }).end(text);
        },
        (error: unknown) => {
          response.writeHead(500, { 'content-type': 'text/plain' }).end(String(error));
        },
      );
      return;
    }
    if (path === '/livez') {
      const liveness = options.liveness?.() ?? { ready: true };
      response
        .writeHead(liveness.ready ? 200 : 503, { 'content-type': 'text/plain' })
        .end(liveness.ready ? 'ok\n' : `not live: ${liveness.reason ?? 'unknown'}\n`);
      return;
    }
    if (path === '/readyz') {
      const readiness = options.readiness();
      response
        .writeHead(readiness.ready ? 200 : 503, { 'content-type': 'text/plain' })
        .end(readiness.ready ? 'ready\n' : `not ready: ${readiness.reason ?? 'starting'}\n`);
      return;
    }
    response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  return {
    host: address.address,
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}
