/**
 * The state frames of the WebSocket protocol (a state subscription's
 * request, its snapshot in `subscribed`, `snapshot`, `patch`,
 * `stateChangeRefused`) through both codecs: the edge writes documents and
 * patches as JSON text, a client reads them back as values, the same in
 * `fanout.json.v1` and `fanout.proto.v1`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clientRoundTrip, serverRoundTrip } from './testing/codec-round-trip.js';
import { refusalCode as refusal } from './testing/refusal-code.js';
import { ClientFrame, pb, ServerFrame } from './proto.js';
import { wsJsonCodec } from './ws-json-codec.js';
import type { ClientMessage, ControlMessage } from './ws-messages.js';
import { wsProtoCodec } from './ws-proto-codec.js';

const p1 = 'ep:3:10';
const p2 = 'ep:3:12';

describe('state frames of the WebSocket codecs', () => {
  it('a state subscription request round-trips in both codecs', () => {
    const message: ClientMessage = {
      kind: 'subscribe',
      requestId: 7,
      subscriptions: [
        { channel: 'rooms.1', since: p1, snapshot: true, delta: 'merge-patch' },
        { channel: 'rooms.2', snapshot: true, delta: 'full' },
        { channel: 'rooms.3', snapshot: true },
        { channel: 'rooms.4', rewind: 5 },
      ],
    };
    const expected = {
      kind: 'subscribe',
      requestId: 7,
      subscriptions: [
        { channel: 'rooms.1', since: p1, types: [], snapshot: true, delta: 'merge-patch' },
        { channel: 'rooms.2', types: [], snapshot: true, delta: 'full' },
        { channel: 'rooms.3', types: [], snapshot: true },
        { channel: 'rooms.4', types: [], rewind: 5 },
      ],
    };
    assert.deepEqual(clientRoundTrip(message), expected);
  });

  it('reads the JSON names of a state subscription and refuses unknown ones', () => {
    assert.deepEqual(
      wsJsonCodec.decodeClientFrame(
        '{"subscribe":{"requestId":1,"subscriptions":[{"channel":"a","snapshot":true,"delta":"json-patch"}]}}',
      ),
      {
        kind: 'subscribe',
        requestId: 1,
        subscriptions: [{ channel: 'a', types: [], snapshot: true, delta: 'json-patch' }],
      },
    );
    for (const body of [
      '{"channel":"a","snapshot":true,"delta":"diff"}',
      '{"channel":"a","snapshot":"yes"}',
      '{"channel":"a","rewind":-1}',
    ]) {
      assert.equal(
        refusal(() => wsJsonCodec.decodeClientFrame(`{"subscribe":{"subscriptions":[${body}]}}`)),
        'frame_invalid',
        body,
      );
    }
    // A value this codec does not know (a newer client's), written past the enum's type.
    const request = pb.SubscriptionRequest.create({ channel: 'a', snapshot: true });
    Object.assign(request, { delta: 9 });
    const unknownDelta = ClientFrame.encode({ subscribe: { subscriptions: [request] } }).finish();
    assert.equal(
      refusal(() => wsProtoCodec.decodeClientFrame(unknownDelta)),
      'frame_invalid',
    );
    // STATE_DELTA_UNSPECIFIED is an absent delta, as in JSON.
    const unspecified = ClientFrame.encode({
      subscribe: {
        subscriptions: [
          { channel: 'a', snapshot: true, delta: pb.StateDelta.STATE_DELTA_UNSPECIFIED },
        ],
      },
    }).finish();
    assert.deepEqual(wsProtoCodec.decodeClientFrame(unspecified), {
      kind: 'subscribe',
      requestId: 0,
      subscriptions: [{ channel: 'a', types: [], snapshot: true }],
    });
  });

  it('a subscribed frame carries the snapshots, documents written as they are', () => {
    const message: ControlMessage = {
      kind: 'subscribed',
      requestId: 4,
      subscriptions: [
        {
          channel: 'rooms.1',
          position: p1,
          snapshot: {
            requestId: 4,
            channel: 'rooms.1',
            position: p1,
            exists: true,
            state: '{"title":"Lobby","n":[1,2]}',
            reset: false,
          },
        },
        {
          channel: 'rooms.2',
          position: p2,
          snapshot: {
            requestId: 4,
            channel: 'rooms.2',
            position: p2,
            exists: false,
            reset: true,
          },
        },
        { channel: 'rooms.3', position: p1 },
        { channel: 'events.1', position: p2, hint: 'http://edge-2:8080' },
      ],
    };
    const text = wsJsonCodec.encodeServerFrame(message);
    assert.deepEqual(JSON.parse(text), {
      subscribed: {
        requestId: 4,
        subscriptions: [
          {
            channel: 'rooms.1',
            position: p1,
            snapshot: {
              requestId: 4,
              channel: 'rooms.1',
              position: p1,
              exists: true,
              state: { title: 'Lobby', n: [1, 2] },
              reset: false,
            },
          },
          {
            channel: 'rooms.2',
            position: p2,
            snapshot: {
              requestId: 4,
              channel: 'rooms.2',
              position: p2,
              exists: false,
              state: null,
              reset: true,
            },
          },
          { channel: 'rooms.3', position: p1 },
          { channel: 'events.1', position: p2, hint: 'http://edge-2:8080' },
        ],
      },
    });
    const decoded = serverRoundTrip(message);
    assert.deepEqual(decoded, {
      kind: 'subscribed',
      requestId: 4,
      subscriptions: [
        {
          channel: 'rooms.1',
          position: p1,
          snapshot: {
            requestId: 4,
            channel: 'rooms.1',
            position: p1,
            exists: true,
            state: { title: 'Lobby', n: [1, 2] },
            reset: false,
          },
        },
        {
          channel: 'rooms.2',
          position: p2,
          snapshot: { requestId: 4, channel: 'rooms.2', position: p2, exists: false, reset: true },
        },
        { channel: 'rooms.3', position: p1 },
        { channel: 'events.1', position: p2, hint: 'http://edge-2:8080' },
      ],
    });
    // The protobuf frame holds the canonical JSON bytes of the document.
    const proto = ServerFrame.decode(wsProtoCodec.encodeServerFrame(message));
    const first = proto.subscribed?.subscriptions?.[0]?.snapshot;
    assert.equal(
      Buffer.from(first?.state ?? new Uint8Array(0)).toString('utf8'),
      '{"title":"Lobby","n":[1,2]}',
    );
  });

  it('a reset snapshot frame round-trips, a null document included', () => {
    assert.deepEqual(
      serverRoundTrip({
        kind: 'snapshot',
        requestId: 0,
        channel: 'rooms.1',
        position: p2,
        exists: true,
        state: 'null',
        reset: true,
      }),
      {
        kind: 'snapshot',
        requestId: 0,
        channel: 'rooms.1',
        position: p2,
        exists: true,
        state: null,
        reset: true,
      },
    );
    assert.equal(
      wsJsonCodec.encodeServerFrame({
        kind: 'snapshot',
        requestId: 0,
        channel: 'c',
        position: p1,
        exists: false,
        reset: true,
      }),
      `{"snapshot":{"requestId":0,"channel":"c","position":"${p1}","exists":false,"state":null,"reset":true}}`,
    );
  });

  it('patch frames of every delta round-trip', () => {
    const cases: {
      delta: 'json-patch' | 'merge-patch' | 'full';
      patch?: string;
      exists: boolean;
    }[] = [
      {
        delta: 'json-patch',
        patch: '[{"op":"replace","path":"/title","value":"Hall"}]',
        exists: true,
      },
      { delta: 'json-patch', patch: '[{"op":"remove","path":""}]', exists: false },
      { delta: 'merge-patch', patch: '{"title":"Hall","gone":null}', exists: true },
      { delta: 'full', patch: '{"title":"Hall"}', exists: true },
      { delta: 'full', exists: false },
    ];
    for (const { delta, patch, exists } of cases) {
      const message: ControlMessage = {
        kind: 'patch',
        channel: 'rooms.1',
        position: p2,
        base: p1,
        delta,
        ...(patch === undefined ? {} : { patch }),
        exists,
      };
      const text = wsJsonCodec.encodeServerFrame(message);
      assert.deepEqual(JSON.parse(text), {
        patch: {
          channel: 'rooms.1',
          position: p2,
          base: p1,
          delta,
          patch: patch === undefined ? null : (JSON.parse(patch) as unknown),
          exists,
        },
      });
      assert.deepEqual(serverRoundTrip(message), {
        kind: 'patch',
        channel: 'rooms.1',
        position: p2,
        base: p1,
        delta,
        ...(patch === undefined ? {} : { patch: JSON.parse(patch) as unknown }),
        exists,
      });
    }
  });

  it('a patch frame without its patch, or with bytes that are not JSON, is refused', () => {
    assert.equal(
      refusal(() =>
        wsJsonCodec.decodeServerFrame(
          `{"patch":{"channel":"c","position":"${p2}","base":"${p1}","delta":"json-patch","exists":true}}`,
        ),
      ),
      'frame_invalid',
    );
    const bytes = ServerFrame.encode({
      patch: {
        channel: 'c',
        delta: pb.StateDelta.STATE_DELTA_JSON_PATCH,
        patch: Buffer.from('{"a":'),
        exists: true,
      },
    }).finish();
    assert.equal(
      refusal(() => wsProtoCodec.decodeServerFrame(bytes)),
      'frame_invalid',
    );
  });

  it('a stateChangeRefused frame round-trips', () => {
    const message: ControlMessage = {
      kind: 'stateChangeRefused',
      channel: 'rooms.1',
      position: p2,
      reason: 'too-large',
      message: 'the document would be 300000 bytes, over 262144',
    };
    assert.deepEqual(JSON.parse(wsJsonCodec.encodeServerFrame(message)), {
      stateChangeRefused: {
        channel: 'rooms.1',
        position: p2,
        reason: 'too-large',
        message: 'the document would be 300000 bytes, over 262144',
      },
    });
    assert.deepEqual(serverRoundTrip(message), message);
  });
});
