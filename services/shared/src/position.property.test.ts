import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isFanoutError } from './fanout-error.js';
import { formatPosition, parsePosition, type PositionValue } from './position.js';
import { positionFromProto } from './proto-position.js';
import { Position } from './proto.js';

const numRuns = 500;

const epochArbitrary = fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/);
const positionArbitrary: fc.Arbitrary<PositionValue> = fc
  .record({
    epoch: epochArbitrary,
    partition: fc.integer({ min: 0, max: 2_147_483_647 }),
    offset: fc.integer({ min: -1, max: Number.MAX_SAFE_INTEGER }),
  })
  .map((position) => ({ ...position }));

/** Text near the grammar: the characters positions are made of and a few that break them. */
const nearPosition = fc
  .array(
    fc.oneof(
      fc.constantFrom(':', ':', '-', '-1', '0', '00', '1', '9', 'a', 'Z', '_', ',', ' ', '+', '.'),
      fc.constantFrom('e', '2147483648', '9007199254740992', '1e3', '0x1', '\u0000', 'é', '٣'),
      fc.string({ maxLength: 3 }),
    ),
    { maxLength: 12 },
  )
  .map((parts) => parts.join(''));

const anyText = fc.oneof(
  nearPosition,
  fc.string({ unit: 'binary', maxLength: 100 }),
  positionArbitrary.map(formatPosition),
);

function parsedOrRejected(text: string): PositionValue | undefined {
  try {
    return parsePosition(text);
  } catch (error) {
    assert.ok(isFanoutError(error), `not a FanoutError: ${String(error)}`);
    assert.equal(error.code, 'position_invalid');
    assert.ok(error.message.length < 300, 'the message quotes a bounded part of the input');
    return undefined;
  }
}

describe('positions (properties)', () => {
  it('format then parse is the identity', () => {
    fc.assert(
      fc.property(positionArbitrary, (position) => {
        assert.deepEqual(parsePosition(formatPosition(position)), position);
      }),
      { numRuns },
    );
  });

  it('any text parses to a position whose text form it is, or is position_invalid', () => {
    fc.assert(
      fc.property(anyText, (text) => {
        const parsed = parsedOrRejected(text);
        if (parsed === undefined) return;
        assert.equal(formatPosition(parsed), text, 'one text form per position');
        assert.ok(parsed.epoch.length >= 1 && parsed.epoch.length <= 64);
        assert.ok(Number.isInteger(parsed.partition) && parsed.partition >= 0);
        assert.ok(parsed.partition <= 2_147_483_647);
        assert.ok(Number.isSafeInteger(parsed.offset) && parsed.offset >= -1);
      }),
      { numRuns },
    );
  });

  it('a protobuf Position round-trips and is held to the rules of the text form', () => {
    fc.assert(
      fc.property(positionArbitrary, (position) => {
        const decoded = Position.decode(Position.encode(position).finish());
        assert.deepEqual(positionFromProto(decoded), position);
      }),
      { numRuns },
    );
  });

  it('any protobuf Position is accepted exactly when its text form is', () => {
    const number = fc.oneof(
      fc.integer(),
      fc.integer({ min: -1, max: Number.MAX_SAFE_INTEGER }),
      fc.double(),
      fc.constantFrom(Number.MAX_SAFE_INTEGER + 1, 2_147_483_648, -0, -1, Infinity, NaN),
    );
    fc.assert(
      fc.property(
        fc.record(
          {
            epoch: fc.oneof(epochArbitrary, fc.string({ maxLength: 80 })),
            partition: number,
            offset: number,
          },
          { requiredKeys: [] },
        ),
        (message) => {
          let fromProto: PositionValue | undefined;
          try {
            fromProto = positionFromProto(message);
          } catch (error) {
            assert.ok(isFanoutError(error), `not a FanoutError: ${String(error)}`);
            assert.equal(error.code, 'position_invalid');
          }
          const text = `${message.epoch ?? ''}:${String(message.partition ?? 0)}:${String(message.offset ?? 0)}`;
          assert.deepEqual(fromProto, parsedOrRejected(text));
        },
      ),
      { numRuns },
    );
  });
});
