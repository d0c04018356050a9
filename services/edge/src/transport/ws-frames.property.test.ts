import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ClientFrame, isFanoutError, parsePosition, ServerFrame } from '@fanout/shared';
import fc from 'fast-check';
import { decodeClientFrame, encodeServerFrame, type ClientMessage } from './ws-frames.js';

const numRuns = 400;

/** A copy of the bytes in an ArrayBuffer of their own (a Buffer may be a view of a pool). */
function arrayBufferOf(bytes: Uint8Array): ArrayBuffer {
  return Uint8Array.from(bytes).buffer;
}

/** Decodes, or checks that the frame was refused with a typed error of the frame. */
function decodedOrRefused(
  format: 'json' | 'proto',
  bytes: Uint8Array,
  isBinary: boolean,
): ClientMessage | undefined {
  try {
    return decodeClientFrame(format, arrayBufferOf(bytes), isBinary);
  } catch (error) {
    assert.ok(isFanoutError(error), `not a FanoutError: ${String(error)}`);
    assert.ok(
      error.code === 'frame_invalid' || error.code === 'position_invalid',
      `unexpected code ${error.code}`,
    );
    assert.ok(error.message.length < 400, 'the message does not echo the frame');
    return undefined;
  }
}

function assertWellFormed(message: ClientMessage): void {
  assert.ok(Number.isInteger(message.requestId));
  assert.ok(message.requestId >= 0 && message.requestId <= 0xffffffff);
  switch (message.kind) {
    case 'connect':
    case 'refreshToken':
      assert.equal(typeof message.token, 'string');
      break;
    case 'unsubscribe':
      assert.ok(message.channels.every((channel) => typeof channel === 'string'));
      break;
    case 'subscribe':
      for (const request of message.subscriptions) {
        assert.equal(typeof request.channel, 'string');
        assert.ok(request.types.every((type) => typeof type === 'string'));
        if (request.since !== undefined) parsePosition(request.since);
      }
      break;
    case 'ping':
      break;
  }
}

const utf8 = new TextEncoder();
const anyValue = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom(-1, 2 ** 32, 1.5, 'e:1:2', 'x', [], {}, null, [null], ['a', 1]),
);
/** JSON frames near the grammar: known and unknown names, fields of every type. */
const nearJsonFrame = fc
  .record({
    name: fc.constantFrom('connect', 'subscribe', 'unsubscribe', 'ping', 'refreshToken', 'pong'),
    requestId: anyValue,
    token: anyValue,
    channels: anyValue,
    subscriptions: fc.oneof(
      anyValue,
      fc.array(
        fc.record(
          {
            channel: fc.oneof(fc.constantFrom('orders', 'orders.*'), anyValue),
            since: fc.oneof(fc.constantFrom('e:0:1', 'e:0:-1', 'e:00:1', ''), anyValue),
            types: anyValue,
          },
          { requiredKeys: [] },
        ),
        { maxLength: 4 },
      ),
    ),
  })
  .map(({ name, ...body }) => JSON.stringify({ [name]: body }));

describe('WebSocket client frames (properties)', () => {
  it('any text on fanout.json.v1 decodes to a well-formed message or is refused', () => {
    fc.assert(
      fc.property(
        fc.oneof(nearJsonFrame, fc.json({ maxDepth: 3 }), fc.string({ unit: 'binary' })),
        (text) => {
          const message = decodedOrRefused('json', utf8.encode(text), false);
          if (message) assertWellFormed(message);
        },
      ),
      { numRuns },
    );
  });

  it('any bytes on fanout.proto.v1 decode to a well-formed message or are refused', () => {
    const encoded = fc
      .record({
        requestId: fc.nat(),
        channel: fc.string({ maxLength: 10 }),
        epoch: fc.string({ maxLength: 10 }),
        partition: fc.integer(),
        offset: fc.integer({ min: -5, max: Number.MAX_SAFE_INTEGER }),
      })
      .map(({ requestId, channel, epoch, partition, offset }) =>
        ClientFrame.encode({
          subscribe: {
            requestId,
            subscriptions: [{ channel, since: { epoch, partition, offset } }],
          },
        }).finish(),
      );
    fc.assert(
      fc.property(
        fc.oneof(fc.uint8Array({ maxLength: 200 }), encoded),
        fc.integer({ min: 0, max: 40 }),
        fc.nat(255),
        (bytes, at, value) => {
          // Flip one byte of an encoded frame (or of random bytes) to reach the decoder's edges.
          const mutated = bytes.slice();
          if (mutated.length > 0) mutated[at % mutated.length] = value;
          for (const frame of [bytes, mutated]) {
            const message = decodedOrRefused('proto', frame, true);
            if (message) assertWellFormed(message);
          }
        },
      ),
      { numRuns },
    );
  });

  it('a frame of the other kind (text on proto, binary on json) is refused', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 50 }), (bytes) => {
        assert.equal(decodedOrRefused('json', bytes, true), undefined);
        assert.equal(decodedOrRefused('proto', bytes, false), undefined);
      }),
      { numRuns: 100 },
    );
  });

  it('every control frame the edge builds is one JSON object of one key, or a ServerFrame', () => {
    fc.assert(
      fc.property(
        fc.nat(0xffffffff),
        fc.string(),
        fc.array(fc.record({ channel: fc.string(), position: fc.constant('e:1:2') })),
        (requestId, text, subscriptions) => {
          for (const message of [
            { kind: 'pong', requestId } as const,
            { kind: 'error', requestId, code: 'frame_invalid', message: text } as const,
            { kind: 'subscribed', requestId, subscriptions } as const,
          ]) {
            const json = encodeServerFrame('json', message);
            assert.equal(typeof json, 'string');
            assert.deepEqual(Object.keys(JSON.parse(json as string) as object), [message.kind]);
            const proto = encodeServerFrame('proto', message);
            assert.ok(proto instanceof Uint8Array);
            assert.ok(ServerFrame.decode(proto)[message.kind]);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
