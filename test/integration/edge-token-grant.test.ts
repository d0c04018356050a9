/**
 * A connection reads only what its current token allows, whatever the order
 * in which its control frames are handled, against a real broker, ingest and
 * edge: a `refreshToken` that narrows the grant, sent right behind a
 * `subscribe` being prepared, never leaves the subscription running (JSON
 * and protobuf); an SSE stream ends when its token expires. Token times:
 * an expired token offered to `refreshToken` is refused without closing, a
 * token valid for months is served (no timer overflow), and an `exp` no
 * date can hold is refused with `unauthenticated` without harming the edge.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ClientFrame, parsePosition, ServerFrame } from '@fanout/shared';
import {
  hs256Token,
  nowSeconds,
  startEdgeStack,
  TestSocket,
  type EdgeStack,
  type WsFrame,
} from '../support/index.js';
import {
  handshakeStatus,
  jsonFrame,
  metricValue,
  publishEvent,
  SseClient,
  uniqueChannel,
  waitFor,
} from '../support/edge-test-clients.js';

const secret = 'edge-token-grant-test-hs256-secret-0123';

function token(namespaces: readonly string[], exp: number, sub = 'alice'): string {
  return hs256Token(secret, { sub, fanout_subscribe: namespaces, exp });
}

type Format = 'json' | 'proto';

/** A server frame of either subprotocol as its kind and the few fields the tests read. */
interface Answer {
  readonly kind: string;
  readonly requestId?: number;
  readonly code?: string;
  readonly channel?: string;
  readonly channels?: readonly string[];
}

function answerOf(format: Format, frame: WsFrame): Answer {
  if (format === 'json') {
    const [kind, body] = jsonFrame(frame);
    const subscriptions = body['subscriptions'] as { channel: string }[] | undefined;
    return {
      kind,
      ...(typeof body['requestId'] === 'number' ? { requestId: body['requestId'] } : {}),
      ...(typeof body['code'] === 'string' ? { code: body['code'] } : {}),
      ...(typeof body['channel'] === 'string' ? { channel: body['channel'] } : {}),
      ...(subscriptions ? { channels: subscriptions.map((state) => state.channel) } : {}),
    };
  }
  const decoded = ServerFrame.decode(frame.data);
  if (decoded.event) return { kind: 'event', channel: decoded.event.channel ?? '' };
  if (decoded.subscribed) {
    return {
      kind: 'subscribed',
      requestId: decoded.subscribed.requestId ?? 0,
      channels: (decoded.subscribed.subscriptions ?? []).map((state) => state.channel ?? ''),
    };
  }
  if (decoded.error) {
    return {
      kind: 'error',
      requestId: decoded.error.requestId ?? 0,
      code: decoded.error.code ?? '',
      ...(decoded.error.channel ? { channel: decoded.error.channel } : {}),
    };
  }
  if (decoded.tokenRefreshed) {
    return { kind: 'tokenRefreshed', requestId: decoded.tokenRefreshed.requestId ?? 0 };
  }
  if (decoded.connected) return { kind: 'connected' };
  if (decoded.disconnect) return { kind: 'disconnect', code: decoded.disconnect.code ?? '' };
  if (decoded.pong) return { kind: 'pong', requestId: decoded.pong.requestId ?? 0 };
  return { kind: 'other' };
}

/** A socket of one subprotocol that sends frames by name and keeps every answer. */
class GrantClient {
  readonly socket: TestSocket;
  readonly format: Format;
  readonly seen: Answer[] = [];

  constructor(url: string, format: Format) {
    this.format = format;
    this.socket = new TestSocket(url, format === 'json' ? 'fanout.json.v1' : 'fanout.proto.v1');
  }

