import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isFanoutError, ServerFrame } from '@fanout/shared';
import fc from 'fast-check';
import { decodeClientFrame, encodeServerFrame, type ClientMessage } from './ws-frames.js';

const numRuns = 200;

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

/*
 * The properties of the codecs themselves (any text or bytes decode to a
 * well-formed message or are refused) are the shared codecs' own
 * (`services/shared/src/ws-codec.property.test.ts`); these are the edge's
 * choice of codec by subprotocol and frame kind.
 */
describe('WebSocket frames of the edge (properties)', () => {
  it('any bytes of a text frame, UTF-8 or not, decode or are refused with a typed error', () => {
    const utf8 = new TextEncoder();
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 80 }),
          fc.json({ maxDepth: 3 }).map((text) => utf8.encode(`{"subscribe":${text}}`)),
        ),
        (bytes) => {
          decodedOrRefused('json', bytes, false);
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
