/**
 * Stream cursors, `<epoch>:<partition>:<offset>[,<partition>:<offset>...]`:
 * `@fanout/shared`'s parser, which the client uses too.
 */
export { cursorOffsetIn, formatStreamCursor, parseStreamCursor } from '@fanout/shared';
export type { CursorMismatch, StreamCursor } from '@fanout/shared';
