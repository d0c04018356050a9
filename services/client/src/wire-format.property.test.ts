import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isFanoutError, ServerFrame } from '@fanout/shared/portable';
import fc from 'fast-check';
import { decodeJsonFrame } from './json-wire-format.js';
import { decodeProtoFrame } from './proto-wire-format.js';
import type { ServerMessage } from './wire-format.js';

const numRuns = 400;

/** Decodes, or checks that the frame was refused with a typed error. */
function decodedOrRefused(decode: () => ServerMessage): ServerMessage | undefined {
  try {
    return decode();
  } catch (error) {
    assert.ok(isFanoutError(error), `not a FanoutError: ${String(error)}`);
    assert.ok(
      error.code === 'frame_invalid' || error.code === 'position_invalid',
      `unexpected code ${error.code}`,
    );
    return undefined;
  }
}

const anyValue = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom('e:1:2', 'e:1', '', '%%%', 'AAA=', '2026-01-01T00:00:00Z', 1e300, -1),
);
const anyTime = fc.oneof(
  fc.date({ noInvalidDate: false }).map((date) => (Number.isNaN(date.getTime()) ? 'x' : date)),
  fc.string(),
);

/** JSON server frames near the grammar: every frame name, fields of every type. */
const nearJsonFrame = fc
  .record({
    name: fc.constantFrom(
      'event',
      'connected',
      'subscribed',
      'unsubscribed',
      'error',
      'reset',
      'pong',
      'tokenRefreshed',
      'disconnect',
    ),
    body: fc.record(
      {
        id: anyValue,
        channel: anyValue,
        position: anyValue,
        dataBase64: fc.oneof(fc.base64String(), fc.string(), anyValue),
        data: anyValue,
        time: anyTime,
        headers: anyValue,
        trace: anyValue,
        requestId: anyValue,
        tokenExpiresAt: anyTime,
        expiresAt: anyTime,
        subscriptions: fc.oneof(anyValue, fc.array(fc.dictionary(fc.string(), anyValue))),
        positions: anyValue,
        action: anyValue,
      },
      { requiredKeys: [] },
    ),
  })
  .map(({ name, body }) => JSON.stringify({ [name]: body }));

describe('client wire formats (properties)', () => {
  it('any text on fanout.json.v1 decodes or is refused with a typed error', () => {
    fc.assert(
      fc.property(
        fc.oneof(nearJsonFrame, fc.json({ maxDepth: 3 }), fc.string({ unit: 'binary' })),
        (text) => {
          decodedOrRefused(() => decodeJsonFrame(text));
        },
      ),
      { numRuns },
    );
  });

  it('any bytes on fanout.proto.v1 decode or are refused with a typed error', () => {
    const seconds = fc.oneof(
      fc.integer({ min: -1e6, max: 1e10 }),
      fc.constantFrom(Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 8.64e12, 8.64e12 + 1),
    );
    const timestamp = fc.record({ seconds, nanos: fc.integer({ min: -2e9, max: 2e9 }) });
    const encoded = fc
      .record({
        time: timestamp,
        expires: timestamp,
        position: fc.record({
          epoch: fc.string({ maxLength: 5 }),
          partition: fc.integer(),
          offset: fc.integer({ min: -3, max: 100 }),
        }),
      })
      .chain(({ time, expires, position }) =>
        fc.constantFrom(
          ServerFrame.encode({ event: { id: 'a', channel: 'c', time, position } }).finish(),
          ServerFrame.encode({ connected: { requestId: 1, tokenExpiresAt: expires } }).finish(),
          ServerFrame.encode({ tokenRefreshed: { requestId: 1, expiresAt: expires } }).finish(),
          ServerFrame.encode({ reset: { requested: position, earliest: position } }).finish(),
        ),
      );
    fc.assert(
      fc.property(
        fc.oneof(fc.uint8Array({ maxLength: 200 }), encoded),
        fc.nat(),
        fc.nat(255),
        (bytes, at, value) => {
          const mutated = bytes.slice();
          if (mutated.length > 0) mutated[at % mutated.length] = value;
          for (const frame of [bytes, mutated]) {
            const message = decodedOrRefused(() => decodeProtoFrame(frame));
            if (message?.kind === 'event' && message.event.time !== '') {
              assert.ok(!Number.isNaN(Date.parse(message.event.time)));
            }
          }
        },
      ),
      { numRuns },
    );
  });
});
