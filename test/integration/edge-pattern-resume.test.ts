/**
 * A namespace pattern resumed over WebSocket (JSON and protobuf) from its
 * stream cursor, with the rules SSE applies: every event of the pattern
 * published after the cursor on any partition, exactly once and nothing at
 * or before it, then live events; a cursor of another epoch, or older than
 * the log holds, answered with a reset.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ClientFrame,
  formatPosition,
  parsePosition,
  parseStreamCursor,
  formatStreamCursor,
  partitionForChannel,
  positionFromProto,
  ServerFrame,
} from '@fanout/shared';
import {
  startEdge,
  TestSocket,
  type EdgeHarness,
  type EdgeStack,
  type IngestHarness,
  type TestKafka,
  startEdgeStack,
} from '../support/index.js';
import {
  publishEvent,
  publishEvents,
  SseClient,
  uniqueChannel,
  type PublishSpec,
} from '../support/edge-test-clients.js';

const partitions = 4;

/** A subscribe answer or reset, and events, whatever the subprotocol. */
interface PatternSocket {
  readonly socket: TestSocket;
  /** Subscribes to `pattern` (from `since`); the subscribed cursor, or the reset. */
  subscribe(
    pattern: string,
    since?: string,
  ): Promise<
    | { kind: 'subscribed'; cursor: string; position: string | undefined }
    | { kind: 'reset'; code: string; requested: string; earliest: string }
  >;
  /** The positions of the next `count` events. */
  events(count: number): Promise<string[]>;
  /** Events queued now. */
  queuedEvents(): number;
}

async function openJson(edge: EdgeHarness): Promise<PatternSocket> {
  const socket = new TestSocket(edge.wsUrl, 'fanout.json.v1');
  await socket.opened;
  await socket.takeJson('connected');
  return {
    socket,
    async subscribe(pattern, since) {
      socket.sendJson({
        subscribe: {
          requestId: 1,
          subscriptions: [{ channel: pattern, ...(since === undefined ? {} : { since }) }],
        },
      });
      const [answer] = await socket.take(1, (frame) => {
        const parsed = JSON.parse(frame.data.toString('utf8')) as Record<string, unknown>;
        return 'subscribed' in parsed || 'reset' in parsed ? parsed : undefined;
      });
      const reset = answer?.['reset'] as Record<string, unknown> | undefined;
      if (reset) {
        await socket.takeJson('subscribed');
        return {
          kind: 'reset',
          code: String(reset['code']),
          requested: String(reset['requested']),
          earliest: String(reset['earliest']),
        };
      }
      const subscribed = answer?.['subscribed'] as {
        subscriptions: { cursor?: string; position?: string }[];
      };
      const [state] = subscribed.subscriptions;
      return { kind: 'subscribed', cursor: state?.cursor ?? '', position: state?.position };
    },
    async events(count) {
      return (await socket.takeJson('event', count)).map((event) => String(event['position']));
    },
    queuedEvents() {
      return socket.frames.filter((frame) => frame.data.toString('utf8').startsWith('{"event"'))
        .length;
    },
  };
}

async function openProto(edge: EdgeHarness): Promise<PatternSocket> {
  const socket = new TestSocket(edge.wsUrl, 'fanout.proto.v1');
  await socket.opened;
  await socket.take(1, (frame) => ServerFrame.decode(frame.data).connected ?? undefined);
  return {
    socket,
    async subscribe(pattern, since) {
      socket.socket.send(
        ClientFrame.encode({
          subscribe: {
            requestId: 1,
            subscriptions: [{ channel: pattern, sinceCursor: since ?? '' }],
          },
        }).finish(),
      );
      const [answer] = await socket.take(1, (frame) => {
        const decoded = ServerFrame.decode(frame.data);
        return decoded.subscribed || decoded.reset ? decoded : undefined;
      });
      const reset = answer?.reset;
      if (reset) {
        await socket.take(1, (frame) => ServerFrame.decode(frame.data).subscribed ?? undefined);
        return {
          kind: 'reset',
          code: reset.code ?? '',
          requested: formatPosition(positionFromProto(reset.requested ?? {})),
          earliest: formatPosition(positionFromProto(reset.earliest ?? {})),
        };
      }
      const [state] = answer?.subscribed?.subscriptions ?? [];
      return {
        kind: 'subscribed',
        cursor: state?.cursor ?? '',
        position: state?.position ? formatPosition(positionFromProto(state.position)) : undefined,
      };
    },
    async events(count) {
      const events = await socket.take(
        count,
        (frame) => ServerFrame.decode(frame.data).event ?? undefined,
      );
      return events.map((event) => formatPosition(positionFromProto(event.position ?? {})));
    },
    queuedEvents() {
      return socket.frames.filter((frame) => ServerFrame.decode(frame.data).event).length;
    },
  };
}