  send(frame: {
    subscribe?: { requestId: number; subscriptions: { channel: string; since?: string }[] };
    refreshToken?: { requestId: number; token: string };
    ping?: { requestId: number };
  }): void {
    if (this.format === 'json') {
      this.socket.sendJson(frame);
      return;
    }
    const proto = frame.subscribe
      ? {
          subscribe: {
            requestId: frame.subscribe.requestId,
            subscriptions: frame.subscribe.subscriptions.map((request) => ({
              channel: request.channel,
              ...(request.since === undefined ? {} : { since: parsePosition(request.since) }),
            })),
          },
        }
      : frame.refreshToken
        ? { refreshToken: frame.refreshToken }
        : { ping: frame.ping ?? { requestId: 0 } };
    this.socket.socket.send(ClientFrame.encode(proto).finish());
  }

  /** Takes answers until one satisfies `accept`; every answer taken is kept in `seen`. */
  async until(accept: (answer: Answer) => boolean, timeoutMs = 10_000): Promise<Answer> {
    const [found] = await this.socket.take(
      1,
      (frame) => {
        const answer = answerOf(this.format, frame);
        this.seen.push(answer);
        return accept(answer) ? answer : undefined;
      },
      timeoutMs,
    );
    if (!found) throw new Error('no answer');
    return found;
  }
}

