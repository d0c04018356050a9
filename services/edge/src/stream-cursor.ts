/**
 * Stream cursors, `<epoch>:<partition>:<offset>[,<partition>:<offset>...]`:
 * `@fanout/shared`'s parser, which the client uses too.
 */
export { formatStreamCursor, parseStreamCursor } from '@fanout/shared';
export type { StreamCursor } from '@fanout/shared';
