import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeJsonFrame, encodeJsonFrame } from './json-wire-format.js';
import { decodeProtoFrame, encodeProtoFrame } from './proto-wire-format.js';
import { ClientFrame, ServerFrame } from '@fanout/shared/portable';

describe('wire formats', () => {
  it('writes JSON client frames as one-key objects', () => {
    const text = encodeJsonFrame({
      kind: 'subscribe',
      requestId: 3,
      subscriptions: [{ channel: 'a.b', since: 'ep:1:2', types: ['t'] }],
    });
    assert.deepEqual(JSON.parse(text), {
      subscribe: {
        requestId: 3,
        subscriptions: [{ channel: 'a.b', since: 'ep:1:2', types: ['t'] }],
      },
    });
  });

  it('reads JSON events, disconnects and token expiry', () => {
    const event = decodeJsonFrame(
      JSON.stringify({
        event: {
          id: 'x',
          channel: 'a.b',
          type: 't',
          data: { n: 1 },
          contentType: 'application/json',
          time: '2026-01-01T00:00:00.000Z',
          headers: {},
          producer: 'p',
          position: 'ep:1:2',
        },
      }),
    );
    assert.equal(event.kind, 'event');
    assert.deepEqual(event.kind === 'event' ? event.event.data : undefined, { n: 1 });
    const disconnect = decodeJsonFrame(
      JSON.stringify({
        disconnect: {
          closeCode: 4200,
          code: 'draining',
          message: 'bye',
          action: 'resume_elsewhere',
          hint: 'http://127.0.0.1:1',
          positions: [{ channel: 'a.b', position: 'ep:1:2' }],
        },
      }),
    );
    assert.deepEqual(disconnect, {
      kind: 'disconnect',
      closeCode: 4200,
      code: 'draining',
      message: 'bye',
      action: 'resume_elsewhere',
      hint: 'http://127.0.0.1:1',
      positions: [{ channel: 'a.b', position: 'ep:1:2' }],
    });
    const connected = decodeJsonFrame(
      '{"connected":{"requestId":1,"edgeId":"e","tokenExpiresAt":"2026-01-01T00:00:00.000Z","pingIntervalSeconds":25}}',
    );
    assert.equal(
      connected.kind === 'connected' ? connected.tokenExpiresAt : 0,
      Date.UTC(2026, 0, 1),
    );
  });

  it('refuses frames it cannot read with frame_invalid', () => {
    assert.throws(() => decodeJsonFrame('{"event":{}}'), { code: 'frame_invalid' });
    assert.throws(() => decodeJsonFrame('[]'), { code: 'frame_invalid' });
    assert.throws(() => decodeProtoFrame(new Uint8Array([0xff, 0xff])), { code: 'frame_invalid' });
  });

  it('speaks the same frames in protobuf', () => {
    const bytes = encodeProtoFrame({
      kind: 'subscribe',
      requestId: 7,
      subscriptions: [{ channel: 'a.b', since: 'ep:1:2' }],
    });
    const decoded = ClientFrame.decode(bytes);
    assert.equal(decoded.subscribe?.subscriptions?.[0]?.since?.offset, 2);
    const frame = ServerFrame.encode({
      event: {
        id: 'x',
        channel: 'a.b',
        type: 't',
        data: new TextEncoder().encode('{"n":1}'),
        contentType: 'application/json',
        position: { epoch: 'ep', partition: 1, offset: 2 },
      },
    }).finish();
    const message = decodeProtoFrame(frame);
    assert.equal(message.kind, 'event');
    if (message.kind === 'event') {
      assert.deepEqual(message.event.data, { n: 1 });
      assert.equal(message.event.position, 'ep:1:2');
    }
  });
  it('reads the owner hint of subscribed answers in both formats', () => {
    const json = decodeJsonFrame(
      JSON.stringify({
        subscribed: {
          requestId: 1,
          subscriptions: [
            { channel: 'a.b', position: 'ep:1:2', hint: 'http://edge-1:8081' },
            { channel: 'a.c', position: 'ep:2:0' },
          ],
        },
      }),
    );
    assert.deepEqual(json.kind === 'subscribed' ? json.subscriptions : undefined, [
      { channel: 'a.b', position: 'ep:1:2', hint: 'http://edge-1:8081' },
      { channel: 'a.c', position: 'ep:2:0' },
    ]);
    const proto = decodeProtoFrame(
      ServerFrame.encode({
        subscribed: {
          requestId: 1,
          subscriptions: [
            { channel: 'a.b', hint: 'http://edge-1:8081' },
            { channel: 'a.c', hint: '' },
          ],
        },
      }).finish(),
    );
    assert.deepEqual(proto.kind === 'subscribed' ? proto.subscriptions : undefined, [
      { channel: 'a.b', hint: 'http://edge-1:8081' },
      { channel: 'a.c' },
    ]);
  });
});
