import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CheckpointDecodeError,
  checkpointVersion,
  checkpointVersionWithArrayKey,
  decodeCheckpoint,
  encodeCheckpoint,
} from './checkpoint-record.js';

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

  it('keeps the arrayKey of the last put (version 2), and reads records without one as before', () => {
    const keyed = {
      kind: 'channel',
      epoch: 'x9AbQ0cW',
      offset: 7,
      through: 9,
      json: '{"rows":[{"id":"é"}]}',
      arrayKey: '/id~1ré',
    } as const;
    const encoded = encodeCheckpoint(keyed);
    assert.equal(encoded[0], checkpointVersionWithArrayKey);
    assert.deepEqual(decodeCheckpoint(encoded), keyed);
    const absentKeyed = { ...keyed, json: undefined };
    assert.deepEqual(decodeCheckpoint(encodeCheckpoint(absentKeyed)), absentKeyed);

    // Without a key (or an empty one) the record stays version 1, readable by older edges.
    const plain = { kind: 'channel', epoch: 'e', offset: 1, through: 2, json: '[1]' } as const;
    const written = encodeCheckpoint({ ...plain, arrayKey: '' });
    assert.equal(written[0], checkpointVersion);
    assert.deepEqual(decodeCheckpoint(written), plain);
    assert.equal('arrayKey' in decodeCheckpoint(written), false);

    // A version 1 record as an older edge wrote it, byte by byte: no arrayKey.
    const old = Buffer.concat([
      Buffer.from([1, 1, 1]),
      Buffer.from('e', 'latin1'),
      Buffer.from([0, 0, 0, 0, 0, 0, 0, 4]),
      Buffer.from([0, 0, 0, 0, 0, 0, 0, 6]),
      Buffer.from([1]),
      Buffer.from('{"a":1}', 'utf8'),
    ]);
    assert.deepEqual(decodeCheckpoint(old), {
      kind: 'channel',
      epoch: 'e',
      offset: 4,
      through: 6,
      json: '{"a":1}',
    });
  });

  it('refuses a version 2 record whose arrayKey is cut short, empty or not UTF-8, and a version 2 mark', () => {
    const reasonOf = (value: Buffer): string => {
      try {
        decodeCheckpoint(value);
        return 'decoded';
      } catch (error) {
        assert.ok(error instanceof CheckpointDecodeError);
        return error.reason;
      }
    };
    const keyed = encodeCheckpoint({
      kind: 'channel',
      epoch: 'e',
      offset: 1,
      through: 1,
      json: undefined,
      arrayKey: '/id',
    });
    const lengthAt = 3 + 1 + 8 + 8 + 1;
    assert.equal(reasonOf(keyed), 'decoded');
    assert.equal(reasonOf(keyed.subarray(0, keyed.length - 1)), 'corrupt');
    assert.equal(reasonOf(keyed.subarray(0, lengthAt + 1)), 'corrupt');
    const empty = Buffer.from(keyed.subarray(0, lengthAt + 2));
    empty.writeUInt16BE(0, lengthAt);
    assert.equal(reasonOf(empty), 'corrupt');
    const badUtf8 = Buffer.from(keyed);
    badUtf8[lengthAt + 2] = 0xff;
    assert.equal(reasonOf(badUtf8), 'corrupt');
    const mark = encodeCheckpoint({ kind: 'mark', epoch: 'e', through: 3, lostBelow: 0 });
    assert.equal(reasonOf(Buffer.concat([Buffer.from([2]), mark.subarray(1)])), 'corrupt');
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
    assert.equal(reasonOf(Buffer.concat([Buffer.from([3]), good.subarray(1)])), 'unknown_version');
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
