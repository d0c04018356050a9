import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isFanoutError } from '@fanout/shared';
import fc from 'fast-check';
import { formatStreamCursor, parseStreamCursor, type StreamCursor } from './stream-cursor.js';

const numRuns = 400;

const cursorArbitrary: fc.Arbitrary<StreamCursor> = fc
  .record({
    epoch: fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/),
    offsets: fc.uniqueArray(
      fc.tuple(
        fc.integer({ min: 0, max: 2_147_483_647 }),
        fc.integer({ min: -1, max: Number.MAX_SAFE_INTEGER }),
      ),
      { minLength: 1, maxLength: 20, selector: ([partition]) => partition },
    ),
  })
  .map(({ epoch, offsets }) => ({ epoch, offsets: new Map(offsets) }));

const nearCursor = fc
  .array(fc.constantFrom('e', ':', ',', '0', '1', '-1', '12', '-', '_', ' ', '01', '+1', ':,'), {
    maxLength: 16,
  })
  .map((parts) => parts.join(''));

describe('stream cursors (properties)', () => {
  it('format then parse is the identity', () => {
    fc.assert(
      fc.property(cursorArbitrary, (cursor) => {
        const parsed = parseStreamCursor(formatStreamCursor(cursor));
        assert.equal(parsed.epoch, cursor.epoch);
        assert.deepEqual(
          [...parsed.offsets].sort((a, b) => a[0] - b[0]),
          [...cursor.offsets].sort((a, b) => a[0] - b[0]),
        );
      }),
      { numRuns },
    );
  });

  it('any text parses to a cursor within the bounds, or is position_invalid', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          nearCursor,
          fc.string({ unit: 'binary', maxLength: 100 }),
          fc.integer({ min: 16_000, max: 17_000 }).map((n) => `e:0:0${',1:1'.repeat(n / 4)}`),
        ),
        (text) => {
          let cursor: StreamCursor;
          try {
            cursor = parseStreamCursor(text);
          } catch (error) {
            assert.ok(isFanoutError(error), `not a FanoutError: ${String(error)}`);
            assert.equal(error.code, 'position_invalid');
            assert.ok(error.message.length < 300, 'the message quotes a bounded part');
            return;
          }
          assert.ok(text.length <= 16 * 1024);
          assert.ok(cursor.offsets.size >= 1);
          // A parsed cursor prints back to text that parses to the same cursor.
          assert.deepEqual(parseStreamCursor(formatStreamCursor(cursor)), cursor);
        },
      ),
      { numRuns },
    );
  });
});
