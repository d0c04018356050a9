/**
 * State subscriptions when their edge drains, against the test broker: a
 * WebSocket state subscription, an SSE state watch of one channel and an
 * SSE snapshot stream of two channels each get the `draining` close with
 * the position (WebSocket `positions`, SSE `cursor`) of the last state sent,
 * and resuming from it on another edge with `since` / `Last-Event-ID` gives
 * exactly the changes written meanwhile: no snapshot, no gap, no duplicate.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  formatStreamCursor,
  parsePosition,
  partitionForChannel,
  type JsonValue,
} from '@fanout/shared';
import { SseClient, uniqueChannel } from '../support/edge-test-clients.js';
import {
  startEdge,
  startIngestStack,
  TestSocket,
  writeState,
  type EdgeHarness,
  type IngestStack,
} from '../support/index.js';

const partitions = 2;

/** A channel `drain.<name>.<hex>` on the same partition as `other` (or any when absent). */
function channelOn(name: string, other?: string): string {
  for (;;) {
    const channel = uniqueChannel(`drain.${name}`);
    if (other === undefined) return channel;
    if (partitionForChannel(channel, partitions) === partitionForChannel(other, partitions)) {
      return channel;
    }
  }
}

/** The one-partition stream cursor of a position. */
function cursorOf(position: string): string {
  const { epoch, partition, offset } = parsePosition(position);
  return formatStreamCursor({ epoch, offsets: new Map([[partition, offset]]) });
}

describe('state subscriptions when the edge drains', () => {
  let stack: IngestStack;
  const edges: EdgeHarness[] = [];

  before(async () => {
    stack = await startIngestStack({ name: 'edge-state-drain', partitions });
  });

  after(async () => {
    await Promise.all(edges.map((edge) => edge.stop()));
    await stack.stop();
  });

  async function edge(): Promise<EdgeHarness> {
    const started = await startEdge({ brokers: stack.kafka.brokers, topic: stack.topic });
    edges.push(started);
    return started;
  }

  async function write(method: string, channel: string, body?: JsonValue): Promise<string> {
    return writeState(stack.ingest.httpBase, method, channel, body);
  }

  it('closes WebSocket and SSE state subscriptions with the last position sent, which resumes without a gap', async () => {
    const a = channelOn('a');
    const b = channelOn('b', a);
    await write('PUT', a, { n: 0 });
    await write('PUT', b, { m: 0 });
    const first = await edge();

    const socket = new TestSocket(first.wsUrl, 'fanout.json.v1');
    await socket.opened;
    socket.sendJson({
      subscribe: { requestId: 1, subscriptions: [{ channel: a, snapshot: true }] },
    });
    await socket.takeJson('subscribed');
    const single = await SseClient.open(`${first.httpBase}/v1/state/${a}?watch=true`);
    await single.take(1, (event) => event.event === 'snapshot');
    const multi = await SseClient.open(
      `${first.httpBase}/v1/stream?channels=${a},${b}&snapshot=true`,
    );
    await multi.take(2, (event) => event.event === 'snapshot');

    // A change every subscription has received before the drain.
    const sent = await write('PATCH', a, { n: 1 });
    const [patch] = await socket.takeJson('patch');
    assert.equal(patch?.['position'], sent);
    const [singlePatch] = await single.take(1, (event) => event.event === 'patch');
    assert.equal(singlePatch?.id, sent);
    const [multiPatch] = await multi.take(1, (event) => event.event === 'patch');
    assert.equal(multiPatch?.id, cursorOf(sent));

    const stopped = first.stop(500);
    const [disconnect] = await socket.takeJson('disconnect', 1, 10_000);
    assert.equal(disconnect?.['code'], 'draining');
    assert.equal(disconnect['action'], 'resume_elsewhere');
    assert.deepEqual(disconnect['positions'], [{ channel: a, position: sent }]);
    await socket.closed;
    for (const [stream, cursor] of [
      [single, sent],
      [multi, cursorOf(sent)],
    ] as const) {
      const [closing] = await stream.take(1, (event) => event.event === 'disconnect');
      const body = JSON.parse(closing?.data ?? '{}') as { code: string; cursor: string };
      assert.equal(body.code, 'draining');
      assert.equal(body.cursor, cursor);
    }
    await stopped;

    // Written while the clients move: each resumes with exactly these.
    const missed = [await write('PATCH', a, { n: 2 }), await write('PATCH', b, { m: 1 })];
    const second = await edge();
    const again = new TestSocket(second.wsUrl, 'fanout.json.v1');
    await again.opened;
    again.sendJson({
      subscribe: {
        requestId: 1,
        subscriptions: [{ channel: a, snapshot: true, since: sent }],
      },
    });
    const [resumed] = await again.takeJson('subscribed');
    const states = resumed?.['subscriptions'] as { position: string; snapshot?: unknown }[];
    assert.equal(states[0]?.snapshot, undefined, 'no snapshot: the patches after since follow');
    const [next] = await again.takeJson('patch');
    assert.equal(next?.['base'], sent);
    assert.equal(next['position'], missed[0]);
    again.close();

    const singleAgain = await SseClient.open(`${second.httpBase}/v1/state/${a}?watch=true`, {
      'last-event-id': sent,
    });
    const [singleNext] = await singleAgain.take(1, (event) => event.event !== 'heartbeat');
    assert.equal(singleNext?.event, 'patch');
    assert.equal(singleNext.id, missed[0]);
    await singleAgain.close();

    const multiAgain = await SseClient.open(
      `${second.httpBase}/v1/stream?channels=${a},${b}&snapshot=true`,
      { 'last-event-id': cursorOf(sent) },
    );
    const multiNext = await multiAgain.take(2, (event) => event.event !== 'heartbeat');
    assert.deepEqual(
      multiNext.map((event) => [event.event, event.id]),
      missed.map((position) => ['patch', cursorOf(position)]),
    );
    await multiAgain.close();
  });
});
