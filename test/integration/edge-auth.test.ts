/**
 * Who may connect to an edge and what it may read, against a real broker,
 * ingest and edge: bearer JWTs (HS256) over SSE, GET and WebSocket (query,
 * Authorization header, Connect frame), in-band refresh and expiry, channel
 * claims, the Origin allow-list, edge.maxConnections and edge.maxMessageBytes.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import {
  hs256Token,
  nowSeconds,
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
  metricValue,
  publishEvent,
  publishEvents,
  SseClient,
  uniqueChannel,
  waitFor,
} from '../support/edge-test-clients.js';

const secret = 'edge-auth-test-hs256-secret-0123456789';

interface Claims {
  readonly sub?: string;
  /** fanout_subscribe: namespaces as a list, or one space-separated string. */
  readonly namespaces?: readonly string[] | string;
  /** `exp`, JWT seconds. */
  readonly exp?: number;
}

function token(claims: Claims = {}, key = secret): string {
  return hs256Token(key, {
    sub: claims.sub ?? 'reader-1',
    fanout_subscribe: claims.namespaces ?? ['orders'],
    exp: claims.exp ?? nowSeconds() + 300,
  });
}

/** A JWT `exp` as the JSON mapping of a protobuf Timestamp. */
function isoTime(exp: number): string {
  return new Date(exp * 1000).toISOString();
}

async function errorCode(response: Response): Promise<string> {
  const body = (await response.json()) as { error?: { code?: string; message?: string } };
  assert.equal(typeof body.error?.message, 'string', 'the catalog body has a message');
  return body.error?.code ?? '';
}

