/**
 * A loopback TCP proxy that adds latency: every chunk read from either side
 * is written to the other `oneWayMs` later (in order), so a request and its
 * answer cost `2 × oneWayMs` more than on loopback — a client one network
 * round trip away from the edge (25 ms each way: a user in the same region
 * on a good fixed line, or a CDN-less page across a country). Bandwidth is
 * not limited and the TCP handshake to the proxy itself is not delayed:
 * benchmarks open their connections before their clock starts (a page whose
 * HTML already came over a keep-alive connection). Bench-only code.
 */
import { createConnection, createServer, type AddressInfo, type Socket } from 'node:net';

export interface DelayProxy {
  readonly port: number;
  /** Round trip the proxy adds, ms. */
  readonly roundTripMs: number;
  close(): Promise<void>;
}

/** Writes what `from` reads to `to`, `delayMs` later, keeping order; ends `to` the same way. */
function delayedPipe(from: Socket, to: Socket, delayMs: number): void {
  from.on('data', (chunk: Buffer) => {
    // Timers of one duration run in the order they were set.
    setTimeout(() => {
      if (!to.destroyed) to.write(chunk);
    }, delayMs);
  });
  from.on('end', () => {
    setTimeout(() => {
      if (!to.destroyed) to.end();
    }, delayMs);
  });
}

export async function startDelayProxy(targetPort: number, oneWayMs: number): Promise<DelayProxy> {
  const sockets = new Set<Socket>();
  // Half-open: each direction ends on its own, as it does without the proxy.
  const server = createServer({ allowHalfOpen: true }, (client) => {
    client.setNoDelay(true);
    const upstream = createConnection({ host: '127.0.0.1', port: targetPort, allowHalfOpen: true });
    upstream.setNoDelay(true);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.once('close', () => {
        sockets.delete(socket);
        setTimeout(() => {
          client.destroy();
          upstream.destroy();
        }, oneWayMs);
      });
      socket.on('error', () => socket.destroy());
    }
    delayedPipe(client, upstream, oneWayMs);
    delayedPipe(upstream, client, oneWayMs);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    roundTripMs: 2 * oneWayMs,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => {
          resolve();
        });
      }),
  };
}
