/**
 * Slow clients and the drain, against a real broker, ingest and edge: a
 * WebSocket or SSE client that stops reading is closed resumably with its
 * positions (and counted), and a draining edge turns unready, refuses new
 * clients and closes the others with positions that resume on another edge
 * without losing an event.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startMetricsServer } from '@fanout/shared';
import {
  startEdge,
  TestSocket,
  type EdgeHarness,
  type IngestHarness,
  type TestKafka,
  startIngestStack,
  type IngestStack,
} from '../support/index.js';
import {
  handshakeStatus,
  jsonFrame,
  metricValue,
  offsetOf,
  publishEvent,
  publishEvents,
  RawHttpStream,
  SseClient,
  uniqueChannel,
  waitFor,
  type SseEvent,
} from '../support/edge-test-clients.js';
import { RawWsClient } from '../support/raw-ws-client.js';

const partitions = 3;
/** Small, so a client that stops reading is over it soon after the kernel buffers fill. */
const maxBackpressureBytes = 512 * 1024;

/** Positions published per channel, in order. */
type Published = Map<string, string[]>;

function record(published: Published, channel: string, position: string): void {
  const list = published.get(channel) ?? [];
  list.push(position);
  published.set(channel, list);
}

/** Event positions of a channel among [kind, body] frames. */
function eventPositions(frames: readonly [string, Record<string, unknown>][], channel: string) {
  return frames
    .filter(([kind, body]) => kind === 'event' && body['channel'] === channel)
    .map(([, body]) => String(body['position']));
}

function ssePositions(events: readonly SseEvent[], channel?: string): string[] {
  return events
    .filter((event) => event.event === 'message')
    .map((event) => JSON.parse(event.data) as { channel: string; position: string })
    .filter((event) => channel === undefined || event.channel === channel)
    .map((event) => event.position);
}

