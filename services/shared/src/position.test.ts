import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isFanoutError } from './fanout-error.js';
import { comparePositions, formatPosition, formatPositionOf, parsePosition } from './position.js';
import { cursorOffsetIn, parseStreamCursor } from './stream-cursor.js';

describe('positions', () => {
  it('round-trips the text form', () => {
    const position = { epoch: 'k7Hq2a_-', partition: 3, offset: 1042 };
    assert.equal(formatPosition(position), 'k7Hq2a_-:3:1042');
    assert.deepEqual(parsePosition('k7Hq2a_-:3:1042'), position);
    assert.deepEqual(parsePosition('e:0:0'), { epoch: 'e', partition: 0, offset: 0 });
    assert.deepEqual(parsePosition(`e:2147483647:${Number.MAX_SAFE_INTEGER}`), {
      epoch: 'e',
      partition: 2147483647,
      offset: Number.MAX_SAFE_INTEGER,
    });
  });

  for (const [text, why] of [
    ['', 'expected'],
    ['e:1', 'expected'],
    ['e:1:2:3', 'expected'],
    [':1:2', 'epoch'],
    ['e!:1:2', 'epoch'],
    [`${'x'.repeat(65)}:1:2`, 'epoch'],
    ['e:-1:2', 'partition'],
    ['e:01:2', 'partition'],
    ['e:1.5:2', 'partition'],
    ['e:2147483648:2', 'partition'],
    ['e:1:-2', 'offset'],
    ['e:1:2e3', 'offset'],
    ['e:1: 2', 'offset'],
    ['e:1:9007199254740993', 'offset'],
  ] as const) {
    it(`rejects "${text.slice(0, 20)}" naming the ${why}`, () => {
      assert.throws(
        () => parsePosition(text),
        (error: unknown) =>
          isFanoutError(error) && error.code === 'position_invalid' && error.message.includes(why),
      );
    });
  }

  it('accepts offset -1, the position before the first event', () => {
    assert.deepEqual(parsePosition('e:3:-1'), { epoch: 'e', partition: 3, offset: -1 });
  });

  it('compares positions of one log and refuses to compare different logs', () => {
    assert.ok(comparePositions(parsePosition('e:1:5'), parsePosition('e:1:7')) < 0);
    assert.throws(() => comparePositions(parsePosition('e:1:5'), parsePosition('f:1:5')));
    assert.throws(() => comparePositions(parsePosition('e:1:5'), parsePosition('e:2:5')));
  });

  it('formats from the parts exactly as from a position', () => {
    assert.equal(formatPositionOf('k7Hq2a_-', 3, 1042), 'k7Hq2a_-:3:1042');
    assert.equal(
      formatPositionOf('e', 0, -1),
      formatPosition({ epoch: 'e', partition: 0, offset: -1 }),
    );
  });

  it('finds the offset a cursor holds in one partition of one epoch, or why it has none', () => {
    const cursor = parseStreamCursor('e:0:5,2:-1');
    assert.equal(cursorOffsetIn(cursor, 'e', 0), 5);
    assert.equal(cursorOffsetIn(cursor, 'e', 2), -1);
    assert.equal(cursorOffsetIn(cursor, 'e', 1), 'position_partition_mismatch');
    assert.equal(cursorOffsetIn(cursor, 'f', 0), 'position_epoch_mismatch');
    assert.equal(cursorOffsetIn(cursor, 'f', 1), 'position_epoch_mismatch');
  });
});
