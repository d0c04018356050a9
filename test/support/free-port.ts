/**
 * A TCP port on 127.0.0.1 that nothing listens on right now: for a process
 * that must be told its port before it starts (`--inspect`, a peer's
 * config, edges sharing one port). Another process may take it before the
 * caller binds it; callers that care retry.
 */
import { createServer } from 'node:net';
import { once } from 'node:events';

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (address === null || typeof address === 'string') throw new Error('no port was assigned');
  return address.port;
}