describe('edge backpressure and drain', () => {
  let stack: IngestStack;
  let kafka: TestKafka;
  let ingest: IngestHarness;
  let topic: string;

  before(async () => {
    stack = await startIngestStack({ name: 'edge-slow', partitions });
    ({ kafka, topic, ingest } = stack);
  });

  after(() => stack.stop());

  /**
   * Publishes events of `bytes` bytes round-robin on `channels`, one per call
   * (a steady pace, far below the limit per 50 ms sweep), until `done` holds.
   */
  async function publishUntil(
    channels: readonly string[],
    bytes: number,
    done: () => Promise<boolean>,
    published: Published,
  ): Promise<void> {
    for (let index = 0; index < 8000; index++) {
      const channel = channels[index % channels.length] ?? '';
      record(published, channel, await publishEvent(ingest, channel, 'big', bytes));
      if (index % 4 === 3 && (await done())) return;
    }
    throw new Error('the edge never gave up on the slow client');
  }

  describe('with a small edge.maxBackpressureBytes', () => {
    let edge: EdgeHarness;

    before(async () => {
      edge = await startEdge({
        brokers: kafka.brokers,
        topic,
        env: { FANOUT_EDGE_MAX_BACKPRESSURE_BYTES: String(maxBackpressureBytes) },
      });
    });

    after(async () => {
      await edge.stop();
    });

    const backpressureCloses = (): Promise<number> =>
      metricValue(edge.registry, 'fanout_edge_closes_total', { code: 'backpressure' });

    it('closes a WebSocket client that stops reading with 4008 and its positions; resuming loses nothing', async () => {
      const channels = [uniqueChannel('slow.ws.a'), uniqueChannel('slow.ws.b')];
      const client = new RawWsClient(edge.app.port, '/v1/ws', 'fanout.json.v1');
      await client.ready;
      const payloads: Buffer[] = [];
      client.sample((payload) => payloads.push(Buffer.from(payload)));
      client.sendText(
        JSON.stringify({
          subscribe: { requestId: 1, subscriptions: channels.map((channel) => ({ channel })) },
        }),
      );
      await waitFor(
        () => payloads.some((payload) => payload.toString().startsWith('{"subscribed"')),
        'subscribed',
      );
      const closesBefore = await backpressureCloses();
      const abruptBefore = await metricValue(edge.registry, 'fanout_edge_abrupt_closes_total');
      client.pause();
      const published: Published = new Map();
      await publishUntil(
        channels,
        8 * 1024,
        async () => (await backpressureCloses()) > closesBefore,
        published,
      );
      assert.equal(await backpressureCloses(), closesBefore + 1, 'counted once');
      assert.equal(
        await metricValue(edge.registry, 'fanout_edge_abrupt_closes_total'),
        abruptBefore,
        'closed by the edge, not dropped by uWebSockets.js',
      );
      client.resume();
      await waitFor(() => client.closed, 'the close', 20_000);
      assert.equal(client.closeCode, 4008);

      const frames = payloads.map((payload) => jsonFrame({ data: payload, binary: false }));
      const last = frames.at(-1);
      assert.equal(last?.[0], 'disconnect', 'disconnect is the last frame');
      const disconnect = last[1];
      assert.equal(disconnect['code'], 'backpressure');
      assert.equal(disconnect['closeCode'], 4008);
      assert.equal(disconnect['action'], 'resume');
      const positions = disconnect['positions'] as { channel: string; position: string }[];
      assert.deepEqual(positions.map((state) => state.channel).sort(), [...channels].sort());

      // More events after the close; the resumed connection must get them too.
      for (const channel of channels)
        record(published, channel, await publishEvent(ingest, channel));
      const again = new TestSocket(edge.wsUrl, 'fanout.json.v1');
      await again.opened;
      again.sendJson({
        subscribe: {
          requestId: 1,
          subscriptions: positions.map((state) => ({
            channel: state.channel,
            since: state.position,
          })),
        },
      });
      let expectedAfter = 0;
      for (const { channel, position } of positions) {
        const all = published.get(channel) ?? [];
        const received = eventPositions(frames, channel);
        // Everything up to the position was received, in order, nothing after it.
        const upTo = all.filter((candidate) => offsetOf(candidate) <= offsetOf(position));
        assert.deepEqual(received, upTo, `${channel}: no hole before the close`);
        expectedAfter += all.length - upTo.length;
      }
      assert.ok(expectedAfter >= channels.length);
      const rest = (await again.takeJson('event', expectedAfter, 20_000)).map((event) => [
        String(event['channel']),
        String(event['position']),
      ]);
      for (const { channel, position } of positions) {
        assert.deepEqual(
          rest.filter(([name]) => name === channel).map(([, resumed]) => resumed),
          (published.get(channel) ?? []).filter(
            (candidate) => offsetOf(candidate) > offsetOf(position),
          ),
          `${channel}: every event after the position, in order`,
        );
      }
      again.close();
    });

    it('ends an SSE stream that is not read with a disconnect event and its cursor; Last-Event-ID resumes', async () => {
      const channel = uniqueChannel('slow.sse');
      const stream = new RawHttpStream(edge.app.port, `/v1/channels/${channel}?watch=true`);
      await stream.headersReceived;
      assert.equal(stream.status, 200);
      await waitFor(
        () => stream.events().some((event) => event.event === 'subscribed'),
        'subscribed',
      );
      const closesBefore = await backpressureCloses();
      stream.pause();
      const published: Published = new Map();
      await publishUntil(
        [channel],
        16 * 1024,
        async () => (await backpressureCloses()) > closesBefore,
        published,
      );
      stream.resume();
      await waitFor(() => stream.ended, 'the end of the stream', 20_000);
      const events = stream.events();
      const last = events.at(-1);
      assert.equal(last?.event, 'disconnect', 'disconnect is the last event');
      const body = JSON.parse(last.data) as { code: string; action: string; cursor: string };
      assert.equal(body.code, 'backpressure');
      assert.equal(body.action, 'resume');
      const all = published.get(channel) ?? [];
      const upTo = all.filter((position) => offsetOf(position) <= offsetOf(body.cursor));
      assert.deepEqual(ssePositions(events), upTo, 'no hole before the end');
      assert.equal(
        events.filter((event) => event.event === 'message').at(-1)?.id,
        body.cursor,
        'the cursor is the id of the last event sent',
      );
      stream.close();

      const later = await publishEvent(ingest, channel);
      const resumed = await SseClient.open(`${edge.httpBase}/v1/channels/${channel}`, {
        'last-event-id': body.cursor,
      });
      const expected = [...all.filter((position) => !upTo.includes(position)), later];
      const rest = await resumed.take(expected.length, undefined, 20_000);
      assert.deepEqual(ssePositions(rest), expected, 'every event after the cursor');
      await resumed.close();
    });

    it('keeps SSE and WebSocket clients that read, however much they receive in total', async () => {
      const channel = uniqueChannel('fast');
      const closesBefore = await backpressureCloses();
      const watch = await SseClient.open(`${edge.httpBase}/v1/channels/${channel}?watch=true`);
      await watch.take(1, (event) => event.event === 'subscribed');
      const socket = new TestSocket(edge.wsUrl, 'fanout.json.v1');
      await socket.opened;
      socket.sendJson({ subscribe: { requestId: 1, subscriptions: [{ channel }] } });
      await socket.takeJson('subscribed');
      // Four times the limit, in events the clients read as they come.
      const published: string[] = [];
      const events: SseEvent[] = [];
      while (published.length * 16 * 1024 < 4 * maxBackpressureBytes) {
        published.push(await publishEvent(ingest, channel, 'big', 16 * 1024));
        events.push(...(await watch.take(1, () => true)));
        await socket.takeJson('event');
      }
      assert.deepEqual(ssePositions(events), published);
      assert.equal(await backpressureCloses(), closesBefore, 'nobody was closed');
      await watch.close();
      socket.close();
    });

    it('resumes SSE and WebSocket clients over a catch-up several times edge.maxBackpressureBytes', async () => {
      const channel = uniqueChannel('catch-up');
      const published: string[] = [];
      while (published.length * 16 * 1024 < 4 * maxBackpressureBytes) {
        const batch = Array.from({ length: 8 }, () => ({ channel, type: 'big', bytes: 16 * 1024 }));
        published.push(...(await publishEvents(ingest, batch)));
      }
      const closesBefore = await backpressureCloses();
      const watch = await SseClient.open(`${edge.httpBase}/v1/channels/${channel}`, {
        'last-event-id': published[0] ?? '',
      });
      const socket = new TestSocket(edge.wsUrl, 'fanout.json.v1');
      await socket.opened;
      socket.sendJson({
        subscribe: { requestId: 1, subscriptions: [{ channel, since: published[0] }] },
      });
      const received = await socket.takeJson('event', published.length - 1, 20_000);
      assert.deepEqual(
        received.map((event) => event['position']),
        published.slice(1),
        'WebSocket catch-up',
      );
      const streamed = await watch.take(published.length - 1, undefined, 20_000);
      assert.deepEqual(ssePositions(streamed), published.slice(1), 'SSE catch-up');
      assert.equal(await backpressureCloses(), closesBefore, 'nobody was closed');
      await watch.close();
      socket.close();
    });
  });

  it('drains: readiness turns 503, new clients are refused, every client gets its positions, and resuming on another edge loses nothing', async () => {
    const draining = await startEdge({ brokers: kafka.brokers, topic });
    const other = await startEdge({ brokers: kafka.brokers, topic });
    const probes = await startMetricsServer({
      host: '127.0.0.1',
      port: 0,
      registry: draining.registry,
      readiness: () => draining.app.ready(),
    });
    const readyz = `http://127.0.0.1:${probes.port}/readyz`;
    try {
      const [a, b, c] = [
        uniqueChannel('drain.a'),
        uniqueChannel('drain.b'),
        uniqueChannel('drain.c'),
      ];
      const published: Published = new Map();
      for (const channel of [a, b, c])
        record(published, channel, await publishEvent(ingest, channel));
      const since = published.get(a)?.[0] ?? '';
      // The edge reads its partitions from its warm-up on, so a live subscription starts
      // at what it has read: once it has each channel's first event, live means after it.
      for (const channel of [a, b, c]) {
        await waitFor(async () => {
          const response = await fetch(`${draining.httpBase}/v1/channels/${channel}?limit=1`);
          const body = (await response.json()) as { events?: { position: string }[] };
          return body.events?.[0]?.position === published.get(channel)?.[0];
        }, `the draining edge has read ${channel}`);
      }

      // A WebSocket resuming `a` from its first event and following `b` live;
      // an SSE watch of `a`; an SSE stream of `b` and `c`.
      const socket = new TestSocket(draining.wsUrl, 'fanout.json.v1');
      await socket.opened;
      socket.sendJson({
        subscribe: { requestId: 1, subscriptions: [{ channel: a, since }, { channel: b }] },
      });
      await socket.takeJson('subscribed');
      const watch = await SseClient.open(`${draining.httpBase}/v1/channels/${a}?since=${since}`);
      const stream = await SseClient.open(`${draining.httpBase}/v1/stream?channels=${b},${c}`);
      await watch.take(1, (event) => event.event === 'subscribed');
      await stream.take(1, (event) => event.event === 'subscribed');
      assert.equal(draining.app.server.connections(), 3);
      assert.equal((await fetch(readyz)).status, 200);

      // Events keep coming during the drain and after it.
      let publishing = true;
      const publisher = (async () => {
        for (let index = 0; publishing; index++) {
          const channel = [a, b, c][index % 3] ?? a;
          record(published, channel, await publishEvent(ingest, channel));
          await sleep(5);
        }
      })();
      await waitFor(() => (published.get(c)?.length ?? 0) > 3, 'events before the drain');

      const stopped = draining.stop(1000);
      const notReady = await fetch(readyz);
      assert.equal(notReady.status, 503);
      assert.match(await notReady.text(), /draining/);
      const late = new TestSocket(draining.wsUrl, 'fanout.json.v1');
      assert.equal(await handshakeStatus(late), 503);
      const lateSse = await fetch(`${draining.httpBase}/v1/channels/${a}?watch=true`);
      assert.equal(lateSse.status, 503);
      assert.equal(((await lateSse.json()) as { error: { code: string } }).error.code, 'draining');

      // The WebSocket: disconnect with its positions, close 4200.
      await socket.closed;
      assert.equal(socket.closeCode, 4200);
      const wsFrames = socket.frames.splice(0).map(jsonFrame);
      const [lastKind, disconnect] = wsFrames.pop() ?? [];
      assert.equal(lastKind, 'disconnect', 'disconnect is the last frame');
      assert.equal(disconnect?.['code'], 'draining');
      assert.equal(disconnect['closeCode'], 4200);
      assert.equal(disconnect['action'], 'resume_elsewhere');
      const positions = disconnect['positions'] as { channel: string; position: string }[];
      assert.deepEqual(positions.map((state) => state.channel).sort(), [a, b].sort());
      // The SSE streams: a final disconnect event with the cursor.
      const cursorOf = async (
        client: SseClient,
      ): Promise<{ cursor: string; events: SseEvent[] }> => {
        const events = [...client.events.splice(0), ...(await client.rest())];
        const last = events.at(-1);
        assert.equal(last?.event, 'disconnect');
        const body = JSON.parse(last.data) as { code: string; action: string; cursor: string };
        assert.equal(body.code, 'draining');
        assert.equal(body.action, 'resume_elsewhere');
        return { cursor: body.cursor, events };
      };
      const watched = await cursorOf(watch);
      const streamed = await cursorOf(stream);
      await stopped;
      assert.equal(draining.app.server.connections(), 0);
      const closed = new TestSocket(draining.wsUrl, 'fanout.json.v1');
      await assert.rejects(closed.opened, /ECONNREFUSED/, 'no longer listening');

      // Resume everything on the other edge while events keep coming.
      const resumedSocket = new TestSocket(other.wsUrl, 'fanout.json.v1');
      await resumedSocket.opened;
      resumedSocket.sendJson({
        subscribe: {
          requestId: 1,
          subscriptions: positions.map((state) => ({
            channel: state.channel,
            since: state.position,
          })),
        },
      });
      await resumedSocket.takeJson('subscribed');
      const resumedWatch = await SseClient.open(`${other.httpBase}/v1/channels/${a}`, {
        'last-event-id': watched.cursor,
      });
      const resumedStream = await SseClient.open(`${other.httpBase}/v1/stream?channels=${b},${c}`, {
        'last-event-id': streamed.cursor,
      });
      await sleep(300);
      publishing = false;
      await publisher;

      // Every client expects each event published after it subscribed (the
      // first event of each channel came before), exactly once and in order:
      // those it got before the drain, then those after its position.
      const expected = (channel: string): string[] => (published.get(channel) ?? []).slice(1);
      const wsBefore = wsFrames.filter(([kind]) => kind === 'event').length;
      const resumedWs = (
        await resumedSocket.takeJson(
          'event',
          expected(a).length + expected(b).length - wsBefore,
          20_000,
        )
      ).map((event) => [String(event['channel']), String(event['position'])]);
      // Extra frames beyond the count (a repeat would show here), for the message below.
      await sleep(200);
      const extra = resumedSocket.frames.map((frame) => frame.data.toString('utf8'));
      const story = JSON.stringify({
        positions,
        before: wsFrames.map(([kind, body]) => [kind, body['channel'], body['position']]),
        resumed: resumedWs,
        extra,
      });
      for (const channel of [a, b]) {
        assert.deepEqual(
          [
            ...eventPositions(wsFrames, channel),
            ...resumedWs.filter(([name]) => name === channel).map(([, position]) => position),
          ],
          expected(channel),
          `WebSocket ${channel}: every event once, in order; ${story}`,
        );
      }
      const watchedBefore = ssePositions(watched.events);
      const watchedAfter = ssePositions(
        await resumedWatch.take(expected(a).length - watchedBefore.length, undefined, 20_000),
      );
      assert.deepEqual([...watchedBefore, ...watchedAfter], expected(a), 'SSE watch');
      const streamedAfter = await resumedStream.take(
        expected(b).length + expected(c).length - ssePositions(streamed.events).length,
        undefined,
        20_000,
      );
      for (const channel of [b, c]) {
        assert.deepEqual(
          [...ssePositions(streamed.events, channel), ...ssePositions(streamedAfter, channel)],
          expected(channel),
          `SSE stream ${channel}: every event once, in order`,
        );
      }
      await sleep(200);
      assert.deepEqual(
        resumedSocket.frames.map(jsonFrame).filter(([kind]) => kind === 'event'),
        [],
        'no duplicate after the resume',
      );
      resumedSocket.close();
      await Promise.all([resumedWatch.close(), resumedStream.close()]);
    } finally {
      await probes.close();
      await draining.stop();
      await other.stop();
    }
  });
});
