/**
 * Test upstreams: HTTP servers on 127.0.0.1 that record what they were
 * asked and whether the bridge closed their connections.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type UpstreamHandler = (request: IncomingMessage, response: ServerResponse) => void;

export interface LocalUpstream {
  /** `http://127.0.0.1:<port>` */
  readonly origin: string;
  readonly port: number;
  /** Requests received, in order. */
  readonly requests: IncomingMessage[];
  /** Sockets closed so far. */
  closedSockets(): number;
  close(): Promise<void>;
}

export async function startUpstream(handler: UpstreamHandler): Promise<LocalUpstream> {
  const requests: IncomingMessage[] = [];
  const sockets = new Set<Socket>();
  let closed = 0;
  const server: Server = createServer((request, response) => {
    requests.push(request);
    handler(request, response);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => {
      sockets.delete(socket);
      closed += 1;
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    origin: `http://127.0.0.1:${port}`,
    port,
    requests,
    closedSockets: () => closed,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) =>
        server.close(() => {
          resolve();
        }),
      );
    },
  };
}

/** Answers with a JSON body (a string is sent as is). */
export function json(
  response: ServerResponse,
  body: unknown,
  headers: Record<string, string> = {},
  status = 200,
): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', ...headers });
  response.end(text);
}
