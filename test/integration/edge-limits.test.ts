/**
 * Connection limits per client address and the subscribe rate of a
 * WebSocket, against a real edge and broker.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  startLoneEdge,
  TestSocket,
  type EdgeHarness,
  type LoneEdgeStack,
} from '../support/index.js';

/** The HTTP status of a refused WebSocket handshake, or 101 when it opened. */
async function handshakeStatus(socket: TestSocket): Promise<number> {
  try {
    await socket.opened;
    return 101;
  } catch (error) {
    const status = /HTTP (\d+)/.exec(String(error))?.[1];
    if (status === undefined) throw error;
    return Number(status);
  }
}

describe('edge connection limits and subscribe rate', () => {
  let stack: LoneEdgeStack;
  let edge: EdgeHarness;

  before(async () => {
    stack = await startLoneEdge({
      name: 'edge-limits',
      partitions: 2,
      edgeEnv: {
        FANOUT_EDGE_MAX_CONNECTIONS_PER_ADDRESS: '2',
        FANOUT_EDGE_CLIENT_ADDRESS_HEADER: 'X-Forwarded-For',
        FANOUT_EDGE_SUBSCRIBE_RATE_PER_SECOND: '1',
        FANOUT_EDGE_MAX_SUBSCRIPTIONS_PER_CONNECTION: '3',
      },
    });
    edge = stack.edge;
  });

  after(async () => {
    await stack.stop();
  });

  it('refuses a third connection from one address with 429 connection_limit, over WS and SSE', async () => {
    const from = (address: string): Record<string, string> => ({
      'x-forwarded-for': `192.0.2.1, ${address}`,
    });
    const first = new TestSocket(edge.wsUrl, 'fanout.json.v1', from('198.51.100.1'));
    const second = new TestSocket(edge.wsUrl, 'fanout.json.v1', from('198.51.100.1'));
    assert.equal(await handshakeStatus(first), 101);
    assert.equal(await handshakeStatus(second), 101);
    const third = new TestSocket(edge.wsUrl, 'fanout.json.v1', from('198.51.100.1'));
    assert.equal(await handshakeStatus(third), 429);
    const refused = await fetch(`${edge.httpBase}/v1/channels/limits.a?watch=true`, {
      headers: from('198.51.100.1'),
    });
    assert.equal(refused.status, 429);
    const body = (await refused.json()) as { error: { code: string } };
    assert.equal(body.error.code, 'connection_limit');
    // Another address is not affected.
    const other = new TestSocket(edge.wsUrl, 'fanout.json.v1', from('198.51.100.2'));
    assert.equal(await handshakeStatus(other), 101);
    // A closed connection gives its place back.
    first.close();
    await first.closed;
    const again = await fetch(`${edge.httpBase}/v1/channels/limits.a?watch=true`, {
      headers: from('198.51.100.1'),
    });
    assert.equal(again.status, 200);
    await again.body?.cancel();
    for (const socket of [second, other]) {
      socket.close();
      await socket.closed;
    }
  });

  it('answers subscribing faster than the rate with rate_limited, and accepts it after the delay', async () => {
    const socket = new TestSocket(edge.wsUrl, 'fanout.json.v1', {
      'x-forwarded-for': '198.51.100.3',
    });
    await socket.opened;
    await socket.takeJson('connected');
    // The first burst may fill the connection (3 subscriptions) ...
    socket.sendJson({
      subscribe: {
        requestId: 1,
        subscriptions: [{ channel: 'limits.a' }, { channel: 'limits.b' }],
      },
    });
    await socket.takeJson('subscribed');
    socket.sendJson({ unsubscribe: { requestId: 2, channels: ['limits.a', 'limits.b'] } });
    await socket.takeJson('unsubscribed');
    socket.sendJson({ subscribe: { requestId: 3, subscriptions: [{ channel: 'limits.c' }] } });
    await socket.takeJson('subscribed');
    // ... then the bucket is empty: unsubscribing gives nothing back.
    socket.sendJson({ subscribe: { requestId: 4, subscriptions: [{ channel: 'limits.d' }] } });
    const [error] = await socket.takeJson('error');
    assert.equal(error?.['code'], 'rate_limited');
    assert.equal(error['requestId'], 4);
    assert.match(String(error['message']), /retry in \d+ ms/);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    socket.sendJson({ subscribe: { requestId: 5, subscriptions: [{ channel: 'limits.d' }] } });
    const [subscribed] = await socket.takeJson('subscribed');
    assert.equal(subscribed?.['requestId'], 5);
    socket.close();
    await socket.closed;
  });
});
