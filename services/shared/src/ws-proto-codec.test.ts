import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { refusalCode as refusal } from './testing/refusal-code.js';
import { ClientFrame, DisconnectAction, encodeEvent, ServerFrame } from './proto.js';
import { encodeEventFrame } from './proto-event-frame.js';
import { wsProtoCodec } from './ws-proto-codec.js';

const connect = ClientFrame.encode({ connect: { requestId: 3, token: 'jwt' } }).finish();
const subscribed = ServerFrame.encode({
  subscribed: {
    requestId: 4,
    subscriptions: [{ channel: 'a.b', position: { epoch: 'ep', partition: 1, offset: 2 } }],
  },
}).finish();

describe('fanout.proto.v1 codec', () => {
  it('reads every client frame kind the generated class writes', () => {
    const decode = (frame: object): unknown =>
      wsProtoCodec.decodeClientFrame(ClientFrame.encode(frame).finish());
    assert.deepEqual(decode({ connect: { requestId: 3, token: 'jwt' } }), {
      kind: 'connect',
      requestId: 3,
      token: 'jwt',
    });
    assert.deepEqual(decode({ refreshToken: { token: 't' } }), {
      kind: 'refreshToken',
      requestId: 0,
      token: 't',
    });
    assert.deepEqual(decode({ ping: {} }), { kind: 'ping', requestId: 0 });
    assert.deepEqual(decode({ unsubscribe: { requestId: 1, channels: ['a'] } }), {
      kind: 'unsubscribe',
      requestId: 1,
      channels: ['a'],
    });
    assert.deepEqual(
      decode({
        subscribe: {
          requestId: 2,
          subscriptions: [
            { channel: 'a.b', since: { epoch: 'ep', partition: 1, offset: -1 }, types: ['t'] },
            { channel: 'a.*' },
          ],
        },
      }),
      {
        kind: 'subscribe',
        requestId: 2,
        subscriptions: [
          { channel: 'a.b', since: 'ep:1:-1', types: ['t'] },
          { channel: 'a.*', types: [] },
        ],
      },
    );
  });

  it('writes control frames the generated class reads, disconnect actions as the enum', () => {
    const frame = ServerFrame.decode(
      wsProtoCodec.encodeServerFrame({
        kind: 'disconnect',
        closeCode: 4200,
        code: 'draining',
        message: 'bye',
        action: 'resume_elsewhere',
        hint: 'http://edge-1:8081',
        positions: [{ channel: 'a.b', position: 'ep:1:2' }],
      }),
    );
    assert.equal(frame.disconnect?.action, DisconnectAction.DISCONNECT_ACTION_RESUME_ELSEWHERE);
    assert.equal(frame.disconnect?.positions?.[0]?.position?.offset, 2);
    assert.equal(frame.disconnect?.hint, 'http://edge-1:8081');
  });

  it('reads the event frame the edge builds from a Kafka record', () => {
    const value = encodeEvent({
      id: 'x',
      channel: 'a.b',
      data: new TextEncoder().encode('{"n":1}'),
      contentType: 'application/json',
      time: { seconds: 1, nanos: 5_000_000 },
    });
    const message = wsProtoCodec.decodeServerFrame(
      encodeEventFrame(value, { epoch: 'ep', partition: 1, offset: 2 }),
    );
    assert.equal(message.kind, 'event');
    if (message.kind === 'event') {
      assert.deepEqual(message.event.data, { n: 1 });
      assert.equal(message.event.position, 'ep:1:2');
      assert.equal(message.event.time, '1970-01-01T00:00:01.005Z');
    }
  });

  it('leaves out times beyond what a Date holds, in both directions', () => {
    const frame = ServerFrame.decode(
      wsProtoCodec.encodeServerFrame({
        kind: 'connected',
        requestId: 0,
        edgeId: 'e',
        tokenExpiresAt: 9e15,
        pingIntervalSeconds: 25,
      }),
    );
    assert.equal(frame.connected?.tokenExpiresAt, null);
    const read = wsProtoCodec.decodeServerFrame(
      ServerFrame.encode({
        tokenRefreshed: { requestId: 1, expiresAt: { seconds: 1e13 } },
      }).finish(),
    );
    assert.deepEqual(read, { kind: 'tokenRefreshed', requestId: 1 });
  });

  it('refuses truncated frames and lengths past the end with frame_invalid', () => {
    for (const bytes of [connect, subscribed]) {
      for (let length = 1; length < bytes.length; length++) {
        const truncated = bytes.subarray(0, length);
        const decode =
          bytes === connect
            ? () => wsProtoCodec.decodeClientFrame(truncated)
            : () => wsProtoCodec.decodeServerFrame(truncated);
        assert.equal(refusal(decode), 'frame_invalid', `${length} of ${bytes.length} bytes`);
      }
    }
    // Field 1, length-delimited, of 2^32 - 1 bytes.
    const huge = new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x08, 0x01]);
    assert.equal(
      refusal(() => wsProtoCodec.decodeClientFrame(huge)),
      'frame_invalid',
    );
    assert.equal(
      refusal(() => wsProtoCodec.decodeServerFrame(huge)),
      'frame_invalid',
    );
    assert.equal(
      refusal(() => wsProtoCodec.decodeServerFrame(new Uint8Array([0xff, 0xff]))),
      'frame_invalid',
    );
  });

  it('refuses wrong wire types: a frame field that is not a message is not a frame', () => {
    // ClientFrame.connect (field 1) and ServerFrame.connected as a varint.
    const varint = new Uint8Array([0x08, 0x01]);
    assert.equal(
      refusal(() => wsProtoCodec.decodeClientFrame(varint)),
      'frame_invalid',
    );
    assert.equal(
      refusal(() => wsProtoCodec.decodeServerFrame(varint)),
      'frame_invalid',
    );
    // Wire types 6 and 7 do not exist; 3 opens a group that never ends.
    for (const key of [(1 << 3) | 6, (1 << 3) | 7, (1 << 3) | 3]) {
      const bytes = new Uint8Array([key, 0x00]);
      assert.equal(
        refusal(() => wsProtoCodec.decodeClientFrame(bytes)),
        'frame_invalid',
      );
      assert.equal(
        refusal(() => wsProtoCodec.decodeServerFrame(bytes)),
        'frame_invalid',
      );
    }
  });

  it('skips unknown fields, as the contract allows them to be added, but not an unknown kind', () => {
    // Unknown field 15 (varint) before a known frame: read as the frame alone.
    const withUnknown = new Uint8Array([0x78, 0x07, ...connect]);
    assert.deepEqual(wsProtoCodec.decodeClientFrame(withUnknown), {
      kind: 'connect',
      requestId: 3,
      token: 'jwt',
    });
    assert.equal(
      wsProtoCodec.decodeServerFrame(new Uint8Array([0x78, 0x07, ...subscribed])).kind,
      'subscribed',
    );
    // A frame of only an unknown kind (field 20, a message) is empty to this reader.
    const unknownKind = new Uint8Array([0xa2, 0x01, 0x00]);
    assert.equal(
      refusal(() => wsProtoCodec.decodeClientFrame(unknownKind)),
      'frame_invalid',
    );
    assert.equal(
      refusal(() => wsProtoCodec.decodeServerFrame(unknownKind)),
      'frame_invalid',
    );
    assert.equal(
      refusal(() => wsProtoCodec.decodeClientFrame(new Uint8Array(0))),
      'frame_invalid',
    );
  });

  it('checks positions as strictly as their text form', () => {
    const bad = ClientFrame.encode({
      subscribe: { subscriptions: [{ channel: 'a', since: { epoch: '', offset: 1 } }] },
    }).finish();
    assert.equal(
      refusal(() => wsProtoCodec.decodeClientFrame(bad)),
      'position_invalid',
    );
    const negative = ServerFrame.encode({
      reset: { requested: { epoch: 'ep', partition: -1 }, earliest: { epoch: 'ep' } },
    }).finish();
    assert.equal(
      refusal(() => wsProtoCodec.decodeServerFrame(negative)),
      'position_invalid',
    );
    const noPosition = ServerFrame.encode({ event: { id: 'x', channel: 'a' } }).finish();
    assert.equal(
      refusal(() => wsProtoCodec.decodeServerFrame(noPosition)),
      'frame_invalid',
    );
  });

  it("carries a pattern's stream cursor both ways: since_cursor and the states' cursor", () => {
    const request = wsProtoCodec.encodeClientFrame({
      kind: 'subscribe',
      requestId: 7,
      subscriptions: [
        { channel: 'a.*', since: 'ep:0:4,2:9' },
        { channel: 'a.b', since: 'ep:1:3' },
      ],
    });
    const decoded = ClientFrame.decode(request);
    const [pattern, channel] = decoded.subscribe?.subscriptions ?? [];
    assert.equal(pattern?.sinceCursor, 'ep:0:4,2:9');
    assert.equal(pattern?.since, null);
    assert.equal(channel?.sinceCursor, '');
    assert.equal(channel?.since?.offset, 3);
    assert.deepEqual(wsProtoCodec.decodeClientFrame(request), {
      kind: 'subscribe',
      requestId: 7,
      subscriptions: [
        { channel: 'a.*', since: 'ep:0:4,2:9', types: [] },
        { channel: 'a.b', since: 'ep:1:3', types: [] },
      ],
    });
    const bad = ClientFrame.encode({
      subscribe: { subscriptions: [{ channel: 'a.*', sinceCursor: 'ep:0:x' }] },
    }).finish();
    assert.equal(
      refusal(() => wsProtoCodec.decodeClientFrame(bad)),
      'position_invalid',
    );
    const answer = wsProtoCodec.encodeServerFrame({
      kind: 'subscribed',
      requestId: 7,
      subscriptions: [{ channel: 'a.*', cursor: 'ep:0:4,2:9' }],
    });
    assert.equal(ServerFrame.decode(answer).subscribed?.subscriptions?.[0]?.cursor, 'ep:0:4,2:9');
    assert.deepEqual(wsProtoCodec.decodeServerFrame(answer), {
      kind: 'subscribed',
      requestId: 7,
      subscriptions: [{ channel: 'a.*', cursor: 'ep:0:4,2:9' }],
    });
  });

  it('refuses a string field that is not UTF-8', () => {
    // Connect { token: 0xff 0xfe }.
    const bytes = new Uint8Array([0x0a, 0x04, 0x12, 0x02, 0xff, 0xfe]);
    assert.equal(
      refusal(() => wsProtoCodec.decodeClientFrame(bytes)),
      'frame_invalid',
    );
    // Error { code: 0xff 0xfe } from the edge.
    const error = new Uint8Array([0x2a, 0x04, 0x12, 0x02, 0xff, 0xfe]);
    assert.equal(
      refusal(() => wsProtoCodec.decodeServerFrame(error)),
      'frame_invalid',
    );
  });
});
