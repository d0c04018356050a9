/**
 * The records of the checkpoint topic (`<topic>.state`, compacted; see
 * docs/decisions/045-state-checkpoints.md). Partition p of it holds the
 * checkpoints of the channels whose events are in partition p of the events
 * topic:
 *
 * - a channel checkpoint, key = the channel: the channel's document after
 *   the change at `offset` (its last change folded), and `through`, the
 *   offset up to which the writer had folded the whole partition when it
 *   wrote it (the channel has no change in (`offset`, `through`]);
 * - the partition mark, key = {@link partitionMarkKey} (not a channel name):
 *   every channel changed at or below `through` has a checkpoint with its
 *   last change up to there (the writer restarts from it), except when
 *   `lostBelow` > 0: retention deleted events below it before a checkpoint
 *   covered them, so a channel without a checkpoint covering up to there is
 *   unknown, not absent.
 *
 * Value, version 1, big-endian: u8 version (1), u8 kind (1 channel, 2 mark),
 * u8 epoch length, the epoch (ASCII, the events topic's), i64 offset, i64
 * through, u8 flags (bit 0: the document exists), then the canonical JSON of
 * the document (UTF-8, empty when absent). A mark has no document; its
 * offset field holds `lostBelow - 1` (-1: nothing lost).
 *
 * Version 2 is a channel checkpoint whose last put carried an `arrayKey`
 * (docs/decisions/047): as version 1, with after the flags a u16 length and
 * the arrayKey (UTF-8), then the document. Records without an arrayKey (and
 * marks) are still written as version 1, so edges that read only version 1
 * read them; a version 1 record decodes as a checkpoint without arrayKey.
 * Anything else is refused with a reason, never guessed.
 */
export const checkpointVersion = 1;
/** The version of a channel checkpoint that carries an arrayKey. */
export const checkpointVersionWithArrayKey = 2;
/** The longest arrayKey a record holds (the ingest accepts at most 256 characters). */
const maxArrayKeyBytes = 1024;

/** Key of the partition mark: a NUL byte, which no channel name holds. */
export const partitionMarkKey = Buffer.from([0]);

export interface ChannelCheckpoint {
  readonly kind: 'channel';
  readonly epoch: string;
  /** Offset of the last change folded into the document (-1: none). */
  readonly offset: number;
  /** The writer had folded the partition up to here (>= offset). */
  readonly through: number;
  /** Canonical JSON of the document; `undefined` when absent. */
  readonly json: string | undefined;
  /**
   * The arrayKey of the last put folded (a JSON Pointer), which the changes
   * after it are diffed with; absent when that put had none (or after a delete).
   */
  readonly arrayKey?: string;
}

export interface PartitionMark {
  readonly kind: 'mark';
  readonly epoch: string;
  readonly through: number;
  /** Events below this offset were deleted before checkpoints covered them (0: none). */
  readonly lostBelow: number;
}

export type CheckpointRecord = ChannelCheckpoint | PartitionMark;

/** Why a record was refused. */
export type CheckpointDefect = 'unknown_version' | 'corrupt';

