/**
 * An exception inside any uWebSockets.js handler ends only its own
 * connection or request, against a real broker, ingest and edge (in this
 * process, so an exception that escaped would end the test run): WebSocket
 * open, message, request and close handlers, the upgrade, an HTTP route and
 * an SSE stream's timer. Each is made to throw through the `uwsFaults`
 * hook; the failing client gets close 4000 `internal` (HTTP: 500
 * `internal`), the failure is counted in fanout_edge_handler_errors_total,
 * and a bystander keeps receiving.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { uwsFaults } from '@fanout/edge';
import { startEdgeStack, TestSocket, type EdgeStack } from '../support/index.js';
import {
  handshakeStatus,
  metricValue,
  publishEvent,
  SseClient,
  uniqueChannel,
  waitFor,
} from '../support/edge-test-clients.js';

/** Makes the next call of `handler` throw, once. */
function failNext(handler: string): void {
  uwsFaults.inject = (name) => {
    if (name !== handler) return;
    uwsFaults.inject = undefined;
    throw new Error(`injected fault in ${handler}`);
  };
}

describe('an exception in a uWebSockets.js handler ends only its own client', () => {
  let stack: EdgeStack;
  let bystander: TestSocket;
  const channel = uniqueChannel('guarded');

  before(async () => {
    stack = await startEdgeStack({
      name: 'edge-handler-guard',
      partitions: 1,
      edgeEnv: { FANOUT_EDGE_HEARTBEAT_SECONDS: '1' },
    });
    bystander = new TestSocket(stack.edge.wsUrl, 'fanout.json.v1');
    await bystander.opened;
    bystander.sendJson({ subscribe: { requestId: 1, subscriptions: [{ channel }] } });
    await bystander.takeJson('subscribed');
  });

  afterEach(async () => {
    uwsFaults.inject = undefined;
    // The bystander still receives, and the edge's count of sockets is right.
    const position = await publishEvent(stack.ingest, channel);
    const [event] = await bystander.takeJson('event');
    assert.equal(event?.['position'], position);
    await waitFor(
      async () =>
        (await metricValue(stack.edge.registry, 'fanout_edge_connections', {
          transport: 'ws',
        })) === 1,
      'only the bystander to be counted',
    );
  });

  after(async () => {
    bystander.close();
    await bystander.closed;
    await stack.stop();
  });

  async function errorsOf(handler: string): Promise<number> {
    return metricValue(stack.edge.registry, 'fanout_edge_handler_errors_total', { handler });
  }

  /** The `disconnect` frame and close code a socket ends with. */
  async function ending(socket: TestSocket): Promise<Record<string, unknown> | undefined> {
    const [disconnect] = await socket.takeJson('disconnect').catch(() => []);
    await socket.closed;
    return disconnect;
  }

  it('closes a socket whose message handler throws with 4000 internal', async () => {
    const before = await errorsOf('ws message');
    const victim = new TestSocket(stack.edge.wsUrl, 'fanout.json.v1');
    await victim.opened;
    failNext('ws message');
    victim.sendJson({ ping: { requestId: 1 } });
    const disconnect = await ending(victim);
    assert.equal(disconnect?.['code'], 'internal');
    assert.equal(disconnect['action'], 'resume');
    assert.equal(victim.closeCode, 4000);
    assert.equal(await errorsOf('ws message'), before + 1);
  });

  it('closes a socket whose request fails inside its error answer with 4000 internal', async () => {
    const before = await errorsOf('ws request failed');
    const victim = new TestSocket(stack.edge.wsUrl, 'fanout.json.v1');
    await victim.opened;
    failNext('ws request failed');
    victim.sendJson({ subscribe: { requestId: 1, subscriptions: [{ channel: 'no..pe' }] } });
    await ending(victim);
    assert.equal(victim.closeCode, 4000);
    assert.equal(await errorsOf('ws request failed'), before + 1);
  });

  it('closes a socket whose open handler throws with 4000 internal', async () => {
    const before = await errorsOf('ws open');
    failNext('ws open');
    const victim = new TestSocket(stack.edge.wsUrl, 'fanout.json.v1');
    await victim.opened;
    await ending(victim);
    assert.equal(victim.closeCode, 4000);
    assert.equal(await errorsOf('ws open'), before + 1);
  });

  it('survives a close handler that throws', async () => {
    const before = await errorsOf('ws close');
    const victim = new TestSocket(stack.edge.wsUrl, 'fanout.json.v1');
    await victim.opened;
    failNext('ws close');
    victim.close();
    await victim.closed;
    await waitFor(async () => (await errorsOf('ws close')) === before + 1, 'the close fault');
    // Its place and subscriptions are given back all the same (afterEach
    // checks that only the bystander is counted).
    await waitFor(
      () => stack.edge.app.server.connections() === 1,
      'the failed close to give its place back',
    );
  });

  it('refuses an upgrade whose handler throws with HTTP 500', async () => {
    const before = await errorsOf('ws upgrade');
    failNext('ws upgrade');
    const victim = new TestSocket(stack.edge.wsUrl, 'fanout.json.v1');
    assert.equal(await handshakeStatus(victim), 500);
    assert.equal(await errorsOf('ws upgrade'), before + 1);
  });

  it('answers a request whose route throws with 500 internal', async () => {
    const route = 'http GET /v1/channels/:channel';
    const before = await errorsOf(route);
    failNext(route);
    const response = await fetch(`${stack.edge.httpBase}/v1/channels/${channel}`);
    assert.equal(response.status, 500);
    const body = (await response.json()) as { error: { code: string } };
    assert.equal(body.error.code, 'internal');
    assert.equal(await errorsOf(route), before + 1);
    // The next request is served.
    const again = await fetch(`${stack.edge.httpBase}/v1/channels/${channel}`);
    assert.equal(again.status, 200);
    await again.body?.cancel();
  });

  it('closes an SSE stream whose timer throws, and serves the next one', async () => {
    const before = await errorsOf('sse heartbeat');
    const stream = await SseClient.open(`${stack.edge.httpBase}/v1/channels/${channel}?watch=true`);
    assert.equal(stream.status, 200);
    await stream.take(1, (event) => event.event === 'subscribed');
    failNext('sse heartbeat');
    // Closed without a last event: the read ends or fails.
    await stream.rest(15_000).catch(() => []);
    assert.equal(await errorsOf('sse heartbeat'), before + 1);
    await waitFor(
      () => stack.edge.app.server.connections() === 1,
      'the stream to give its place back',
    );
    const next = await SseClient.open(`${stack.edge.httpBase}/v1/channels/${channel}?watch=true`);
    assert.equal(next.status, 200);
    await next.take(1, (event) => event.event === 'subscribed');
    await next.close();
  });
});