describe('edge authentication and admission', () => {
  let stack: IngestStack;
  let kafka: TestKafka;
  let ingest: IngestHarness;
  let topic: string;

  before(async () => {
    stack = await startIngestStack({ name: 'edge-auth', partitions: 2 });
    ({ kafka, topic, ingest } = stack);
  });

  after(() => stack.stop());

  describe('with edge.authRequired and an HS256 secret', () => {
    let edge: EdgeHarness;

    before(async () => {
      edge = await startEdge({
        brokers: kafka.brokers,
        topic,
        env: { FANOUT_EDGE_AUTH_REQUIRED: 'true', FANOUT_AUTH_JWT_HS256_SECRET: secret },
      });
    });

    after(async () => {
      await edge.stop();
    });

    /** Opens a JSON socket with these headers / URL and waits for `connected`. */
    async function connected(
      url: string,
      headers: Record<string, string> = {},
    ): Promise<{ socket: TestSocket; frame: Record<string, unknown> }> {
      const socket = new TestSocket(url, 'fanout.json.v1', headers);
      await socket.opened;
      const [frame] = await socket.takeJson('connected');
      assert.ok(frame);
      return { socket, frame };
    }

    /** Subscribes to `channel`, publishes one event and expects it. */
    async function assertReads(socket: TestSocket, channel: string, requestId = 1): Promise<void> {
      socket.sendJson({ subscribe: { requestId, subscriptions: [{ channel }] } });
      const [subscribed] = await socket.takeJson('subscribed');
      assert.equal(subscribed?.['requestId'], requestId);
      const position = await publishEvent(ingest, channel);
      const [event] = await socket.takeJson('event');
      assert.equal(event?.['position'], position);
    }

    it('answers SSE, stream and GET requests without a valid token with 401 and the catalog code', async () => {
      const channel = uniqueChannel('orders');
      const urls = [
        `${edge.httpBase}/v1/channels/${channel}?watch=true`,
        `${edge.httpBase}/v1/stream?channels=${channel}`,
        `${edge.httpBase}/v1/channels/${channel}`,
      ];
      for (const url of urls) {
        const anonymous = await fetch(url);
        assert.equal(anonymous.status, 401, url);
        assert.equal(await errorCode(anonymous), 'unauthenticated', url);
        const forged = await fetch(url, {
          headers: { authorization: `Bearer ${token({}, 'another-secret-0123456789abcdef')}` },
        });
        assert.equal(forged.status, 401, url);
        assert.equal(await errorCode(forged), 'unauthenticated', url);
        // Beyond the verifier's clock tolerance.
        const expired = await fetch(
          `${url}${url.includes('?') ? '&' : '?'}token=${token({ exp: nowSeconds() - 120 })}`,
        );
        assert.equal(expired.status, 401, url);
        assert.equal(await errorCode(expired), 'token_expired', url);
      }
      const refused = new TestSocket(`${edge.wsUrl}?token=not-a-jwt`, 'fanout.json.v1');
      assert.equal(await handshakeStatus(refused), 401);
      const expired = new TestSocket(edge.wsUrl, 'fanout.json.v1', {
        authorization: `Bearer ${token({ exp: nowSeconds() - 120 })}`,
      });
      assert.equal(await handshakeStatus(expired), 401);
    });

    it('answers 403 permission_denied for channels outside the token claim, and serves those inside', async () => {
      const channel = uniqueChannel('orders');
      const billing = uniqueChannel('billing');
      const orders = { authorization: `Bearer ${token({ namespaces: ['orders'] })}` };
      const denied = [
        `/v1/channels/${billing}?watch=true`,
        `/v1/channels/${billing}`,
        `/v1/channels/orders-eu.1?watch=true`,
        `/v1/stream?channels=${channel},${billing}`,
        `/v1/stream?channels=billing.*`,
        `/v1/stream?channels=ordersx.*`,
      ];
      for (const path of denied) {
        const response = await fetch(`${edge.httpBase}${path}`, { headers: orders });
        assert.equal(response.status, 403, path);
        assert.equal(await errorCode(response), 'permission_denied', path);
      }
      const get = await fetch(`${edge.httpBase}/v1/channels/${channel}`, { headers: orders });
      assert.equal(get.status, 200);
      assert.equal(((await get.json()) as { channel: string }).channel, channel);
      // A claim may be one space-separated string; a pattern within it is allowed.
      const both = token({ namespaces: 'billing orders' });
      const stream = await SseClient.open(
        `${edge.httpBase}/v1/stream?channels=${billing},orders.*&token=${both}`,
      );
      assert.equal(stream.status, 200);
      await stream.take(1, (event) => event.event === 'subscribed');
      const positions = await publishEvents(ingest, [{ channel: billing }, { channel }]);
      const events = await stream.take(2);
      assert.deepEqual(
        events.map((event) => (JSON.parse(event.data) as { position: string }).position).sort(),
        [...positions].sort(),
      );
      await stream.close();
    });

    it('takes a WebSocket token from the query or the Authorization header', async () => {
      const exp = nowSeconds() + 300;
      const viaQuery = await connected(`${edge.wsUrl}?token=${token({ exp })}`);
      assert.equal(viaQuery.frame['requestId'], 0);
      assert.equal(viaQuery.frame['tokenExpiresAt'], isoTime(exp));
      await assertReads(viaQuery.socket, uniqueChannel('orders'));

      const viaHeader = await connected(edge.wsUrl, {
        authorization: `Bearer ${token({ exp })}`,
      });
      assert.equal(viaHeader.frame['tokenExpiresAt'], isoTime(exp));
      await assertReads(viaHeader.socket, uniqueChannel('orders.eu'));
      // Already authenticated: a Connect frame is out of order.
      viaHeader.socket.sendJson({ connect: { requestId: 9, token: token() } });
      const [error] = await viaHeader.socket.takeJson('error');
      assert.equal(error?.['code'], 'frame_invalid');
      assert.equal(error['requestId'], 9);
      for (const socket of [viaQuery.socket, viaHeader.socket]) socket.close();
    });

    it('takes a WebSocket token from a first Connect frame, and nothing but ping before it', async () => {
      const socket = new TestSocket(edge.wsUrl, 'fanout.json.v1');
      await socket.opened;
      const channel = uniqueChannel('orders');
      socket.sendJson({ subscribe: { requestId: 1, subscriptions: [{ channel }] } });
      const [early] = await socket.takeJson('error');
      assert.equal(early?.['code'], 'unauthenticated');
      assert.equal(early['requestId'], 1);
      socket.sendJson({ ping: { requestId: 2 } });
      const [pong] = await socket.takeJson('pong');
      assert.equal(pong?.['requestId'], 2);
      // A bad token is answered, and the connection may try again.
      socket.sendJson({ connect: { requestId: 3, token: 'not-a-jwt' } });
      const [bad] = await socket.takeJson('error');
      assert.equal(bad?.['code'], 'unauthenticated');
      assert.equal(bad['requestId'], 3);
      const exp = nowSeconds() + 300;
      socket.sendJson({ connect: { requestId: 4, token: token({ exp }) } });
      const [connectedFrame] = await socket.takeJson('connected');
      assert.equal(connectedFrame?.['requestId'], 4);
      assert.equal(connectedFrame['tokenExpiresAt'], isoTime(exp));
      await assertReads(socket, channel, 5);
      socket.close();
    });

    it('closes a WebSocket that never authenticates within edge.connectTimeoutMs, pings or not', async () => {
      const strict = await startEdge({
        brokers: kafka.brokers,
        topic,
        env: {
          FANOUT_EDGE_AUTH_REQUIRED: 'true',
          FANOUT_AUTH_JWT_HS256_SECRET: secret,
          FANOUT_EDGE_CONNECT_TIMEOUT_MS: '1500',
        },
      });
      try {
        const silent = new TestSocket(strict.wsUrl, 'fanout.json.v1');
        const late = new TestSocket(strict.wsUrl, 'fanout.json.v1');
        await Promise.all([silent.opened, late.opened]);
        let requestId = 0;
        // Application pings (and the library's pongs) keep the socket from
        // idling out, never from having to authenticate.
        const pinger = setInterval(() => {
          silent.sendJson({ ping: { requestId: ++requestId } });
        }, 200);
        try {
          const [disconnect] = await silent.takeJson('disconnect', 1, 15_000);
          assert.equal(disconnect?.['code'], 'unauthenticated');
          assert.equal(disconnect['closeCode'], 4401);
          await silent.closed;
          assert.equal(silent.closeCode, 4401);
        } finally {
          clearInterval(pinger);
        }
        // The other socket went silent without a token: closed the same way.
        await late.closed;
        assert.equal(late.closeCode, 4401);

        // One that authenticates in time stays.
        const prompt = new TestSocket(strict.wsUrl, 'fanout.json.v1');
        await prompt.opened;
        prompt.sendJson({ connect: { requestId: 1, token: token() } });
        await prompt.takeJson('connected');
        await sleep(3000);
        assert.equal(prompt.closeCode, undefined, 'an authenticated socket is not closed');
        prompt.close();
      } finally {
        await strict.stop();
      }
    });

    it('refuses a subscription outside the token claim with an error frame and keeps the connection', async () => {
      const { socket } = await connected(
        `${edge.wsUrl}?token=${token({ namespaces: ['orders'] })}`,
      );
      const channel = uniqueChannel('orders');
      const billing = uniqueChannel('billing');
      socket.sendJson({
        subscribe: { requestId: 1, subscriptions: [{ channel }, { channel: billing }] },
      });
      const [denied] = await socket.takeJson('error');
      assert.equal(denied?.['code'], 'permission_denied');
      assert.equal(denied['requestId'], 1);
      assert.equal(denied['channel'], billing);
      for (const [requestId, refused] of [
        [2, 'billing.*'],
        [3, 'ordersx.a'],
      ] as const) {
        socket.sendJson({ subscribe: { requestId, subscriptions: [{ channel: refused }] } });
        const [error] = await socket.takeJson('error');
        assert.equal(error?.['code'], 'permission_denied', refused);
        assert.equal(error['requestId'], requestId);
      }
      // The refused request subscribed to nothing: the allowed channel still can be.
      await assertReads(socket, channel, 4);
      await publishEvent(ingest, billing);
      const position = await publishEvent(ingest, channel);
      const [event] = await socket.takeJson('event');
      assert.equal(event?.['position'], position, 'nothing of the refused channel');
      socket.close();
    });

    it('refreshes a token in-band past its expiry, then closes with 4010 and positions that resume', async () => {
      const closesBefore = await metricValue(edge.registry, 'fanout_edge_closes_total', {
        code: 'token_expired',
      });
      const firstExp = nowSeconds() + 2;
      const { socket } = await connected(`${edge.wsUrl}?token=${token({ exp: firstExp })}`);
      const channel = uniqueChannel('orders');
      await assertReads(socket, channel);
      // A refresh must keep the subject (one that narrows the grant ends the
      // subscriptions it no longer allows: edge-token-grant.test.ts).
      socket.sendJson({
        refreshToken: { requestId: 2, token: token({ sub: 'reader-2', exp: firstExp + 2 }) },
      });
      const [otherSubject] = await socket.takeJson('error');
      assert.equal(otherSubject?.['code'], 'permission_denied');
      assert.equal(otherSubject['requestId'], 2);
      socket.sendJson({ refreshToken: { requestId: 4, token: token({ exp: firstExp + 2 }) } });
      const [refreshed] = await socket.takeJson('tokenRefreshed');
      assert.equal(refreshed?.['requestId'], 4);
      assert.equal(refreshed['expiresAt'], isoTime(firstExp + 2));

      // Past the first token's expiry the connection still delivers.
      await sleep(firstExp * 1000 + 300 - Date.now());
      const alive = await publishEvent(ingest, channel);
      const [event] = await socket.takeJson('event');
      assert.equal(event?.['position'], alive);

      // Then the refreshed token runs out: disconnect with the positions, close 4010.
      const [disconnect] = await socket.takeJson('disconnect', 1, 5000);
      assert.equal(disconnect?.['code'], 'token_expired');
      assert.equal(disconnect['closeCode'], 4010);
      assert.equal(disconnect['action'], 'resume');
      assert.deepEqual(disconnect['positions'], [{ channel, position: alive }]);
      await socket.closed;
      assert.equal(socket.closeCode, 4010);
      assert.ok(Date.now() >= (firstExp + 2) * 1000 - 50, 'not before the refreshed expiry');
      assert.equal(
        await metricValue(edge.registry, 'fanout_edge_closes_total', { code: 'token_expired' }),
        closesBefore + 1,
      );

      // A fresh token resumes from the position without a gap.
      const missed = await publishEvents(ingest, [{ channel }, { channel }]);
      const { socket: again } = await connected(`${edge.wsUrl}?token=${token()}`);
      again.sendJson({ subscribe: { requestId: 1, subscriptions: [{ channel, since: alive }] } });
      const events = await again.takeJson('event', 2);
      assert.deepEqual(
        events.map((resumed) => resumed['position']),
        missed,
      );
      again.close();
    });

    it('closes with 4010 token_expired a connection whose token expired, however it came', async () => {
      // Expired two seconds ago: within the verifier's clock tolerance, so
      // the handshake passes, and the edge closes the connection at once.
      const justExpired = token({ exp: nowSeconds() - 2 });
      const socket = new TestSocket(`${edge.wsUrl}?token=${justExpired}`, 'fanout.json.v1');
      await socket.opened;
      const [disconnect] = await socket.takeJson('disconnect');
      assert.equal(disconnect?.['code'], 'token_expired');
      assert.equal(disconnect['closeCode'], 4010);
      assert.equal(disconnect['action'], 'resume');
      await socket.closed;
      assert.equal(socket.closeCode, 4010);

      // Beyond the tolerance in a Connect frame: an error, then the close.
      const late = new TestSocket(edge.wsUrl, 'fanout.json.v1');
      await late.opened;
      late.sendJson({ connect: { requestId: 1, token: token({ exp: nowSeconds() - 120 }) } });
      const [error] = await late.takeJson('error');
      assert.equal(error?.['code'], 'token_expired');
      assert.equal(error['requestId'], 1);
      await late.closed;
      assert.equal(late.closeCode, 4010);
    });
    it('ends an SSE stream with a token_expired disconnect event and its cursor when the token expires', async () => {
      const channel = uniqueChannel('orders');
      const closesBefore = await metricValue(edge.registry, 'fanout_edge_closes_total', {
        code: 'token_expired',
      });
      const exp = nowSeconds() + 2;
      const stream = await SseClient.open(`${edge.httpBase}/v1/channels/${channel}?watch=true`, {
        authorization: `Bearer ${token({ exp })}`,
      });
      assert.equal(stream.status, 200);
      await stream.take(1, (event) => event.event === 'subscribed');
      const position = await publishEvent(ingest, channel);
      const [event] = await stream.take(1);
      assert.equal(event?.id, position);

      const rest = await stream.rest();
      const disconnect = rest.find((late) => late.event === 'disconnect');
      assert.ok(disconnect, 'a disconnect event before the end of the stream');
      const body = JSON.parse(disconnect.data) as Record<string, unknown>;
      assert.equal(body['code'], 'token_expired');
      assert.equal(body['action'], 'resume');
      assert.equal(body['cursor'], position);
      assert.ok(Date.now() >= exp * 1000 - 50, 'not before the expiry');
      assert.equal(
        await metricValue(edge.registry, 'fanout_edge_closes_total', { code: 'token_expired' }),
        closesBefore + 1,
      );
      await waitFor(() => edge.app.server.connections() === 0, 'the stream to give its place back');
    });
  });

  describe('with an Origin allow-list, edge.maxConnections and edge.maxMessageBytes', () => {
    let edge: EdgeHarness;
    const maxConnections = 3;
    const maxMessageBytes = 1024;

    before(async () => {
      edge = await startEdge({
        brokers: kafka.brokers,
        topic,
        env: {
          FANOUT_EDGE_ALLOWED_ORIGINS: 'https://app.example.com,https://admin.example.com',
          FANOUT_EDGE_MAX_CONNECTIONS: String(maxConnections),
          FANOUT_EDGE_MAX_MESSAGE_BYTES: String(maxMessageBytes),
          // Not required, but checked when presented: admission waits for it.
          FANOUT_AUTH_JWT_HS256_SECRET: secret,
        },
      });
    });

    after(async () => {
      await edge.stop();
    });

    /** Sockets of the running test, closed after it whatever happened. */
    const sockets = new Set<TestSocket>();
    const streams = new Set<SseClient>();
    function openSocket(headers: Record<string, string> = {}): TestSocket {
      const opened = new TestSocket(edge.wsUrl, 'fanout.json.v1', headers);
      sockets.add(opened);
      return opened;
    }
    async function openSse(path: string, headers: Record<string, string> = {}): Promise<SseClient> {
      const opened = await SseClient.open(`${edge.httpBase}${path}`, headers);
      streams.add(opened);
      return opened;
    }

    afterEach(async () => {
      for (const opened of sockets) {
        if (opened.socket.readyState === WebSocket.OPEN) opened.close();
        else if (opened.socket.readyState === WebSocket.CONNECTING) {
          // A refused handshake: drop its request.
          opened.socket.on('error', () => undefined);
          opened.socket.terminate();
        }
      }
      await Promise.all([...sockets].map((opened) => opened.closed));
      await Promise.all([...streams].map((opened) => opened.close()));
      sockets.clear();
      streams.clear();
      await waitFor(() => edge.app.server.connections() === 0, 'every connection to close');
    });

    it('refuses an Origin outside the allow-list with 403 origin_not_allowed, over WebSocket, SSE and GET', async () => {
      const channel = uniqueChannel('origins');
      const evil = { origin: 'https://evil.example.com' };
      const socket = openSocket(evil);
      assert.equal(await handshakeStatus(socket), 403);
      for (const path of [`/v1/channels/${channel}?watch=true`, `/v1/stream?channels=${channel}`]) {
        const response = await fetch(`${edge.httpBase}${path}`, { headers: evil });
        assert.equal(response.status, 403, path);
        assert.equal(await errorCode(response), 'origin_not_allowed', path);
      }
      const get = await fetch(`${edge.httpBase}/v1/channels/${channel}`, { headers: evil });
      assert.equal(get.status, 403);
      assert.equal(await errorCode(get), 'origin_not_allowed');
      // Listed origins and requests without an Origin are served.
      const allowed = openSocket({
        origin: 'https://admin.example.com',
      });
      const noOrigin = openSocket();
      assert.equal(await handshakeStatus(allowed), 101);
      assert.equal(await handshakeStatus(noOrigin), 101);
      const stream = await openSse(`/v1/channels/${channel}?watch=true`, {
        origin: 'https://app.example.com',
      });
      assert.equal(stream.status, 200);
      await stream.close();
    });

    it('answers allowed origins with CORS headers: preflight, SSE, GET, errors and /v1/route', async () => {
      const channel = uniqueChannel('cors');
      const app = { origin: 'https://app.example.com' };
      const preflight = await fetch(`${edge.httpBase}/v1/stream?channels=${channel}`, {
        method: 'OPTIONS',
        headers: {
          ...app,
          'access-control-request-method': 'GET',
          'access-control-request-headers': 'authorization, last-event-id',
        },
      });
      assert.equal(preflight.status, 204);
      assert.equal(preflight.headers.get('access-control-allow-origin'), app.origin);
      assert.match(preflight.headers.get('access-control-allow-methods') ?? '', /\bGET\b/);
      assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /last-event-id/);
      assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /authorization/);
      assert.equal(preflight.headers.get('vary'), 'Origin');
      assert.equal(preflight.headers.get('access-control-allow-methods'), 'GET, OPTIONS');
      assert.equal(
        preflight.headers.get('access-control-allow-headers'),
        'authorization, last-event-id, accept, cache-control, if-none-match',
      );
      assert.equal(preflight.headers.get('access-control-max-age'), '600');
      assert.equal(
        preflight.headers.get('access-control-expose-headers'),
        'retry-after, etag, fanout-channel, fanout-status-channel',
      );

      const evilPreflight = await fetch(`${edge.httpBase}/v1/stream?channels=${channel}`, {
        method: 'OPTIONS',
        headers: { origin: 'https://evil.example.com', 'access-control-request-method': 'GET' },
      });
      assert.equal(evilPreflight.status, 403);
      assert.equal(evilPreflight.headers.get('access-control-allow-origin'), null);

      const stream = await openSse(`/v1/channels/${channel}?watch=true`, app);
      assert.equal(stream.status, 200);
      assert.equal(stream.response.headers.get('access-control-allow-origin'), app.origin);
      await stream.close();

      const get = await fetch(`${edge.httpBase}/v1/channels/${channel}`, { headers: app });
      assert.equal(get.status, 200);
      assert.equal(get.headers.get('access-control-allow-origin'), app.origin);
      await get.body?.cancel();

      const bad = await fetch(`${edge.httpBase}/v1/channels/${encodeURIComponent('no..pe')}`, {
        headers: app,
      });
      assert.equal(bad.status, 400);
      assert.equal(bad.headers.get('access-control-allow-origin'), app.origin);
      assert.equal(bad.headers.get('vary'), 'Origin');
      assert.equal(
        bad.headers.get('access-control-expose-headers'),
        'retry-after, etag, fanout-channel, fanout-status-channel',
      );
      assert.equal(await errorCode(bad), 'channel_invalid');

      // A page reads the ETag of a state snapshot for its next conditional GET.
      const state = await fetch(`${edge.httpBase}/v1/state/${channel}`, { headers: app });
      assert.equal(state.status, 200);
      assert.ok(state.headers.get('etag'));
      assert.match(state.headers.get('access-control-expose-headers') ?? '', /(^|, )etag(,|$)/);
      await state.body?.cancel();

      const route = await fetch(`${edge.httpBase}/v1/route?channels=${channel}`, { headers: app });
      assert.equal(route.status, 200);
      assert.equal(route.headers.get('access-control-allow-origin'), app.origin);
      await route.body?.cancel();

      // Same-origin and non-browser requests get no CORS headers.
      const plain = await fetch(`${edge.httpBase}/v1/route?channels=${channel}`);
      assert.equal(plain.headers.get('access-control-allow-origin'), null);
      await plain.body?.cancel();
    });

    it('refuses WebSockets and SSE streams over edge.maxConnections with 429, and admits again after a close', async () => {
      const channel = uniqueChannel('limits');
      const open = [openSocket(), openSocket()];
      for (const socket of open) assert.equal(await handshakeStatus(socket), 101);
      const stream = await openSse(`/v1/channels/${channel}?watch=true`);
      assert.equal(stream.status, 200);
      await stream.take(1, (event) => event.event === 'subscribed');
      assert.equal(edge.app.server.connections(), maxConnections);

      const over = openSocket();
      assert.equal(await handshakeStatus(over), 429);
      const refused = await fetch(`${edge.httpBase}/v1/stream?channels=${channel}`);
      assert.equal(refused.status, 429);
      assert.equal(refused.headers.get('retry-after'), '1');
      assert.equal(await errorCode(refused), 'connection_limit');

      // A closed connection gives its place back.
      await stream.close();
      await waitFor(() => edge.app.server.connections() === maxConnections - 1, 'the SSE close');
      const again = openSocket();
      assert.equal(await handshakeStatus(again), 101);
    });

    it('does not count or refuse plain GETs and long-polls at edge.maxConnections', async () => {
      const channel = uniqueChannel('limits-get');
      const [first, second] = await publishEvents(ingest, [{ channel }, { channel }]);
      const open = Array.from({ length: maxConnections }, () => openSocket());
      for (const socket of open) assert.equal(await handshakeStatus(socket), 101);
      const over = openSocket();
      assert.equal(await handshakeStatus(over), 429, 'the edge is full');
      const get = await fetch(`${edge.httpBase}/v1/channels/${channel}`);
      assert.equal(get.status, 200);
      assert.equal(((await get.json()) as { channel: string }).channel, channel);
      const poll = await fetch(`${edge.httpBase}/v1/channels/${channel}?after=${first}&wait=5`);
      assert.equal(poll.status, 200);
      const body = (await poll.json()) as { events: { position: string }[] };
      assert.deepEqual(
        body.events.map((event) => event.position),
        [second],
      );
      assert.equal(edge.app.server.connections(), maxConnections);
    });

    it('admits at most edge.maxConnections of a burst of simultaneous WebSockets', async () => {
      const burst = Array.from({ length: maxConnections * 3 }, () => openSocket());
      const statuses = await Promise.all(burst.map((socket) => handshakeStatus(socket)));
      assert.equal(statuses.filter((status) => status === 101).length, maxConnections);
      assert.equal(statuses.filter((status) => status === 429).length, maxConnections * 2);
      assert.equal(edge.app.server.connections(), maxConnections);
    });

    it('admits at most edge.maxConnections of a burst of WebSockets and SSE streams whose tokens are checked at once', async () => {
      const channel = uniqueChannel('orders');
      const bearer = { authorization: `Bearer ${token()}` };
      const sockets = Array.from({ length: maxConnections * 2 }, () => openSocket(bearer));
      const [socketStatuses, sseStatuses] = await Promise.all([
        Promise.all(sockets.map((socket) => handshakeStatus(socket))),
        Promise.all(
          Array.from({ length: maxConnections * 2 }, async () => {
            const stream = await openSse(`/v1/channels/${channel}?watch=true`, bearer);
            return stream.status;
          }),
        ),
      ]);
      const statuses = [...socketStatuses, ...sseStatuses];
      assert.equal(
        statuses.filter((status) => status === 101 || status === 200).length,
        maxConnections,
        `statuses ${statuses.join(',')}`,
      );
      assert.equal(statuses.filter((status) => status === 429).length, maxConnections * 3);
      assert.equal(edge.app.server.connections(), maxConnections);
    });

    it('closes a WebSocket that sends a frame over edge.maxMessageBytes with 4413 message_too_large', async () => {
      const closesBefore = await metricValue(edge.registry, 'fanout_edge_closes_total', {
        code: 'message_too_large',
      });
      const socket = openSocket();
      await socket.opened;
      await socket.takeJson('connected');
      // At the limit: served.
      const ping = JSON.stringify({ ping: { requestId: 1 } });
      socket.socket.send(ping.padEnd(maxMessageBytes, ' '));
      const [pong] = await socket.takeJson('pong');
      assert.equal(pong?.['requestId'], 1);
      // Over it: disconnect, then a close that tells the client not to retry.
      socket.socket.send(ping.padEnd(maxMessageBytes + 1, ' '));
      const [disconnect] = await socket.takeJson('disconnect');
      assert.equal(disconnect?.['code'], 'message_too_large');
      assert.equal(disconnect['closeCode'], 4413);
      assert.equal(disconnect['action'], 'stop');
      await socket.closed;
      assert.equal(socket.closeCode, 4413);
      assert.equal(
        await metricValue(edge.registry, 'fanout_edge_closes_total', { code: 'message_too_large' }),
        closesBefore + 1,
      );

      // Over twice the limit uWebSockets.js cuts the connection off unread.
      const huge = openSocket();
      await huge.opened;
      await huge.takeJson('connected');
      huge.socket.send(ping.padEnd(2 * maxMessageBytes + 1, ' '));
      await huge.closed;
      assert.equal(huge.closeCode, 1006);
      await waitFor(() => edge.app.server.connections() === 0, 'the edge to let go');
    });
  });
});