const formats = [
  ['JSON', openJson],
  ['protobuf', openProto],
] as const;

/** Channels below `namespace` on at least three partitions, two per partition. */
function spreadChannels(namespace: string): string[] {
  const byPartition = new Map<number, string[]>();
  for (let index = 0; byPartition.size < 3 || index < 8; index++) {
    const channel = `${namespace}.c${index}`;
    const partition = partitionForChannel(channel, partitions);
    const list = byPartition.get(partition) ?? [];
    if (list.length < 2) list.push(channel);
    byPartition.set(partition, list);
  }
  return [...byPartition.values()].flat();
}

/** `cursor` moved past `positions` (what a client keeps). */
function advance(cursor: string, positions: readonly string[]): string {
  const { epoch, offsets } = parseStreamCursor(cursor);
  const moved = new Map(offsets);
  for (const text of positions) {
    const position = parsePosition(text);
    assert.equal(position.epoch, epoch);
    moved.set(position.partition, Math.max(moved.get(position.partition) ?? -1, position.offset));
  }
  return formatStreamCursor({ epoch, offsets: moved });
}

function sorted(list: readonly string[]): string[] {
  return [...list].sort();
}

function partitionsOf(list: readonly string[]): Set<number> {
  return new Set(list.map((text) => parsePosition(text).partition));
}

