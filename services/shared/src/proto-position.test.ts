import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isFanoutError } from './fanout-error.js';
import { Position } from './proto.js';
import { positionFromProto } from './proto-position.js';

const isPositionInvalid = (why: string) => (error: unknown) =>
  isFanoutError(error) && error.code === 'position_invalid' && error.message.includes(why);

describe('positions of the binary protocol', () => {
  it('accepts a valid position, also after a trip over the wire', () => {
    const position = { epoch: 'k7Hq2a_-', partition: 3, offset: 1042 };
    assert.deepEqual(positionFromProto(position), position);
    const wire = Position.decode(Position.encode(position).finish());
    assert.deepEqual(positionFromProto(wire), position);
    const largest = { epoch: 'e', partition: 2_147_483_647, offset: Number.MAX_SAFE_INTEGER };
    assert.deepEqual(
      positionFromProto(Position.decode(Position.encode(largest).finish())),
      largest,
    );
  });

  it('reads absent partition and offset as 0, as protobuf does', () => {
    const wire = Position.decode(Position.encode({ epoch: 'e' }).finish());
    assert.deepEqual(positionFromProto(wire), { epoch: 'e', partition: 0, offset: 0 });
  });

  for (const [name, message, why] of [
    ['an absent epoch', { partition: 1, offset: 2 }, 'epoch'],
    ['an empty epoch', { epoch: '', partition: 1, offset: 2 }, 'epoch'],
    ['an epoch with a colon', { epoch: 'a:b', partition: 1, offset: 2 }, 'epoch'],
    ['an epoch of 65 characters', { epoch: 'x'.repeat(65), partition: 1, offset: 2 }, 'epoch'],
    ['a negative partition', { epoch: 'e', partition: -1, offset: 2 }, 'partition'],
    ['a partition beyond int32', { epoch: 'e', partition: 2 ** 31, offset: 2 }, 'partition'],
    ['a fractional partition', { epoch: 'e', partition: 1.5, offset: 2 }, 'partition'],
    ['a negative offset', { epoch: 'e', partition: 1, offset: -2 }, 'offset'],
    ['a fractional offset', { epoch: 'e', partition: 1, offset: 2.5 }, 'offset'],
    ['an offset of 2^53', { epoch: 'e', partition: 1, offset: 2 ** 53 }, 'offset'],
    ['a NaN offset', { epoch: 'e', partition: 1, offset: Number.NaN }, 'offset'],
  ] as const) {
    it(`rejects ${name} as position_invalid`, () => {
      assert.throws(() => positionFromProto(message), isPositionInvalid(why));
    });
  }

  it('accepts offset -1 (before the first event) and rejects lower offsets over the wire', () => {
    const before = Position.decode(
      Position.encode({ epoch: 'e', partition: 0, offset: -1 }).finish(),
    );
    assert.deepEqual(positionFromProto(before), { epoch: 'e', partition: 0, offset: -1 });
    const wire = Position.decode(
      Position.encode({ epoch: 'e', partition: 0, offset: -2 }).finish(),
    );
    assert.throws(() => positionFromProto(wire), isPositionInvalid('offset'));
  });
});