describe('what a WebSocket or SSE client reads follows its current token', () => {
  let stack: EdgeStack;

  before(async () => {
    // One partition: events of different channels arrive in publish order.
    stack = await startEdgeStack({
      name: 'edge-token-grant',
      partitions: 1,
      edgeEnv: { FANOUT_EDGE_AUTH_REQUIRED: 'true', FANOUT_AUTH_JWT_HS256_SECRET: secret },
    });
  });

  after(() => stack.stop());

  for (const format of ['json', 'proto'] as const) {
    it(`never delivers a channel a refresh sent behind its subscribe no longer allows (${format})`, async () => {
      const rounds = 10;
      let endedAfterSubscribed = 0;
      let refusedWhenReady = 0;
      for (let round = 0; round < rounds; round++) {
        const orders = uniqueChannel('orders');
        const payments = uniqueChannel('payments');
        const since = await publishEvent(stack.ingest, orders);
        const client = new GrantClient(
          `${stack.edge.wsUrl}?token=${token(['orders'], nowSeconds() + 60)}`,
          format,
        );
        await client.socket.opened;
        await client.until((answer) => answer.kind === 'connected');
        // Back to back: the refresh is handled while the subscribe is prepared.
        client.send({ subscribe: { requestId: 1, subscriptions: [{ channel: orders, since }] } });
        client.send({
          refreshToken: { requestId: 2, token: token(['payments'], nowSeconds() + 900) },
        });
        await client.until((answer) => answer.kind === 'tokenRefreshed');
        const subscribeAnswer = (answer: Answer): boolean =>
          answer.requestId === 1 && (answer.kind === 'subscribed' || answer.kind === 'error');
        if (!client.seen.some(subscribeAnswer)) await client.until(subscribeAnswer);
        const subscribed = client.seen.find(
          (answer) => answer.kind === 'subscribed' && answer.requestId === 1,
        );
        const denied = client.seen.find(
          (answer) => answer.kind === 'error' && answer.channel === orders,
        );
        if (subscribed?.channels?.includes(orders)) {
          // Activated under the first token: the refresh must have ended it.
          const ended =
            denied ??
            (await client.until((answer) => answer.kind === 'error' && answer.channel === orders));
          assert.equal(ended.code, 'permission_denied');
          endedAfterSubscribed++;
        } else {
          assert.equal(
            denied?.code,
            'permission_denied',
            `round ${round}: ${JSON.stringify(client.seen)}`,
          );
          refusedWhenReady++;
        }

        // The new grant is served; the old one no more. One partition keeps
        // the order: the orders event comes before the payments marker.
        client.send({ subscribe: { requestId: 3, subscriptions: [{ channel: payments }] } });
        await client.until((answer) => answer.kind === 'subscribed' && answer.requestId === 3);
        await publishEvent(stack.ingest, orders);
        await publishEvent(stack.ingest, payments);
        await client.until((answer) => answer.kind === 'event' && answer.channel === payments);
        assert.deepEqual(
          client.seen.filter((answer) => answer.kind === 'event' && answer.channel === orders),
          [],
          `round ${round}: no event of ${orders} after the refresh`,
        );
        client.socket.close();
        await client.socket.closed;
      }
      assert.equal(endedAfterSubscribed + refusedWhenReady, rounds);
    });
  }

  it('ends the subscriptions a narrower refresh no longer allows and keeps the others', async () => {
    const orders = uniqueChannel('orders');
    const payments = uniqueChannel('payments');
    const client = new GrantClient(
      `${stack.edge.wsUrl}?token=${token(['orders', 'payments'], nowSeconds() + 60)}`,
      'json',
    );
    await client.socket.opened;
    client.send({
      subscribe: { requestId: 1, subscriptions: [{ channel: orders }, { channel: payments }] },
    });
    await client.until((answer) => answer.kind === 'subscribed');
    client.send({ refreshToken: { requestId: 2, token: token(['payments'], nowSeconds() + 60) } });
    const ended = await client.until((answer) => answer.kind === 'error');
    assert.deepEqual(ended, {
      kind: 'error',
      requestId: 2,
      code: 'permission_denied',
      channel: orders,
    });
    await client.until((answer) => answer.kind === 'tokenRefreshed' && answer.requestId === 2);
    await publishEvent(stack.ingest, orders);
    await publishEvent(stack.ingest, payments);
    await client.until((answer) => answer.kind === 'event' && answer.channel === payments);
    assert.deepEqual(
      client.seen.filter((answer) => answer.kind === 'event' && answer.channel === orders),
      [],
    );
    // A token of another subject is refused and changes nothing.
    client.send({
      refreshToken: { requestId: 3, token: token(['*'], nowSeconds() + 60, 'mallory') },
    });
    const other = await client.until((answer) => answer.kind === 'error');
    assert.equal(other.code, 'permission_denied');
    assert.equal(other.requestId, 3);
    client.socket.close();
    await client.socket.closed;
  });

  it('ends an SSE stream with token_expired when its token expires, with nothing after it', async () => {
    const orders = uniqueChannel('orders');
    const exp = nowSeconds() + 2;
    const stream = await SseClient.open(`${stack.edge.httpBase}/v1/channels/${orders}?watch=true`, {
      authorization: `Bearer ${token(['orders'], exp)}`,
    });
    assert.equal(stream.status, 200);
    await stream.take(1, (event) => event.event === 'subscribed');
    const rest = await stream.rest();
    assert.deepEqual(
      rest.map((event) => event.event),
      ['disconnect'],
    );
    const body = JSON.parse(rest[0]?.data ?? '{}') as Record<string, unknown>;
    assert.equal(body['code'], 'token_expired');
    assert.ok(Date.now() >= exp * 1000 - 50, 'not before the expiry');
  });

  it('answers an expired token in refreshToken with an error and keeps the connection and its token', async () => {
    const orders = uniqueChannel('orders');
    for (const format of ['json', 'proto'] as const) {
      const client = new GrantClient(
        `${stack.edge.wsUrl}?token=${token(['orders'], nowSeconds() + 60)}`,
        format,
      );
      await client.socket.opened;
      client.send({ subscribe: { requestId: 1, subscriptions: [{ channel: orders }] } });
      await client.until((answer) => answer.kind === 'subscribed');
      // Beyond the verifier's clock tolerance.
      client.send({ refreshToken: { requestId: 2, token: token(['orders'], nowSeconds() - 120) } });
      const refused = await client.until((answer) => answer.kind === 'error');
      assert.deepEqual(refused, { kind: 'error', requestId: 2, code: 'token_expired' });
      // Still open, still subscribed under the token it had.
      await publishEvent(stack.ingest, orders);
      await client.until((answer) => answer.kind === 'event' && answer.channel === orders);
      client.send({ ping: { requestId: 3 } });
      await client.until((answer) => answer.kind === 'pong' && answer.requestId === 3);
      assert.equal(client.socket.closeCode, undefined);
      client.socket.close();
      await client.socket.closed;
    }
  });

  it('serves a token that expires in months on WebSocket JSON, protobuf and SSE', async () => {
    // Past setTimeout's 24.8 days, which Node turns into 1 ms.
    const exp = nowSeconds() + 120 * 24 * 3600;
    const orders = uniqueChannel('orders');
    const clients = (['json', 'proto'] as const).map(
      (format) => new GrantClient(`${stack.edge.wsUrl}?token=${token(['orders'], exp)}`, format),
    );
    for (const client of clients) {
      await client.socket.opened;
      client.send({ subscribe: { requestId: 1, subscriptions: [{ channel: orders }] } });
      await client.until((answer) => answer.kind === 'subscribed');
    }
    const stream = await SseClient.open(`${stack.edge.httpBase}/v1/channels/${orders}?watch=true`, {
      authorization: `Bearer ${token(['orders'], exp)}`,
    });
    assert.equal(stream.status, 200);
    await stream.take(1, (event) => event.event === 'subscribed');
    // A timer that overflowed would have fired by now.
    await new Promise((resolve) => setTimeout(resolve, 200));
    await publishEvent(stack.ingest, orders);
    for (const client of clients) {
      await client.until((answer) => answer.kind === 'event' && answer.channel === orders);
      assert.equal(client.socket.closeCode, undefined);
    }
    const [event] = await stream.take(1);
    assert.equal(event?.event, 'message');
    // Refreshing to one as far out is accepted too.
    clients[0]?.send({ refreshToken: { requestId: 2, token: token(['orders'], exp + 1) } });
    await clients[0]?.until((answer) => answer.kind === 'tokenRefreshed');
    for (const client of clients) {
      client.socket.close();
      await client.socket.closed;
    }
    await stream.close();
  });

  it('refuses an exp no date can hold with unauthenticated, and the edge serves on', async () => {
    const absurd = token(['orders'], 1e13);
    const closesBefore = await metricValue(
      stack.edge.registry,
      'fanout_edge_handler_errors_total',
      {
        handler: 'ws open',
      },
    );
    const bystander = new GrantClient(
      `${stack.edge.wsUrl}?token=${token(['orders'], nowSeconds() + 60)}`,
      'json',
    );
    const orders = uniqueChannel('orders');
    await bystander.socket.opened;
    bystander.send({ subscribe: { requestId: 1, subscriptions: [{ channel: orders }] } });
    await bystander.until((answer) => answer.kind === 'subscribed');

    for (const protocol of ['fanout.json.v1', 'fanout.proto.v1']) {
      const refused = new TestSocket(`${stack.edge.wsUrl}?token=${absurd}`, protocol);
      assert.equal(await handshakeStatus(refused), 401, protocol);
    }
    const sse = await fetch(`${stack.edge.httpBase}/v1/channels/${orders}?watch=true`, {
      headers: { authorization: `Bearer ${absurd}` },
    });
    assert.equal(sse.status, 401);
    const body = (await sse.json()) as { error: { code: string } };
    assert.equal(body.error.code, 'unauthenticated');
    // In-band: an error, and the connection stays.
    bystander.send({ refreshToken: { requestId: 2, token: absurd } });
    const error = await bystander.until((answer) => answer.kind === 'error');
    assert.deepEqual(error, { kind: 'error', requestId: 2, code: 'unauthenticated' });
    const late = new TestSocket(stack.edge.wsUrl, 'fanout.json.v1');
    await late.opened;
    late.sendJson({ connect: { requestId: 1, token: absurd } });
    const [connectError] = await late.takeJson('error');
    assert.equal(connectError?.['code'], 'unauthenticated');
    late.close();

    await publishEvent(stack.ingest, orders);
    await bystander.until((answer) => answer.kind === 'event' && answer.channel === orders);
    assert.equal(
      await metricValue(stack.edge.registry, 'fanout_edge_handler_errors_total', {
        handler: 'ws open',
      }),
      closesBefore,
      'refused before any handler could fail',
    );
    bystander.socket.close();
    await bystander.socket.closed;
    await waitFor(() => stack.edge.app.server.connections() === 0, 'every connection to close');
  });
});