describe('a pattern resumed over WebSocket from its stream cursor', () => {
  let stack: EdgeStack;
  let kafka: TestKafka;
  let topic: string;
  let ingest: IngestHarness;
  let edge: EdgeHarness;

  before(async () => {
    stack = await startEdgeStack({ name: 'edge-pattern-resume', partitions });
    ({ kafka, topic, ingest, edge } = stack);
  });

  after(() => stack.stop());

  for (const [name, open] of formats) {
    it(`${name}: delivers every event published after the cursor on every partition exactly once, none before it, then live`, async () => {
      const namespace = uniqueChannel(`resume-${name.toLowerCase()}`);
      const channels = spreadChannels(namespace);
      const pattern = `${namespace}.*`;
      const first = await open(edge);
      const live = await first.subscribe(pattern);
      assert.equal(live.kind, 'subscribed');
      if (live.kind !== 'subscribed') return;
      assert.equal(live.position, undefined, 'a pattern has no position');
      assert.equal(
        parseStreamCursor(live.cursor).offsets.size,
        partitions,
        'its cursor names every partition',
      );

      // Received before going away: the cursor moves past the first half only.
      const seen = await publishEvents(
        ingest,
        channels.map((channel) => ({ channel })),
      );
      const received = await first.events(seen.length);
      assert.deepEqual(sorted(received), sorted(seen));
      const half = received.slice(0, Math.floor(received.length / 2));
      const cursor = advance(live.cursor, half);
      first.socket.close();

      // Published while away, on several partitions, with events outside the pattern.
      const away: PublishSpec[] = [
        ...channels.map((channel) => ({ channel })),
        { channel: namespace },
        { channel: `${namespace}x.a` },
        ...channels.map((channel) => ({ channel })),
      ];
      const awayPositions = await publishEvents(ingest, away);
      const missed = awayPositions.filter((_, index) =>
        (away[index]?.channel ?? '').startsWith(`${namespace}.`),
      );
      assert.ok(partitionsOf(missed).size >= 3, 'events on several partitions');
      const expected = [...received.slice(half.length), ...missed];

      const second = await open(edge);
      const resumed = await second.subscribe(pattern, cursor);
      assert.equal(resumed.kind, 'subscribed');
      if (resumed.kind !== 'subscribed') return;
      assert.equal(resumed.cursor, cursor, 'it continues after the cursor it was given');
      const replayed = await second.events(expected.length);
      assert.deepEqual(sorted(replayed), sorted(expected), 'every missed event, exactly once');
      for (const position of replayed) {
        const { partition, offset } = parsePosition(position);
        assert.ok(
          offset > (parseStreamCursor(cursor).offsets.get(partition) ?? -1),
          `${position} is after the cursor`,
        );
      }
      // Then live, without a duplicate at the seam.
      const later = await publishEvent(ingest, channels[0] ?? '');
      assert.deepEqual(await second.events(1), [later]);
      await sleep(200);
      assert.equal(second.queuedEvents(), 0, 'nothing more: no duplicate');
      second.socket.close();
    });

    it(`${name}: answers a cursor of another epoch with reset position_epoch_mismatch, as SSE does`, async () => {
      const namespace = uniqueChannel(`epoch-${name.toLowerCase()}`);
      const pattern = `${namespace}.*`;
      const socket = await open(edge);
      const live = await socket.subscribe(pattern);
      assert.equal(live.kind, 'subscribed');
      if (live.kind !== 'subscribed') return;
      const epoch = parseStreamCursor(live.cursor).epoch;
      const foreign = formatStreamCursor({
        epoch: `${epoch}x`,
        offsets: parseStreamCursor(live.cursor).offsets,
      });
      const other = await open(edge);
      const answer = await other.subscribe(pattern, foreign);
      assert.equal(answer.kind, 'reset');
      if (answer.kind !== 'reset') return;
      assert.equal(answer.code, 'position_epoch_mismatch');
      assert.match(answer.earliest, new RegExp(`^${epoch}:`));

      const stream = await SseClient.open(`${edge.httpBase}/v1/stream?channels=${pattern}`, {
        'last-event-id': foreign,
      });
      assert.equal(stream.status, 200);
      const [reset] = await stream.take(1, (event) => event.event === 'reset');
      const body = JSON.parse(reset?.data ?? '{}') as { code: string };
      assert.equal(body.code, answer.code);
      await stream.close();
      socket.socket.close();
      other.socket.close();
    });
  }

  it('answers a cursor older than the log holds with reset position_too_old (JSON and protobuf), as SSE does', async () => {
    const namespace = uniqueChannel('old');
    const pattern = `${namespace}.*`;
    const channel = `${namespace}.a`;
    const partition = partitionForChannel(channel, partitions);
    const watcher = await openJson(edge);
    const live = await watcher.subscribe(pattern);
    assert.equal(live.kind, 'subscribed');
    if (live.kind !== 'subscribed') return;
    const positions = await publishEvents(
      ingest,
      Array.from({ length: 4 }, () => ({ channel })),
    );
    const last = parsePosition(positions[3] ?? '').offset;
    watcher.socket.close();
    const admin = kafka.kafka.admin();
    await admin.connect();
    await admin.fetchTopicMetadata({ topics: [topic] });
    await admin.deleteTopicRecords({ topic, partitions: [{ partition, offset: String(last) }] });
    await admin.disconnect();
    const epoch = parseStreamCursor(live.cursor).epoch;
    // An edge that never read the partition asks Kafka where its log starts.
    const fresh = await startEdge({ brokers: kafka.brokers, topic });
    try {
      for (const [, open] of formats) {
        const socket = await open(fresh);
        const answer = await socket.subscribe(pattern, live.cursor);
        assert.equal(answer.kind, 'reset');
        if (answer.kind !== 'reset') return;
        assert.equal(answer.code, 'position_too_old');
        assert.equal(answer.earliest, `${epoch}:${partition}:${last - 1}`);
        socket.socket.close();
      }
      const stream = await SseClient.open(`${fresh.httpBase}/v1/stream?channels=${pattern}`, {
        'last-event-id': live.cursor,
      });
      const [reset] = await stream.take(1, (event) => event.event === 'reset');
      const body = JSON.parse(reset?.data ?? '{}') as { code: string; earliest: string };
      assert.equal(body.code, 'position_too_old');
      assert.equal(body.earliest, `${epoch}:${partition}:${last - 1}`);
      await stream.close();
    } finally {
      await fresh.stop();
    }
  });
});