export class CheckpointDecodeError extends Error {
  readonly reason: CheckpointDefect;
  constructor(reason: CheckpointDefect, message: string) {
    super(message);
    this.reason = reason;
  }
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const headerBytes = 3;
const tailBytes = 17;

export function encodeCheckpoint(record: CheckpointRecord): Buffer {
  const epoch = Buffer.from(record.epoch, 'latin1');
  if (epoch.length > 255) throw new RangeError('epoch too long');
  const json = record.kind === 'channel' && record.json !== undefined ? record.json : '';
  const jsonBytes = Buffer.byteLength(json, 'utf8');
  const arrayKey =
    record.kind === 'channel' && record.arrayKey !== undefined && record.arrayKey !== ''
      ? Buffer.from(record.arrayKey, 'utf8')
      : undefined;
  if (arrayKey !== undefined && arrayKey.length > maxArrayKeyBytes) {
    throw new RangeError('arrayKey too long');
  }
  const keyBytes = arrayKey === undefined ? 0 : 2 + arrayKey.length;
  const buffer = Buffer.allocUnsafe(headerBytes + epoch.length + tailBytes + keyBytes + jsonBytes);
  let at = 0;
  buffer[at++] = arrayKey === undefined ? checkpointVersion : checkpointVersionWithArrayKey;
  buffer[at++] = record.kind === 'channel' ? 1 : 2;
  buffer[at++] = epoch.length;
  at += epoch.copy(buffer, at);
  const offset = record.kind === 'channel' ? record.offset : Math.max(0, record.lostBelow) - 1;
  if (record.kind === 'mark' && offset > record.through) {
    throw new RangeError('a mark cannot say history is lost past its own offset');
  }
  buffer.writeBigInt64BE(BigInt(offset), at);
  at += 8;
  buffer.writeBigInt64BE(BigInt(record.through), at);
  at += 8;
  buffer[at++] = record.kind === 'channel' && record.json !== undefined ? 1 : 0;
  if (arrayKey !== undefined) {
    buffer.writeUInt16BE(arrayKey.length, at);
    at += 2;
    at += arrayKey.copy(buffer, at);
  }
  buffer.write(json, at, 'utf8');
  return buffer;
}

/** Decodes a value; throws {@link CheckpointDecodeError}. */
export function decodeCheckpoint(value: Buffer): CheckpointRecord {
  if (value.length < 1) throw new CheckpointDecodeError('corrupt', 'empty checkpoint record');
  const version = value[0];
  if (version !== checkpointVersion && version !== checkpointVersionWithArrayKey) {
    throw new CheckpointDecodeError(
      'unknown_version',
      `checkpoint record version ${version} is not known (this edge reads ${checkpointVersion} and ${checkpointVersionWithArrayKey})`,
    );
  }
  if (value.length < headerBytes + tailBytes) {
    throw new CheckpointDecodeError('corrupt', 'checkpoint record too short');
  }
  const kind = value[1];
  const epochLength = value[2] ?? 0;
  if (
    (kind !== 1 && kind !== 2) ||
    (kind === 2 && version !== checkpointVersion) ||
    value.length < headerBytes + epochLength + tailBytes
  ) {
    throw new CheckpointDecodeError('corrupt', 'checkpoint record malformed');
  }
  let at = headerBytes;
  const epoch = value.toString('latin1', at, at + epochLength);
  at += epochLength;
  const offset = Number(value.readBigInt64BE(at));
  at += 8;
  const through = Number(value.readBigInt64BE(at));
  at += 8;
  const flags = value[at++] ?? 0;
  if (offset < -1 || through < offset || (flags & ~1) !== 0) {
    throw new CheckpointDecodeError('corrupt', 'checkpoint record fields out of range');
  }
  if (kind === 2) return { kind: 'mark', epoch, through, lostBelow: offset + 1 };
  let arrayKey: string | undefined;
  if (version === checkpointVersionWithArrayKey) {
    const length = at + 2 <= value.length ? value.readUInt16BE(at) : -1;
    at += 2;
    if (length < 1 || length > maxArrayKeyBytes || at + length > value.length) {
      throw new CheckpointDecodeError('corrupt', 'checkpoint arrayKey malformed');
    }
    try {
      arrayKey = strictUtf8.decode(value.subarray(at, at + length));
    } catch {
      throw new CheckpointDecodeError('corrupt', 'checkpoint arrayKey is not UTF-8');
    }
    at += length;
  }
  const exists = (flags & 1) === 1;
  if (!exists && at !== value.length) {
    throw new CheckpointDecodeError('corrupt', 'an absent document with content');
  }
  let json: string | undefined;
  if (exists) {
    try {
      json = strictUtf8.decode(value.subarray(at));
    } catch {
      throw new CheckpointDecodeError('corrupt', 'checkpoint document is not UTF-8');
    }
  }
  return arrayKey === undefined
    ? { kind: 'channel', epoch, offset, through, json }
    : { kind: 'channel', epoch, offset, through, json, arrayKey };
}
