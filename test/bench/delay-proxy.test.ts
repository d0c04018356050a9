/**
 * The benchmarks' delay proxy forwards every byte both ways, in order, and
 * passes on the end of each direction: what an echo server behind it sends
 * back is exactly what the client wrote. (The delay itself is a timing and
 * is not asserted.)
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startDelayProxy, type DelayProxy } from './delay-proxy.js';

describe('delay proxy', () => {
  const echo = createServer((socket: Socket) => {
    socket.pipe(socket);
  });
  let proxy: DelayProxy;

  before(async () => {
    echo.listen(0, '127.0.0.1');
    await once(echo, 'listening');
    proxy = await startDelayProxy((echo.address() as AddressInfo).port, 2);
  });

  after(async () => {
    await proxy.close();
    echo.close();
  });

  it('answers the round trip it adds', () => {
    assert.equal(proxy.roundTripMs, 4);
  });

  it('forwards every chunk both ways, in order, and the end', async () => {
    const client = connect({ host: '127.0.0.1', port: proxy.port });
    await once(client, 'connect');
    const received: Buffer[] = [];
    client.on('data', (chunk: Buffer) => received.push(chunk));
    const sent = Array.from({ length: 200 }, (_, i) => Buffer.alloc(1 + (i % 7) * 997, i % 251));
    for (const chunk of sent) client.write(chunk);
    client.end();
    await once(client, 'end');
    assert.deepEqual(Buffer.concat(received), Buffer.concat(sent));
    client.destroy();
  });

  it('carries several connections at once without mixing them', async () => {
    const texts = ['first', 'second', 'third'].map((name) => `${name} `.repeat(5000));
    const answers = await Promise.all(
      texts.map(async (text) => {
        const client = connect({ host: '127.0.0.1', port: proxy.port });
        await once(client, 'connect');
        let answer = '';
        client.setEncoding('utf8');
        client.on('data', (chunk: string) => {
          answer += chunk;
        });
        client.end(text);
        await once(client, 'end');
        client.destroy();
        return answer;
      }),
    );
    assert.deepEqual(answers, texts);
  });
});
