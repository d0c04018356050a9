import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { refusalCode as refusal } from './testing/refusal-code.js';
import { wsJsonCodec } from './ws-json-codec.js';

const client = (text: string): unknown => wsJsonCodec.decodeClientFrame(text);
const server = (text: string): unknown => wsJsonCodec.decodeServerFrame(text);

describe('fanout.json.v1 codec', () => {
  it('reads client frames, absent fields as their protobuf defaults, positions canonical', () => {
    assert.deepEqual(client('{"ping":{}}'), { kind: 'ping', requestId: 0 });
    assert.deepEqual(client('{"refreshToken":{"requestId":null,"token":"t"}}'), {
      kind: 'refreshToken',
      requestId: 0,
      token: 't',
    });
    assert.deepEqual(client('{"unsubscribe":{"requestId":4294967295}}'), {
      kind: 'unsubscribe',
      requestId: 0xffffffff,
      channels: [],
    });
    assert.deepEqual(
      client(
        '{"subscribe":{"subscriptions":[{"channel":"a","since":"ep:1:2"},{"channel":"b","since":""}]}}',
      ),
      {
        kind: 'subscribe',
        requestId: 0,
        subscriptions: [
          { channel: 'a', since: 'ep:1:2', types: [] },
          { channel: 'b', types: [] },
        ],
      },
    );
  });

  it('refuses client frames without what a request cannot do without, or with wrong types', () => {
    for (const text of [
      '{"connect":{"requestId":1}}',
      '{"subscribe":{"requestId":1}}',
      '{"subscribe":{"subscriptions":[{"since":"ep:1:2"}]}}',
      '{"subscribe":{"subscriptions":["a"]}}',
      '{"subscribe":{"subscriptions":[{"channel":"a","types":"t"}]}}',
      '{"ping":{"requestId":-1}}',
      '{"ping":{"requestId":4294967296}}',
      '{"ping":{"requestId":1.5}}',
      '{"ping":{"requestId":"1"}}',
      '{"unsubscribe":{"channels":[1]}}',
      '{"connect":{"token":1}}',
      '{"pong":{}}',
      '{"ping":{},"connect":{}}',
    ]) {
      assert.equal(
        refusal(() => client(text)),
        'frame_invalid',
        text,
      );
    }
    assert.equal(
      refusal(() => client('{"subscribe":{"subscriptions":[{"channel":"a","since":"ep:01:2"}]}}')),
      'position_invalid',
    );
    assert.throws(() => client('{"connect":{}}'), { message: 'connect.token must be a string' });
  });

  it("reads a pattern's since as a stream cursor and a state's cursor, canonical", () => {
    assert.deepEqual(
      client('{"subscribe":{"subscriptions":[{"channel":"a.*","since":"ep:2:9,0:4"}]}}'),
      {
        kind: 'subscribe',
        requestId: 0,
        subscriptions: [{ channel: 'a.*', since: 'ep:0:4,2:9', types: [] }],
      },
    );
    assert.equal(
      refusal(() => client('{"subscribe":{"subscriptions":[{"channel":"a.*","since":"ep:0:x"}]}}')),
      'position_invalid',
    );
    assert.deepEqual(
      server(
        '{"subscribed":{"requestId":1,"subscriptions":[{"channel":"a.*","cursor":"ep:0:4,2:9"}]}}',
      ),
      {
        kind: 'subscribed',
        requestId: 1,
        subscriptions: [{ channel: 'a.*', cursor: 'ep:0:4,2:9' }],
      },
    );
  });

  it('reads server frames by the same rules', () => {
    assert.deepEqual(server('{"error":{}}'), {
      kind: 'error',
      requestId: 0,
      code: '',
      message: '',
    });
    assert.deepEqual(server('{"disconnect":{"action":"migrate"}}'), {
      kind: 'disconnect',
      closeCode: 0,
      code: '',
      message: '',
      action: 'resume',
      positions: [],
    });
    assert.deepEqual(
      server(
        '{"subscribed":{"requestId":2,"subscriptions":[{"channel":"a","position":"ep:1:-1","hint":""}]}}',
      ),
      { kind: 'subscribed', requestId: 2, subscriptions: [{ channel: 'a', position: 'ep:1:-1' }] },
    );
    for (const text of [
      '{"error":{"code":5}}',
      '{"pong":{"requestId":-1}}',
      '{"connected":{"tokenExpiresAt":"soon"}}',
      '{"tokenRefreshed":{"expiresAt":1}}',
      '{"disconnect":{"action":2}}',
      '{"subscribed":{"subscriptions":{}}}',
      '{"unsubscribed":{"channels":[null]}}',
      '{"ping":{}}',
      '{"event":{"id":"x","channel":"a"}}',
    ]) {
      assert.equal(
        refusal(() => server(text)),
        'frame_invalid',
        text,
      );
    }
    assert.equal(
      refusal(() => server('{"reset":{"requested":"ep:x:1"}}')),
      'position_invalid',
    );
    assert.throws(() => server('{"error":{"code":5}}'), {
      message: 'frame from the edge: error.code must be a string',
    });
  });

  it('writes times as RFC 3339 text, and leaves out times beyond what a Date holds', () => {
    const written = (tokenExpiresAt: number): unknown =>
      JSON.parse(
        wsJsonCodec.encodeServerFrame({
          kind: 'connected',
          requestId: 0,
          edgeId: 'e',
          tokenExpiresAt,
          pingIntervalSeconds: 25,
        }),
      );
    assert.deepEqual(written(Date.UTC(2026, 0, 1)), {
      connected: {
        requestId: 0,
        edgeId: 'e',
        tokenExpiresAt: '2026-01-01T00:00:00.000Z',
        pingIntervalSeconds: 25,
      },
    });
    assert.deepEqual(written(9e15), {
      connected: { requestId: 0, edgeId: 'e', pingIntervalSeconds: 25 },
    });
  });
});
