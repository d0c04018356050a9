/**
 * Event type filters and namespace patterns, against a real broker, ingest
 * and edge: over WebSocket (JSON and protobuf, live and resuming) and over
 * SSE (the channel watch and the multiplexed stream, live and resuming).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ClientFrame, formatPosition, positionFromProto, ServerFrame } from '@fanout/shared';
import {
  TestSocket,
  type EdgeHarness,
  type IngestHarness,
  startEdgeStack,
  type EdgeStack,
} from '../support/index.js';
import {
  jsonFrame,
  publishEvent,
  publishEvents,
  SseClient,
  uniqueChannel,
  type PublishSpec,
  type SseEvent,
} from '../support/edge-test-clients.js';

const partitions = 3;

/** Opens a fanout.json.v1 socket and waits for its `connected` frame. */
async function openJson(edge: EdgeHarness): Promise<TestSocket> {
  const socket = new TestSocket(edge.wsUrl, 'fanout.json.v1');
  await socket.opened;
  await socket.takeJson('connected');
  return socket;
}

/** Sends a subscribe frame and returns the `subscribed` answer. */
async function subscribe(
  socket: TestSocket,
  requestId: number,
  subscriptions: readonly { channel: string; since?: string | undefined; types?: string[] }[],
): Promise<Record<string, unknown>> {
  socket.sendJson({ subscribe: { requestId, subscriptions } });
  const [subscribed] = await socket.takeJson('subscribed');
  assert.ok(subscribed);
  assert.equal(subscribed['requestId'], requestId);
  return subscribed;
}

/** The next `count` events of a JSON socket, as [channel, type, position]. */
async function takeEvents(socket: TestSocket, count: number): Promise<[string, string, string][]> {
  const events = await socket.takeJson('event', count);
  return events.map((event) => [
    String(event['channel']),
    String(event['type']),
    String(event['position']),
  ]);
}

/** Fails when an event frame is queued on the socket. */
function assertNoEvent(socket: TestSocket, why: string): void {
  const events = socket.frames.map(jsonFrame).filter(([kind]) => kind === 'event');
  assert.deepEqual(events, [], why);
}

function sortedPositions(list: readonly string[]): string[] {
  return [...list].sort();
}

