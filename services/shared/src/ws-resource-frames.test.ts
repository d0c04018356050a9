/**
 * The resource subscription of the WebSocket protocol (`resource` instead
 * of `channel` in a Subscribe; `resource` and `statusChannel` in the
 * SubscriptionState of `subscribed`) through both codecs, which agree.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clientRoundTrip, serverRoundTrip } from './testing/codec-round-trip.js';
import { refusalCode as refusal } from './testing/refusal-code.js';
import { ClientFrame, ServerFrame } from './proto.js';
import { wsJsonCodec } from './ws-json-codec.js';
import type { ClientMessage, ControlMessage } from './ws-messages.js';
import { wsProtoCodec } from './ws-proto-codec.js';

const url = 'https://api.example.com/tickers?symbols=A,B';
const position = 'ep:3:10';

describe('resource subscriptions in the WebSocket codecs', () => {
  it('a resource subscription request round-trips in both codecs, without a channel', () => {
    const message: ClientMessage = {
      kind: 'subscribe',
      requestId: 3,
      subscriptions: [
        { channel: '', resource: url, snapshot: true, delta: 'merge-patch', since: position },
        { channel: 'rooms.1', snapshot: true },
      ],
    };
    const expected = {
      kind: 'subscribe',
      requestId: 3,
      subscriptions: [
        {
          channel: '',
          resource: url,
          since: position,
          types: [],
          snapshot: true,
          delta: 'merge-patch',
        },
        { channel: 'rooms.1', types: [], snapshot: true },
      ],
    };
    assert.deepEqual(clientRoundTrip(message), expected);
  });

  it('reads the JSON form: "resource" instead of "channel", which is then not required', () => {
    assert.deepEqual(
      wsJsonCodec.decodeClientFrame(
        `{"subscribe":{"requestId":1,"subscriptions":[{"resource":${JSON.stringify(url)}}]}}`,
      ),
      {
        kind: 'subscribe',
        requestId: 1,
        subscriptions: [{ channel: '', resource: url, types: [] }],
      },
    );
    // Without either, the channel is missing as before; a resource must be a string.
    for (const body of ['{}', '{"resource":7}', '{"resource":"","snapshot":true}']) {
      assert.equal(
        refusal(() => wsJsonCodec.decodeClientFrame(`{"subscribe":{"subscriptions":[${body}]}}`)),
        'frame_invalid',
        body,
      );
    }
  });

  it('the proto form carries resource as field 8 of SubscriptionRequest', () => {
    const bytes = ClientFrame.encode({
      subscribe: { requestId: 2, subscriptions: [{ resource: url }] },
    }).finish();
    assert.deepEqual(wsProtoCodec.decodeClientFrame(bytes), {
      kind: 'subscribe',
      requestId: 2,
      subscriptions: [{ channel: '', resource: url, types: [] }],
    });
  });

  it('subscribed names the resource and its status channel in both codecs', () => {
    const message: ControlMessage = {
      kind: 'subscribed',
      requestId: 9,
      subscriptions: [
        {
          channel: 'resources.abc',
          position,
          resource: url,
          statusChannel: 'resources.abc.status',
          snapshot: {
            requestId: 9,
            channel: 'resources.abc',
            position,
            exists: true,
            state: '{"a":1}',
            reset: false,
          },
        },
        { channel: 'rooms.1', position },
      ],
    };
    const expected = {
      kind: 'subscribed',
      requestId: 9,
      subscriptions: [
        {
          channel: 'resources.abc',
          position,
          resource: url,
          statusChannel: 'resources.abc.status',
          snapshot: {
            requestId: 9,
            channel: 'resources.abc',
            position,
            exists: true,
            state: { a: 1 },
            reset: false,
          },
        },
        { channel: 'rooms.1', position },
      ],
    };
    assert.deepEqual(serverRoundTrip(message), expected);
    const frame = ServerFrame.decode(wsProtoCodec.encodeServerFrame(message));
    assert.equal(frame.subscribed?.subscriptions?.[0]?.statusChannel, 'resources.abc.status');
    assert.equal(frame.subscribed?.subscriptions?.[1]?.resource, '');
  });
});
