import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FanoutError } from '@fanout/shared/portable-core';
import { longPollTransport } from './long-poll-transport.js';
import { sseTransport } from './sse-transport.js';
import type { ResetInfo, Transport, TransportClose, TransportListener } from './transport.js';

/** What a connection told its listener. */
class Recorder implements TransportListener {
  readonly opens: number[] = [];
  readonly failures: { channel: string; code: string }[] = [];
  readonly resets: ResetInfo[] = [];
  readonly closes: TransportClose[] = [];
  #settled: () => void = () => {};
  readonly settled = new Promise<void>((resolve) => {
    this.#settled = resolve;
  });

  opened(): void {
    this.opens.push(1);
  }
  subscribed(): void {}
  resourceSubscribed(): void {}
  event(): void {}
  stateSnapshot(): void {}
  statePatch(): void {}
  stateRefused(): void {}
  reset(reset: ResetInfo): void {
    this.resets.push(reset);
    this.#settled();
  }
  failed(channel: string, error: FanoutError): void {
    this.failures.push({ channel, code: error.code });
    this.#settled();
  }
  closed(close: TransportClose): void {
    this.closes.push(close);
    this.#settled();
  }
}

/** A `fetch` that answers every request with `status` and the catalog body of `code` (or an HTML page). */
function answering(status: number, code?: string, details?: Record<string, unknown>): Fetch {
  return () =>
    Promise.resolve(
      code === undefined
        ? new Response('<html>bad gateway</html>', {
            status,
            headers: { 'content-type': 'text/html' },
          })
        : new Response(JSON.stringify({ error: { code, message: code, details } }), {
            status,
            headers: { 'content-type': 'application/json' },
          }),
    );
}

type Fetch = typeof fetch;

const transports: readonly [string, (answer: Fetch) => Transport][] = [
  ['sse', (answer) => sseTransport({ fetch: answer, connectTimeoutMs: 5000 })],
  [
    'long-poll',
    (answer) => longPollTransport({ fetch: answer, connectTimeoutMs: 5000, waitSeconds: 1 }),
  ],
];

async function subscribeOnce(
  transport: Transport,
  channel: string,
  since?: string,
): Promise<Recorder> {
  const listener = new Recorder();
  const connection = transport.connect({
    edge: 'http://127.0.0.1:1',
    token: () => 'token',
    listener,
  });
  connection.subscribe([{ channel, ...(since === undefined ? {} : { since }) }]);
  await listener.settled;
  connection.close();
  return listener;
}

describe('HTTP transports: what a failed answer ends', () => {
  for (const [name, make] of transports) {
    it(`${name}: an answer without the catalog body resumes, as not opened`, async () => {
      const listener = await subscribeOnce(make(answering(502)), 'a.b');
      assert.equal(listener.closes.length, 1);
      assert.equal(listener.closes[0]?.action, 'resume');
      assert.equal(listener.closes[0]?.neverOpened, true);
      assert.equal(listener.closes[0]?.error.details['catalogBody'], false);
    });

    it(`${name}: an error of the whole client stops the connection`, async () => {
      const listener = await subscribeOnce(make(answering(401, 'unauthenticated')), 'a.b');
      assert.deepEqual(
        listener.closes.map((close) => [close.action, close.error.code]),
        [['stop', 'unauthenticated']],
      );
    });

    it(`${name}: an error of one subscription fails only it`, async () => {
      const listener = await subscribeOnce(make(answering(403, 'permission_denied')), 'a.b');
      assert.deepEqual(listener.failures, [{ channel: 'a.b', code: 'permission_denied' }]);
      assert.deepEqual(listener.closes, []);
    });

    it(`${name}: a move to another edge resumes there, with the hint`, async () => {
      const listener = await subscribeOnce(
        make(answering(503, 'rebalance', { hint: 'http://127.0.0.1:2' })),
        'a.b',
      );
      assert.deepEqual(
        listener.closes.map((close) => [close.action, close.error.code, close.hint]),
        [['resume_elsewhere', 'rebalance', 'http://127.0.0.1:2']],
      );
    });

    it(`${name}: any other error resumes`, async () => {
      const listener = await subscribeOnce(make(answering(500, 'internal')), 'a.b');
      assert.deepEqual(
        listener.closes.map((close) => [close.action, close.error.code]),
        [['resume', 'internal']],
      );
    });
  }

  it('long-poll: a position the edge cannot serve is a reset of that channel', async () => {
    const [, make] = transports[1] ?? [];
    assert.ok(make);
    const listener = await subscribeOnce(
      make(answering(410, 'position_too_old', { earliest: 'ep:0:5' })),
      'a.b',
      'ep:0:1',
    );
    assert.deepEqual(listener.resets, [
      { code: 'position_too_old', channel: 'a.b', requested: 'ep:0:1', earliest: 'ep:0:5' },
    ]);
    assert.deepEqual(listener.closes, []);
  });

  it('long-poll: a pattern fails without a request', async () => {
    const [, make] = transports[1] ?? [];
    assert.ok(make);
    let requests = 0;
    const listener = await subscribeOnce(
      make(() => {
        requests++;
        return Promise.reject(new Error('no request expected'));
      }),
      'a.*',
    );
    assert.deepEqual(listener.failures, [{ channel: 'a.*', code: 'invalid_argument' }]);
    assert.equal(requests, 0);
  });
});