describe('edge filters: event types and namespace patterns', () => {
  let stack: EdgeStack;
  let ingest: IngestHarness;
  let edge: EdgeHarness;

  before(async () => {
    stack = await startEdgeStack({ name: 'edge-filters', partitions });
    ({ ingest, edge } = stack);
  });

  after(() => stack.stop());

  it('delivers only the subscribed types over WebSocket, live and when resuming from a position', async () => {
    const channel = uniqueChannel('types.ws');
    const filtered = await openJson(edge);
    const everything = await openJson(edge);
    await subscribe(filtered, 1, [{ channel, types: ['keep', 'also'] }]);
    await subscribe(everything, 1, [{ channel }]);

    const types = ['drop', 'keep', 'also', 'drop', 'keep', 'dropped.too'];
    const positions = await publishEvents(
      ingest,
      types.map((type) => ({ channel, type })),
    );
    // The unfiltered socket proves every event went through the edge.
    assert.deepEqual(
      await takeEvents(everything, types.length),
      types.map((type, index) => [channel, type, positions[index]]),
    );
    const kept = types
      .map((type, index) => [channel, type, positions[index] ?? ''] as [string, string, string])
      .filter(([, type]) => type === 'keep' || type === 'also');
    assert.deepEqual(await takeEvents(filtered, kept.length), kept);
    await sleep(200);
    assertNoEvent(filtered, 'no event of another type');

    // Resuming with a type filter: the catch-up is filtered too, then live.
    const resumed = await openJson(edge);
    const subscribed = await subscribe(resumed, 2, [
      { channel, since: positions[0], types: ['keep'] },
    ]);
    assert.deepEqual(subscribed['subscriptions'], [{ channel, position: positions[0] }]);
    assert.deepEqual(
      (await takeEvents(resumed, 2)).map(([, , position]) => position),
      [positions[1], positions[4]],
    );
    const live = await publishEvents(ingest, [
      { channel, type: 'drop' },
      { channel, type: 'keep' },
    ]);
    assert.deepEqual(await takeEvents(resumed, 1), [[channel, 'keep', live[1]]]);
    await takeEvents(everything, 2);
    await sleep(200);
    assertNoEvent(resumed, 'no live event of another type');
    for (const socket of [filtered, everything, resumed]) socket.close();
  });

  it('keeps the type filters of several connections on one channel apart, JSON and protobuf', async () => {
    const channel = uniqueChannel('types.shared');
    const onlyA = await openJson(edge);
    const alsoOnlyA = await openJson(edge);
    const aAndB = await openJson(edge);
    await subscribe(onlyA, 1, [{ channel, types: ['a'] }]);
    await subscribe(alsoOnlyA, 1, [{ channel, types: ['a'] }]);
    await subscribe(aAndB, 1, [{ channel, types: ['b', 'a'] }]);
    const proto = new TestSocket(edge.wsUrl, 'fanout.proto.v1');
    await proto.opened;
    proto.socket.send(
      ClientFrame.encode({
        subscribe: { requestId: 1, subscriptions: [{ channel, types: ['b'] }] },
      }).finish(),
    );
    await proto.take(1, (frame) => (ServerFrame.decode(frame.data).subscribed ? true : undefined));

    const types = ['a', 'b', 'c', 'a'];
    const positions = await publishEvents(
      ingest,
      types.map((type) => ({ channel, type })),
    );
    const of = (...wanted: string[]): string[] =>
      positions.filter((_, index) => wanted.includes(types[index] ?? ''));
    const positionsOf = async (socket: TestSocket, count: number): Promise<string[]> =>
      (await takeEvents(socket, count)).map(([, , position]) => position);
    assert.deepEqual(await positionsOf(onlyA, 2), of('a'));
    assert.deepEqual(await positionsOf(alsoOnlyA, 2), of('a'));
    assert.deepEqual(await positionsOf(aAndB, 3), of('a', 'b'));
    const protoEvents = await proto.take(
      1,
      (frame) => ServerFrame.decode(frame.data).event ?? undefined,
    );
    assert.deepEqual(
      protoEvents.map((event) => [
        event.type,
        formatPosition(positionFromProto(event.position ?? {})),
      ]),
      [['b', of('b')[0]]],
    );

    // Two connections share the topic of (channel, ['a']): one leaving it
    // must not stop delivery to the other.
    onlyA.sendJson({ unsubscribe: { requestId: 2, channels: [channel] } });
    const [unsubscribed] = await onlyA.takeJson('unsubscribed');
    assert.deepEqual(unsubscribed?.['channels'], [channel]);
    const later = await publishEvent(ingest, channel, 'a');
    assert.deepEqual(await positionsOf(alsoOnlyA, 1), [later]);
    assert.deepEqual(await positionsOf(aAndB, 1), [later]);
    await sleep(200);
    assertNoEvent(onlyA, 'an unsubscribed connection gets nothing');
    assert.equal(
      proto.frames.filter((frame) => ServerFrame.decode(frame.data).event).length,
      0,
      'the protobuf connection filters for b only',
    );
    for (const socket of [onlyA, alsoOnlyA, aAndB, proto]) socket.close();
  });

  it('filters SSE by types on the channel watch and on /v1/stream, live and when resuming', async () => {
    const channel = uniqueChannel('types.sse');
    const other = uniqueChannel('types.sse-other');
    const watch = await SseClient.open(
      `${edge.httpBase}/v1/channels/${channel}?watch=true&types=keep,also`,
    );
    const stream = await SseClient.open(
      `${edge.httpBase}/v1/stream?channels=${channel},${other}&types=keep`,
    );
    assert.equal(watch.status, 200);
    assert.equal(stream.status, 200);
    await watch.take(1, (event) => event.event === 'subscribed');
    await stream.take(1, (event) => event.event === 'subscribed');

    const specs: PublishSpec[] = [
      { channel, type: 'drop' },
      { channel, type: 'keep' },
      { channel: other, type: 'keep' },
      { channel, type: 'also' },
      { channel: other, type: 'drop' },
      { channel, type: 'keep' },
    ];
    const positions = await publishEvents(ingest, specs);
    const where = (accept: (spec: PublishSpec) => boolean): string[] =>
      positions.filter((_, index) => {
        const spec = specs[index];
        return spec !== undefined && accept(spec);
      });
    const positionsOf = (events: readonly SseEvent[]): string[] =>
      events.map((event) => (JSON.parse(event.data) as { position: string }).position);

    const watched = await watch.take(3);
    assert.deepEqual(
      positionsOf(watched),
      where((spec) => spec.channel === channel && spec.type !== 'drop'),
    );
    assert.deepEqual(
      watched.map((event) => event.id),
      positionsOf(watched),
      'a one-channel id is the position',
    );
    const streamed = await stream.take(3);
    assert.deepEqual(
      sortedPositions(positionsOf(streamed)),
      sortedPositions(where((spec) => spec.type === 'keep')),
    );
    for (const event of streamed) {
      const [partition, offset] = (JSON.parse(event.data) as { position: string }).position
        .split(':')
        .slice(1);
      assert.match(event.id ?? '', new RegExp(`[:,]${partition}:${offset}(,|$)`));
    }

    // Resuming the watch from the first position: the catch-up is filtered.
    const resumed = await SseClient.open(`${edge.httpBase}/v1/channels/${channel}?types=keep`, {
      'last-event-id': positions[0] ?? '',
    });
    const [opening] = await resumed.take(1, (event) => event.event === 'subscribed');
    assert.equal(opening?.id, positions[0]);
    assert.deepEqual(
      positionsOf(await resumed.take(2)),
      where((spec) => spec.channel === channel && spec.type === 'keep'),
    );
    const live = await publishEvents(ingest, [
      { channel, type: 'also' },
      { channel, type: 'keep' },
    ]);
    assert.deepEqual(positionsOf(await resumed.take(1)), [live[1]]);
    assert.deepEqual(positionsOf(await watch.take(2)), live);
    await sleep(200);
    assert.deepEqual(
      resumed.events.filter((event) => event.event === 'message'),
      [],
      'no event of another type',
    );
    await Promise.all([watch.close(), stream.close(), resumed.close()]);
  });

  it('delivers a WebSocket namespace pattern live: channels below it, not the namespace itself, a look-alike or another namespace', async () => {
    const namespace = uniqueChannel('pat');
    const early = await publishEvent(ingest, `${namespace}.early`);
    const wide = await openJson(edge);
    const narrow = await openJson(edge);
    const control = await openJson(edge);
    const subscribed = await subscribe(wide, 1, [{ channel: `${namespace}.*` }]);
    const [state] = subscribed['subscriptions'] as Record<string, unknown>[];
    assert.equal(state?.['channel'], `${namespace}.*`);
    assert.equal(state['position'], undefined, 'a pattern has no position');
    assert.equal(
      String(state['cursor']).split(',').length,
      partitions,
      'a pattern has a cursor naming every partition',
    );
    await subscribe(narrow, 1, [{ channel: `${namespace}.eu.*` }]);
    const outside = [namespace, `${namespace}x.a`, `${uniqueChannel('other')}.a`];
    await subscribe(
      control,
      1,
      outside.map((channel) => ({ channel })),
    );

    const specs: PublishSpec[] = [
      { channel: `${namespace}.a` },
      { channel: namespace },
      { channel: `${namespace}.eu.1` },
      { channel: `${namespace}x.a` },
      { channel: `${namespace}.eu` },
      { channel: outside[2] ?? '' },
      { channel: `${namespace}.us.1` },
      { channel: `${namespace}.a` },
    ];
    const positions = await publishEvents(ingest, specs);
    const published = specs.map((spec, index) => [spec.channel, positions[index] ?? '']);
    const expect = (accept: (channel: string) => boolean): string[] =>
      sortedPositions(
        published
          .filter(([channel]) => accept(channel ?? ''))
          .map(([, position]) => position ?? ''),
      );
    const received = async (socket: TestSocket, count: number): Promise<string[]> =>
      sortedPositions((await takeEvents(socket, count)).map(([, , position]) => position));

    assert.deepEqual(
      await received(control, 3),
      expect((channel) => outside.includes(channel)),
    );
    assert.deepEqual(
      await received(wide, 5),
      expect((channel) => channel.startsWith(`${namespace}.`)),
    );
    assert.deepEqual(
      await received(narrow, 1),
      expect((channel) => channel.startsWith(`${namespace}.eu.`)),
    );
    await sleep(200);
    assertNoEvent(wide, 'nothing outside the namespace, nor from before the subscribe');
    assertNoEvent(narrow, 'nothing outside the sub-namespace');
    assert.ok(!positions.includes(early));

    // Unsubscribing the pattern ends its delivery; the other pattern goes on.
    wide.sendJson({ unsubscribe: { requestId: 2, channels: [`${namespace}.*`] } });
    await wide.takeJson('unsubscribed');
    const later = await publishEvent(ingest, `${namespace}.eu.2`);
    assert.deepEqual(await received(narrow, 1), [later]);
    await sleep(200);
    assertNoEvent(wide, 'nothing after unsubscribing');
    for (const socket of [wide, narrow, control]) socket.close();
  });

  it('combines a WebSocket pattern with event types', async () => {
    const namespace = uniqueChannel('pat-types');
    const socket = await openJson(edge);
    await subscribe(socket, 1, [{ channel: `${namespace}.*`, types: ['keep'] }]);
    const specs: PublishSpec[] = [
      { channel: `${namespace}.a`, type: 'drop' },
      { channel: `${namespace}.b`, type: 'keep' },
      { channel: `${namespace}x.c`, type: 'keep' },
      { channel: `${namespace}.c.d`, type: 'keep' },
    ];
    const positions = await publishEvents(ingest, specs);
    const events = await takeEvents(socket, 2);
    assert.deepEqual(
      sortedPositions(events.map(([, , position]) => position)),
      sortedPositions([positions[1] ?? '', positions[3] ?? '']),
    );
    await sleep(200);
    assertNoEvent(socket, 'neither another type nor another namespace');
    socket.close();
  });

  it('resets a WebSocket pattern resumed from one position (a cursor must name every partition) and keeps the connection', async () => {
    const namespace = uniqueChannel('pat-since');
    const position = await publishEvent(ingest, `${namespace}.a`);
    const socket = await openJson(edge);
    socket.sendJson({
      subscribe: {
        requestId: 3,
        subscriptions: [{ channel: `${namespace}.*`, since: position }],
      },
    });
    const [reset] = await socket.takeJson('reset');
    assert.equal(reset?.['code'], 'position_partition_mismatch');
    assert.equal(reset['requestId'], 3);
    assert.equal(reset['channel'], `${namespace}.*`);
    const [answer] = await socket.takeJson('subscribed');
    assert.deepEqual(answer?.['subscriptions'], [], 'the reset subscription is not active');
    // The reset subscription is not active: both can be subscribed now.
    await subscribe(socket, 4, [{ channel: `${namespace}.b` }, { channel: `${namespace}.*` }]);
    const later = await publishEvent(ingest, `${namespace}.b`);
    const events = await takeEvents(socket, 2);
    assert.deepEqual(
      events.map(([, , eventPosition]) => eventPosition),
      [later, later],
      'once per subscription that matches',
    );
    socket.close();
  });

  it('resumes a pattern over SSE /v1/stream from its cursor, with the namespace only', async () => {
    const namespace = uniqueChannel('pat-sse');
    const first = await SseClient.open(`${edge.httpBase}/v1/stream?channels=${namespace}.*`);
    assert.equal(first.status, 200);
    const [opening] = await first.take(1, (event) => event.event === 'subscribed');
    const cursor = opening?.id ?? '';
    assert.equal(cursor.split(',').length, partitions, 'the cursor names every partition');
    await first.close();

    const specs: PublishSpec[] = [
      { channel: `${namespace}.a` },
      { channel: `${namespace}x.a` },
      { channel: `${namespace}.b.c` },
      { channel: namespace },
      { channel: `${namespace}.a` },
    ];
    const positions = await publishEvents(ingest, specs);
    const inside = positions.filter((_, index) =>
      (specs[index]?.channel ?? '').startsWith(`${namespace}.`),
    );
    const resumed = await SseClient.open(`${edge.httpBase}/v1/stream?channels=${namespace}.*`, {
      'last-event-id': cursor,
    });
    const events = await resumed.take(inside.length);
    const received = events.map(
      (event) => (JSON.parse(event.data) as { position: string }).position,
    );
    assert.deepEqual(sortedPositions(received), sortedPositions(inside));
    await sleep(200);
    assert.deepEqual(
      resumed.events.filter((event) => event.event === 'message'),
      [],
      'nothing outside the namespace',
    );
    await resumed.close();

    // The last id resumes exactly after everything received.
    const lastId = events.at(-1)?.id ?? '';
    const later = await publishEvent(ingest, `${namespace}.z`);
    const again = await SseClient.open(
      `${edge.httpBase}/v1/stream?channels=${namespace}.*&since=${lastId}`,
    );
    const [next] = await again.take(1);
    assert.equal((JSON.parse(next?.data ?? '{}') as { position: string }).position, later);
    await again.close();
  });
});
