/**
 * What a client sees of the edge beyond plain delivery, against a real
 * broker: event type and pattern filters, the backpressure close and the
 * resume from its positions, token handling, and the drain.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { formatPosition, positionFromProto, type fanout } from '@fanout/shared';
import {
  hs256Token,
  nowSeconds,
  startEdge,
  TestSocket,
  type EdgeHarness,
  type IngestHarness,
  type TestKafka,
  startEdgeStack,
  type EdgeStack,
} from '../support/index.js';
import { RawWsClient } from '../support/raw-ws-client.js';

const secret = 'edge-test-hs256-secret-0123456789abcdef';

describe('edge client semantics', () => {
  let stack: EdgeStack;
  let kafka: TestKafka;
  let ingest: IngestHarness;
  let edge: EdgeHarness;
  let topic: string;

  const unique = (name: string): string => `${name}.${randomBytes(3).toString('hex')}`;

  async function publish(channel: string, type: string, bytes = 16): Promise<string> {
    const response = await ingest.client.publish({
      events: [{ channel, type, data: randomBytes(bytes) }],
    });
    return textOf(response.results[0]);
  }

  function textOf(result: fanout.v1.PublishResult.$Properties | undefined): string {
    return formatPosition(positionFromProto(result?.position ?? {}));
  }

  async function backpressureCloses(): Promise<number> {
    const text = await edge.registry.getSingleMetricAsString('fanout_edge_closes_total');
    return Number(/code="backpressure"\} (\d+)/.exec(text)?.[1] ?? 0);
  }

  before(async () => {
    stack = await startEdgeStack({
      name: 'edge-clients',
      partitions: 3,
      edgeEnv: { FANOUT_EDGE_MAX_BACKPRESSURE_BYTES: String(256 * 1024) },
    });
    ({ kafka, topic, ingest, edge } = stack);
  });

  after(() => stack.stop());

  it('delivers only the subscribed event types, over WebSocket and SSE', async () => {
    const channel = unique('filters.types');
    const socket = new TestSocket(edge.wsUrl, 'fanout.json.v1');
    await socket.opened;
    socket.sendJson({
      subscribe: { requestId: 1, subscriptions: [{ channel, types: ['keep'] }] },
    });
    await socket.takeJson('subscribed');
    const sse = await fetch(`${edge.httpBase}/v1/channels/${channel}?watch=true&types=keep`);
    const reader = sse.body?.getReader();
    let text = '';
    while (!text.includes('event: subscribed')) {
      const chunk = await reader?.read();
      if (!chunk || chunk.done) break;
      text += Buffer.from(chunk.value).toString('utf8');
    }
    const kept: string[] = [];
    for (const type of ['drop', 'keep', 'drop', 'keep']) {
      const position = await publish(channel, type);
      if (type === 'keep') kept.push(position);
    }
    const events = await socket.takeJson('event', 2);
    assert.deepEqual(
      events.map((event) => [event['type'], event['position']]),
      kept.map((position) => ['keep', position]),
    );
    while (!text.includes(`"position":"${kept[1] ?? '!'}"`)) {
      const chunk = await reader?.read();
      if (!chunk || chunk.done) break;
      text += Buffer.from(chunk.value).toString('utf8');
    }
    await reader?.cancel();
    const ids = [...text.matchAll(/^id: (.+)$/gm)].map((match) => match[1]);
    assert.deepEqual(ids.slice(1), kept, 'SSE carries the kept events only');
    // Nothing else came over the WebSocket either.
    await publish(channel, 'keep');
    const [third] = await socket.takeJson('event');
    assert.equal(third?.['type'], 'keep');
    socket.close();
  });

  it('delivers the channels of a namespace pattern live, and nothing outside it', async () => {
    const namespace = unique('patterns');
    const socket = new TestSocket(edge.wsUrl, 'fanout.json.v1');
    await socket.opened;
    socket.sendJson({
      subscribe: { requestId: 1, subscriptions: [{ channel: `${namespace}.*` }] },
    });
    await socket.takeJson('subscribed');
    const inside = [
      await publish(`${namespace}.a`, 'tick'),
      await publish(unique('other'), 'tick'),
      await publish(`${namespace}.b.c`, 'tick'),
      await publish(`${namespace}x.d`, 'tick'),
    ].filter((_, index) => index === 0 || index === 2);
    const events = await socket.takeJson('event', 2);
    assert.deepEqual(events.map((event) => event['position']).sort(), [...inside].sort());
    // A pattern resumes from a stream cursor naming every partition: one
    // position names none of the others, answered with a reset as over SSE.
    socket.sendJson({
      subscribe: {
        requestId: 2,
        subscriptions: [{ channel: `${unique('p')}.*`, since: inside[0] }],
      },
    });
    const [reset] = await socket.takeJson('reset');
    assert.equal(reset?.['code'], 'position_partition_mismatch');
    assert.equal(reset['requestId'], 2);
    const [answer] = await socket.takeJson('subscribed');
    assert.deepEqual(answer?.['subscriptions'], [], 'the reset subscription is not active');
    assert.equal(socket.frames.length, 0, 'no event from outside the namespace');
    socket.close();
  });

  it('closes a client that stops reading with 4008 and its position; resuming from it loses nothing', async () => {
    const channel = unique('slow');
    const client = new RawWsClient(edge.app.port, '/v1/ws', 'fanout.json.v1');
    await client.ready;
    const frames: string[] = [];
    client.sample((payload) => frames.push(payload.toString('utf8')));
    client.sendText(JSON.stringify({ subscribe: { requestId: 1, subscriptions: [{ channel }] } }));
    while (!frames.some((frame) => frame.includes('"subscribed"'))) await sleep(10);
    client.pause();
    const published: string[] = [];
    // Until the edge gives up on the client: past the loopback socket
    // buffers (several MiB) and the edge's own 256 KiB (64 MiB at most).
    const closesBefore = await backpressureCloses();
    for (let batch = 0; batch < 128; batch++) {
      const response = await ingest.client.publish({
        events: Array.from({ length: 16 }, () => ({
          channel,
          type: 'big',
          data: randomBytes(32 * 1024),
        })),
      });
      for (const result of response.results) published.push(textOf(result));
      await sleep(20);
      if (edge.app.server.connections() === 0 || (await backpressureCloses()) > closesBefore) break;
    }
    const droppedAbruptly = (await backpressureCloses()) === closesBefore;
    assert.ok(
      !droppedAbruptly || edge.app.server.connections() === 0,
      'the edge let go of the slow client',
    );
    client.resume();
    const deadline = Date.now() + 20_000;
    while (!client.closed && Date.now() < deadline) await sleep(20);
    assert.ok(client.closed, 'the connection ended');
    const received = frames
      .filter((frame) => frame.startsWith('{"event"'))
      .map((frame) => (JSON.parse(frame) as { event: { position: string } }).event.position);
    assert.deepEqual(received, published.slice(0, received.length), 'no hole before the close');
    // Over half the limit the edge sends `disconnect` with the positions and
    // closes with 4008; at the limit uWebSockets.js drops the socket at once,
    // and the client resumes from the last event it received.
    let resumeFrom: string | undefined;
    if (client.closeCode === undefined) {
      resumeFrom = received.at(-1);
    } else {
      assert.equal(client.closeCode, 4008);
      const disconnect = frames
        .map((frame) => JSON.parse(frame) as Record<string, Record<string, unknown>>)
        .find((frame) => frame['disconnect'])?.['disconnect'];
      assert.equal(disconnect?.['code'], 'backpressure');
      assert.equal(disconnect['action'], 'resume');
      const positions = disconnect['positions'] as { channel: string; position: string }[];
      resumeFrom = positions.find((state) => state.channel === channel)?.position;
      // Never ahead of what the client got.
      assert.ok(published.indexOf(resumeFrom ?? '') < received.length);
    }
    assert.ok(resumeFrom, 'a position to resume from');
    const index = published.indexOf(resumeFrom);
    assert.ok(index >= 0);

    const again = new TestSocket(edge.wsUrl, 'fanout.json.v1');
    await again.opened;
    again.sendJson({
      subscribe: { requestId: 1, subscriptions: [{ channel, since: resumeFrom }] },
    });
    const rest = await again.take(
      published.length - (index + 1),
      (frame) => {
        const parsed = JSON.parse(frame.data.toString('utf8')) as Record<string, unknown>;
        return (parsed['event'] as { position: string } | undefined)?.position;
      },
      20_000,
    );
    assert.deepEqual(rest, published.slice(index + 1), 'every event after the position, in order');
    again.close();
  });

  describe('with tokens', () => {
    let secured: EdgeHarness;

    before(async () => {
      secured = await startEdge({
        brokers: kafka.brokers,
        topic,
        env: { FANOUT_EDGE_AUTH_REQUIRED: 'true', FANOUT_AUTH_JWT_HS256_SECRET: secret },
      });
    });

    after(async () => {
      await secured.stop();
    });

    const token = (namespaces: string[], seconds = 300): string =>
      hs256Token(secret, {
        sub: 'reader',
        fanout_subscribe: namespaces,
        exp: nowSeconds() + seconds,
      });

    it('answers 401 without a token and 403 outside its namespaces, over SSE and GET', async () => {
      const channel = unique('orders');
      const anonymous = await fetch(`${secured.httpBase}/v1/channels/${channel}`);
      assert.equal(anonymous.status, 401);
      assert.equal(
        ((await anonymous.json()) as { error: { code: string } }).error.code,
        'unauthenticated',
      );
      const forbidden = await fetch(`${secured.httpBase}/v1/channels/${channel}?watch=true`, {
        headers: { authorization: `Bearer ${token(['billing'])}` },
      });
      assert.equal(forbidden.status, 403);
      assert.equal(
        ((await forbidden.json()) as { error: { code: string } }).error.code,
        'permission_denied',
      );
      const allowed = await fetch(
        `${secured.httpBase}/v1/channels/${channel}?token=${token(['orders'])}`,
      );
      assert.equal(allowed.status, 200);
      const refused = new TestSocket(secured.wsUrl, 'fanout.json.v1', {
        authorization: 'Bearer not-a-jwt',
      });
      await assert.rejects(refused.opened, /HTTP 401/);
    });

    it('takes a token in a connect frame, refreshes it in-band, and closes with 4010 at expiry', async () => {
      const channel = unique('orders');
      const socket = new TestSocket(secured.wsUrl, 'fanout.json.v1');
      await socket.opened;
      socket.sendJson({ subscribe: { requestId: 1, subscriptions: [{ channel }] } });
      const [early] = await socket.takeJson('error');
      assert.equal(early?.['code'], 'unauthenticated');
      socket.sendJson({ connect: { requestId: 2, token: token(['orders'], 2) } });
      await socket.takeJson('connected');
      socket.sendJson({
        subscribe: { requestId: 3, subscriptions: [{ channel: unique('billing') }] },
      });
      const [denied] = await socket.takeJson('error');
      assert.equal(denied?.['code'], 'permission_denied');
      socket.sendJson({ subscribe: { requestId: 4, subscriptions: [{ channel }] } });
      await socket.takeJson('subscribed');
      // Refreshed before expiry: the connection outlives the first token.
      socket.sendJson({ refreshToken: { requestId: 5, token: token(['orders'], 4) } });
      await socket.takeJson('tokenRefreshed');
      await sleep(2500);
      const position = await publish(channel, 'tick');
      const [event] = await socket.takeJson('event');
      assert.equal(event?.['position'], position);
      // Then the refreshed token runs out too.
      const [disconnect] = await socket.takeJson('disconnect', 1, 5000);
      assert.equal(disconnect?.['code'], 'token_expired');
      await socket.closed;
      assert.equal(socket.closeCode, 4010);
    });
  });

  it('drains: readiness turns, new clients are refused, connected ones get their positions', async () => {
    const draining = await startEdge({ brokers: kafka.brokers, topic });
    const channel = unique('drain');
    const socket = new TestSocket(draining.wsUrl, 'fanout.json.v1');
    await socket.opened;
    socket.sendJson({ subscribe: { requestId: 1, subscriptions: [{ channel }] } });
    await socket.takeJson('subscribed');
    const position = await publish(channel, 'tick');
    await socket.takeJson('event');
    const sse = await fetch(`${draining.httpBase}/v1/channels/${channel}?watch=true`);
    assert.equal(draining.app.ready().ready, true);

    const stopped = draining.stop(1000);
    await sleep(50);
    assert.equal(draining.app.ready().ready, false);
    const late = new TestSocket(draining.wsUrl, 'fanout.json.v1');
    await assert.rejects(late.opened);
    const [disconnect] = await socket.takeJson('disconnect', 1, 5000);
    assert.equal(disconnect?.['code'], 'draining');
    assert.deepEqual(disconnect['positions'], [{ channel, position }]);
    await socket.closed;
    assert.equal(socket.closeCode, 4200);
    const text = await sse.text();
    assert.match(text, /event: disconnect\ndata: \{"code":"draining"/);
    assert.ok(text.includes(`"cursor":"${position}"`), text);
    await stopped;
  });
});
