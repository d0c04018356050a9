/**
 * The client address behind a proxy, against a real edge and broker: with
 * `edge.clientAddressHeader=x-forwarded-for`, a client that sends its own
 * X-Forwarded-For line before the one its proxy appends is still counted
 * against the proxy's entry, over WebSocket and both SSE routes.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { startLoneEdge, type LoneEdgeStack } from '../support/index.js';
import { RawHttpRequest, wsUpgradeLines, type HeaderLine } from '../support/raw-http-request.js';

/** The lines of a client that forges `forged` before its proxy appends `address`. */
function forwarded(forged: string, address: string): HeaderLine[] {
  return [
    ['x-forwarded-for', forged],
    ['x-forwarded-for', address],
  ];
}

describe('edge client address over repeated X-Forwarded-For lines', () => {
  let stack: LoneEdgeStack;
  let port: number;
  const open: RawHttpRequest[] = [];

  before(async () => {
    stack = await startLoneEdge({
      name: 'edge-client-address',
      partitions: 2,
      edgeEnv: {
        FANOUT_EDGE_MAX_CONNECTIONS_PER_ADDRESS: '2',
        FANOUT_EDGE_CLIENT_ADDRESS_HEADER: 'X-Forwarded-For',
      },
    });
    port = stack.edge.app.port;
  });

  afterEach(async () => {
    await Promise.all(open.splice(0).map((request) => request.close()));
  });

  after(async () => {
    await stack.stop();
  });

  function request(path: string, headers: readonly HeaderLine[]): RawHttpRequest {
    const sent = new RawHttpRequest(port, path, headers);
    open.push(sent);
    return sent;
  }

  const ws = (forged: string, address: string): RawHttpRequest =>
    request('/v1/ws', [...wsUpgradeLines, ...forwarded(forged, address)]);
  const watch = (forged: string, address: string): RawHttpRequest =>
    request('/v1/channels/address.a?watch=true', [
      ['accept', 'text/event-stream'],
      ...forwarded(forged, address),
    ]);
  const stream = (forged: string, address: string): RawHttpRequest =>
    request('/v1/stream?channels=address.a,address.b', [
      ['accept', 'text/event-stream'],
      ...forwarded(forged, address),
    ]);

  it('counts WebSockets against the proxy entry, whatever the client forged', async () => {
    assert.equal(await ws('203.0.113.1', '198.51.100.21').status, 101);
    assert.equal(await ws('203.0.113.2', '198.51.100.21').status, 101);
    assert.equal(await ws('203.0.113.3', '198.51.100.21').status, 429);
    assert.equal(await ws('203.0.113.4', '198.51.100.21').status, 429);
    // The forged entries got no place of their own; another proxy entry does.
    assert.equal(await ws('198.51.100.21', '198.51.100.22').status, 101);
  });

  it('counts SSE watches of a channel against the proxy entry', async () => {
    assert.equal(await watch('203.0.113.1', '198.51.100.31').status, 200);
    assert.equal(await watch('203.0.113.2', '198.51.100.31').status, 200);
    assert.equal(await watch('203.0.113.3', '198.51.100.31').status, 429);
  });

  it('counts SSE streams of several channels against the proxy entry', async () => {
    assert.equal(await stream('203.0.113.1', '198.51.100.41').status, 200);
    assert.equal(await stream('203.0.113.2', '198.51.100.41').status, 200);
    assert.equal(await stream('203.0.113.3', '198.51.100.41').status, 429);
  });

  it('counts every kind of connection against one proxy entry together', async () => {
    assert.equal(await ws('203.0.113.1', '198.51.100.51').status, 101);
    assert.equal(await watch('203.0.113.2', '198.51.100.51').status, 200);
    assert.equal(await stream('203.0.113.3', '198.51.100.51').status, 429);
    assert.equal(await ws('203.0.113.4', '198.51.100.51').status, 429);
  });

  it('gives the place back when a connection closes', async () => {
    const first = ws('203.0.113.1', '198.51.100.61');
    assert.equal(await first.status, 101);
    assert.equal(await watch('203.0.113.2', '198.51.100.61').status, 200);
    assert.equal(await stream('203.0.113.3', '198.51.100.61').status, 429);
    await first.close();
    // The edge sees the close after the client does: wait for the place.
    for (let attempt = 0; ; attempt++) {
      const again = stream(`203.0.113.${10 + attempt}`, '198.51.100.61');
      const status = await again.status;
      if (status === 200) break;
      assert.equal(status, 429);
      assert.ok(attempt < 100, 'the closed WebSocket gave its place back');
      await again.close();
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });
});
