/**
 * A loopback HTTP proxy in front of an edge that blocks transports the way
 * corporate proxies do: it refuses WebSocket upgrades (403), and optionally
 * answers SSE requests with an HTML error page, passing everything else on.
 */
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface BlockingProxy {
  readonly url: string;
  /** Upgrades refused so far. */
  readonly refusedUpgrades: () => number;
  close(): Promise<void>;
}

export async function startBlockingProxy(options: {
  target: string;
  blockSse?: boolean;
}): Promise<BlockingProxy> {
  const target = new URL(options.target);
  let refused = 0;
  const server = createServer((incoming: IncomingMessage, outgoing: ServerResponse) => {
    const sse =
      incoming.url?.startsWith('/v1/stream') === true ||
      (incoming.headers.accept ?? '').includes('text/event-stream');
    if (options.blockSse === true && sse) {
      outgoing.writeHead(502, { 'content-type': 'text/html' });
      outgoing.end('<html><body>Bad gateway: streaming is not allowed</body></html>');
      return;
    }
    const forwarded = request(
      {
        host: target.hostname,
        port: target.port,
        method: incoming.method,
        path: incoming.url,
        headers: incoming.headers,
      },
      (answer) => {
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(outgoing);
      },
    );
    forwarded.on('error', () => {
      outgoing.destroy();
    });
    outgoing.on('close', () => forwarded.destroy());
    incoming.pipe(forwarded);
  });
  server.on('upgrade', (_request, socket) => {
    refused++;
    socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    refusedUpgrades: () => refused,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}
