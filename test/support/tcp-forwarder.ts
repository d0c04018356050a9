/**
 * A loopback TCP forwarder: one stable address in front of an edge that is
 * replaced (killed, started again on a new port), like a Service in front
 * of its pods. Connections made while no edge is set are refused.
 */
import { createConnection, createServer, type AddressInfo, type Socket } from 'node:net';

export interface TcpForwarder {
  readonly port: number;
  readonly url: string;
  /** Sends new connections to this port (undefined: refuse them). */
  retarget(port: number | undefined): void;
  close(): Promise<void>;
}

export async function startTcpForwarder(target: number | undefined): Promise<TcpForwarder> {
  let current = target;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    sockets.add(client);
    client.once('close', () => sockets.delete(client));
    if (current === undefined) {
      client.destroy();
      return;
    }
    const upstream = createConnection({ host: '127.0.0.1', port: current });
    sockets.add(upstream);
    upstream.once('close', () => {
      sockets.delete(upstream);
      client.destroy();
    });
    client.once('close', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    retarget(next) {
      current = next;
    },
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => {
          resolve();
        });
      }),
  };
}
