import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CheckpointDecodeError, decodeCheckpoint, encodeCheckpoint } from './checkpoint-record.js';

describe('checkpoint records', () => {
  it('round-trips channel checkpoints (present and absent documents) and partition marks', () => {
    const present = {
      kind: 'channel',
      epoch: 'x9AbQ0cW',
      offset: 41,
      through: 57,
      json: '{"a":"é"}',
    } as const;
    assert.deepEqual(decodeCheckpoint(encodeCheckpoint(present)), present);
    const absent = {
      kind: 'channel',
      epoch: 'e',
      offset: -1,
      through: 3,
      json: undefined,
    } as const;
    assert.deepEqual(decodeCheckpoint(encodeCheckpoint(absent)), absent);
    const mark = { kind: 'mark', epoch: 'e', through: 99, lostBelow: 0 } as const;
    assert.deepEqual(decodeCheckpoint(encodeCheckpoint(mark)), mark);
  });

  it('refuses unknown versions and corrupt records with their reason', () => {
    const good = encodeCheckpoint({
      kind: 'channel',
      epoch: 'e',
      offset: 1,
      through: 1,
      json: '1',
    });
    const reasonOf = (value: Buffer): string => {
      try {
        decodeCheckpoint(value);
        return 'decoded';
      } catch (error) {
        assert.ok(error instanceof CheckpointDecodeError);
        return error.reason;
      }
    };
    assert.equal(reasonOf(Buffer.concat([Buffer.from([2]), good.subarray(1)])), 'unknown_version');
    assert.equal(reasonOf(Buffer.alloc(0)), 'corrupt');
    assert.equal(reasonOf(good.subarray(0, 10)), 'corrupt');
    assert.equal(reasonOf(Buffer.from([1, 1, 200, 0, 0])), 'corrupt');
    const badUtf8 = Buffer.concat([good.subarray(0, good.length - 1), Buffer.from([0xff])]);
    assert.equal(reasonOf(badUtf8), 'corrupt');
    const through = Buffer.from(good);
    through.writeBigInt64BE(0n, 3 + 1 + 8); // through below offset
    assert.equal(reasonOf(through), 'corrupt');
  });
});
