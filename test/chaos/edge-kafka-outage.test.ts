/**
 * Clients of an edge while Kafka is down. The broker is killed under a live
 * edge: clients already connected are told `kafka_unavailable` (WebSocket
 * `disconnect` and close 4011 with their positions, SSE `disconnect` with
 * the cursor) once the outage has lasted `edge.kafkaWaitMs`; clients that
 * arrive meanwhile for a partition the edge is not reading get
 * `kafka_unavailable` (HTTP 503 with Retry-After, WebSocket `disconnect` and
 * close 4011) after at most that long, never silence. After the broker is back, the
 * same requests are served and the positions resume exactly.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { partitionForChannel } from '@fanout/shared';
import { startRestartableStack, TestSocket, type RestartableStack } from '../support/index.js';
import {
  offsetOf,
  publishEvent,
  SseClient,
  uniqueChannel,
  waitFor,
} from '../support/edge-test-clients.js';

const partitions = 4;
const kafkaWaitMs = 2000;

/** A channel of `partition`, named after `name`. */
function channelOn(name: string, partition: number): string {
  for (;;) {
    const channel = uniqueChannel(name);
    if (partitionForChannel(channel, partitions) === partition) return channel;
  }
}

describe('a Kafka outage under a live edge', () => {
  let stack: RestartableStack | undefined;

  after(async () => {
    await stack?.stop();
  });

  it('answers kafka_unavailable within edge.kafkaWaitMs, tells open connections, and serves again after', async () => {
    stack = await startRestartableStack({
      name: 'chaos-edge-outage',
      topic: 'chaos.edge-outage',
      partitions,
      // No warm-up: partition 1 stays unread until a client asks for it.
      edgeEnv: { FANOUT_EDGE_KAFKA_WAIT_MS: String(kafkaWaitMs), FANOUT_EDGE_WARMUP_EVENTS: '0' },
    });
    const { broker, ingest, edge } = stack;
    const read = channelOn('outage.read', 0);
    const unread = channelOn('outage.unread', 1);

    // Open connections on a partition the edge reads.
    const position = await publishEvent(ingest, read);
    const socket = new TestSocket(edge.wsUrl, 'fanout.json.v1');
    await socket.opened;
    socket.sendJson({
      subscribe: { requestId: 1, subscriptions: [{ channel: read, since: position }] },
    });
    await socket.takeJson('subscribed');
    const sse = await SseClient.open(`${edge.httpBase}/v1/channels/${read}?watch=true`, {
      'last-event-id': position,
    });
    assert.equal(sse.status, 200);
    await sse.take(1, (event) => event.event === 'subscribed');

    await broker.kill();

    // Open connections are told, with their positions.
    const [disconnect] = await socket.takeJson('disconnect', 1, 30_000);
    assert.equal(disconnect?.['code'], 'kafka_unavailable');
    assert.equal(disconnect?.['closeCode'], 4011);
    assert.equal(disconnect?.['action'], 'resume');
    assert.deepEqual(disconnect?.['positions'], [{ channel: read, position }]);
    await socket.closed;
    assert.equal(socket.closeCode, 4011);
    const [ended] = await sse.take(1, (event) => event.event === 'disconnect', 30_000);
    const body = JSON.parse(ended?.data ?? '{}') as Record<string, unknown>;
    assert.equal(body['code'], 'kafka_unavailable');
    assert.equal(body['cursor'], position);
    assert.deepEqual(await sse.rest(10_000), []);
    assert.equal(sse.ended, true);

    // Clients arriving now, for a partition the edge does not read: an answer, in time.
    const waiting = new TestSocket(edge.wsUrl, 'fanout.json.v1');
    await waiting.opened;
    const began = Date.now();
    const get = await fetch(`${edge.httpBase}/v1/channels/${unread}`);
    assert.equal(get.status, 503);
    assert.equal(get.headers.get('retry-after'), '1');
    assert.equal(
      ((await get.json()) as { error: { code: string } }).error.code,
      'kafka_unavailable',
    );
    const stream = await fetch(`${edge.httpBase}/v1/stream?channels=${unread}`, {
      headers: { accept: 'text/event-stream' },
    });
    assert.equal(stream.status, 503);
    assert.equal(stream.headers.get('retry-after'), '1');
    assert.equal(
      ((await stream.json()) as { error: { code: string } }).error.code,
      'kafka_unavailable',
    );
    waiting.sendJson({ subscribe: { requestId: 7, subscriptions: [{ channel: unread }] } });
    // Closed with 4011, so the client resumes with backoff: an `error` frame
    // would leave it connected with nothing subscribed.
    const [refused] = await waiting.takeJson('disconnect', 1, 30_000);
    assert.equal(refused?.['code'], 'kafka_unavailable');
    assert.equal(refused?.['closeCode'], 4011);
    assert.equal(refused?.['action'], 'resume');
    assert.deepEqual(refused?.['positions'], []);
    await waiting.closed;
    assert.equal(waiting.closeCode, 4011);
    assert.ok(
      Date.now() - began < 3 * (kafkaWaitMs + 5000),
      `answered within the bounds (${Date.now() - began} ms)`,
    );
    waiting.close();

    // Back: the same requests are served, and the positions resume exactly.
    await broker.restart();
    const harness = edge;
    await waitFor(
      async () => {
        const response = await fetch(`${harness.httpBase}/v1/channels/${unread}`);
        await response.body?.cancel();
        return response.status === 200;
      },
      'GET to be served again',
      60_000,
    );
    const resumed = new TestSocket(harness.wsUrl, 'fanout.json.v1');
    await resumed.opened;
    resumed.sendJson({
      subscribe: {
        requestId: 2,
        subscriptions: [{ channel: read, since: position }, { channel: unread }],
      },
    });
    await resumed.takeJson('subscribed', 1, 30_000);
    const ingestNow = ingest;
    let next = '';
    await waitFor(
      async () => {
        try {
          next = await publishEvent(ingestNow, read);
          return true;
        } catch {
          return false;
        }
      },
      'ingest to publish again',
      60_000,
    );
    const [event] = await resumed.takeJson('event', 1, 30_000);
    assert.equal(event?.['position'], next);
    assert.equal(offsetOf(next), offsetOf(position) + 1, 'nothing between the two');
    resumed.close();
  });
});
