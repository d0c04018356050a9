/**
 * Finding the process that listens on a port: the /proc/net/tcp parse, and
 * this very process found by a server it opened.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { listeningInodes, pidListeningOn } from './listening-process.js';

const table = [
  '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
  '   0: 0100007F:2383 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 41234 1 0000000000000000 100 0 0 10 0',
  '   1: 0100007F:2383 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 41299 1 0000000000000000 20 4 30 10 -1',
  '   2: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 50001 1 0000000000000000 100 0 0 10 0',
].join('\n');

describe('listening process', () => {
  it('takes the listening sockets of the port only', () => {
    assert.deepEqual(listeningInodes(table, 0x2383), ['41234']);
    assert.deepEqual(listeningInodes(table, 8080), ['50001']);
    assert.deepEqual(listeningInodes(table, 9), []);
  });

  it(
    'finds this process by the port of a server it opened',
    { skip: process.platform !== 'linux' },
    async () => {
      const server = createServer();
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      try {
        assert.equal(pidListeningOn((server.address() as AddressInfo).port), process.pid);
      } finally {
        server.close();
      }
    },
  );
});
