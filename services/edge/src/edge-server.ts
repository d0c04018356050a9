/**
 * The edge's client-facing uWebSockets.js server. This first version serves
 * the health of the node and refuses client routes that are not built yet
 * with the catalog's `not_found`; WebSocket, SSE and long-poll routes plug in
 * here.
 */
import { FanoutError, toHttpStatus, type Logger } from '@fanout/shared';
import type { HttpResponse, TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import type { Uws } from './uws-native.js';

export interface EdgeServerOptions {
  readonly uws: Uws;
  readonly host: string;
  readonly port: number;
  readonly logger: Logger;
}

export interface EdgeServer {
  readonly port: number;
  readonly app: TemplatedApp;
  close(): void;
}

function statusLine(status: number): string {
  const reason: Record<number, string> = {
    200: 'OK',
    404: 'Not Found',
    503: 'Service Unavailable',
  };
  return `${status} ${reason[status] ?? ''}`.trim();
}

export function sendError(response: HttpResponse, error: FanoutError): void {
  response.cork(() => {
    response
      .writeStatus(statusLine(toHttpStatus(error.code)))
      .writeHeader('content-type', 'application/json')
      .end(JSON.stringify(error.toJSON()));
  });
}

export async function startEdgeServer(options: EdgeServerOptions): Promise<EdgeServer> {
  const app = options.uws.App();
  app.any('/*', (response, request) => {
    const path = request.getUrl();
    sendError(
      response,
      new FanoutError('not_found', `no route ${request.getMethod().toUpperCase()} ${path}`),
    );
  });
  const listenSocket = await new Promise<us_listen_socket>((resolve, reject) => {
    app.listen(options.host, options.port, (socket) => {
      if (socket) resolve(socket);
      else reject(new Error(`cannot listen on ${options.host}:${options.port}`));
    });
  });
  const port = options.uws.us_socket_local_port(listenSocket);
  return {
    port,
    app,
    close() {
      options.uws.us_listen_socket_close(listenSocket);
    },
  };
}
