import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isFanoutError } from '@fanout/shared/portable-core';
import fc from 'fast-check';
import { StreamCursor } from './stream-cursor.js';

const numRuns = 400;

const positionArbitrary = fc.record({
  epoch: fc.stringMatching(/^[A-Za-z0-9_-]{1,8}$/),
  partition: fc.integer({ min: 0, max: 20 }),
  offset: fc.integer({ min: -1, max: 1000 }),
});

describe('client stream cursor (properties)', () => {
  it('set then text is the identity on its own text form', () => {
    fc.assert(
      fc.property(fc.array(positionArbitrary, { minLength: 1, maxLength: 20 }), (positions) => {
        const cursor = new StreamCursor();
        for (const { epoch, partition, offset } of positions) {
          cursor.advance(`${epoch}:${partition}:${offset}`);
        }
        const text = cursor.text();
        assert.ok(text !== undefined);
        const copy = new StreamCursor();
        copy.set(text);
        assert.equal(copy.text(), text);
      }),
      { numRuns },
    );
  });

  it('advance accepts each position of a partition once, in increasing order', () => {
    fc.assert(
      fc.property(fc.array(positionArbitrary, { maxLength: 40 }), (positions) => {
        const cursor = new StreamCursor();
        const last = new Map<string, number>();
        let epoch: string | undefined;
        for (const { epoch: e, partition, offset } of positions) {
          if (e !== epoch) last.clear();
          epoch = e;
          const key = String(partition);
          const known = last.get(key);
          const expected = known === undefined || offset > known;
          assert.equal(cursor.advance(`${e}:${partition}:${offset}`), expected);
          if (expected) last.set(key, offset);
        }
      }),
      { numRuns },
    );
  });

  it('any text sets the cursor or is position_invalid, leaving it unchanged', () => {
    const near = fc
      .array(fc.constantFrom('e', ':', ',', '0', '1', '-1', '12', '-', '_', ' ', '01'), {
        maxLength: 16,
      })
      .map((parts) => parts.join(''));
    fc.assert(
      fc.property(fc.oneof(near, fc.string({ unit: 'binary', maxLength: 60 })), (text) => {
        const cursor = new StreamCursor();
        cursor.set('before:0:5');
        try {
          cursor.set(text);
        } catch (error) {
          assert.ok(isFanoutError(error), `not a FanoutError: ${String(error)}`);
          assert.equal(error.code, 'position_invalid');
          assert.equal(cursor.text(), 'before:0:5');
          return;
        }
        const again = new StreamCursor();
        again.set(cursor.text() ?? '');
        assert.equal(again.text(), cursor.text());
      }),
      { numRuns },
    );
  });
});
