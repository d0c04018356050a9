/**
 * Stream cursors: where a connection following several partitions stands,
 * `<epoch>:<partition>:<offset>[,<partition>:<offset>...]`. A cursor of one
 * partition is exactly a position, so an SSE `id:` of a single-channel stream
 * is the event's position and a position is accepted wherever a cursor is.
 */
import { FanoutError, parsePosition } from '@fanout/shared';

export interface StreamCursor {
  readonly epoch: string;
  /** Last offset delivered, per partition. */
  readonly offsets: ReadonlyMap<number, number>;
}

const maxCursorLength = 16 * 1024;

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

export function formatStreamCursor(cursor: StreamCursor): string {
  const entries = [...cursor.offsets.entries()].sort((a, b) => a[0] - b[0]);
  return `${cursor.epoch}:${entries.map(([partition, offset]) => `${partition}:${offset}`).join(',')}`;
}
