/**
 * Stream cursors: where a connection following several partitions stands,
 * `<epoch>:<partition>:<offset>[,<partition>:<offset>...]`. A cursor of one
 * partition is exactly a position, so an SSE `id:` of a single-channel stream
 * is the event's position and a position is accepted wherever a cursor is.
 * One parser for the edge and the client, so both accept the same cursors.
 * Browser-safe.
 */
import { FanoutError } from './fanout-error.js';
import { parsePosition } from './position.js';

export interface StreamCursor {
  readonly epoch: string;
  /** Last offset delivered, per partition. */
  readonly offsets: ReadonlyMap<number, number>;
}

/** The longest cursor text accepted. */
export const maxCursorLength = 16 * 1024;

/** Parses the text form; throws FanoutError('position_invalid') naming what is wrong. */
export function parseStreamCursor(text: string): StreamCursor {
  if (text.length > maxCursorLength) {
    throw new FanoutError(
      'position_invalid',
      `cursor is ${text.length} characters long (at most ${maxCursorLength})`,
    );
  }
  const [first = '', ...rest] = text.split(',');
  const head = parsePosition(first);
  const offsets = new Map<number, number>([[head.partition, head.offset]]);
  for (const entry of rest) {
    const position = parsePosition(`${head.epoch}:${entry}`);
    if (offsets.has(position.partition)) {
      throw new FanoutError(
        'position_invalid',
        `cursor "${text.slice(0, 80)}" names partition ${position.partition} twice`,
      );
    }
    offsets.set(position.partition, position.offset);
  }
  return { epoch: head.epoch, offsets };
}

/** The text form, partitions in increasing order. */
export function formatStreamCursor(cursor: StreamCursor): string {
  const entries = [...cursor.offsets.entries()].sort((a, b) => a[0] - b[0]);
  return `${cursor.epoch}:${entries.map(([partition, offset]) => `${partition}:${offset}`).join(',')}`;
}

/** Why a cursor holds no offset in a partition of a log. */
export type CursorMismatch = 'position_epoch_mismatch' | 'position_partition_mismatch';

/**
 * The offset `cursor` holds for `partition` of the log of `epoch`, or why it
 * holds none: it is of another epoch, or it does not name that partition.
 */
export function cursorOffsetIn(
  cursor: StreamCursor,
  epoch: string,
  partition: number,
): number | CursorMismatch {
  if (cursor.epoch !== epoch) return 'position_epoch_mismatch';
  return cursor.offsets.get(partition) ?? 'position_partition_mismatch';
}
