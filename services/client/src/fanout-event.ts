/**
 * An event as the application sees it, whatever the transport; the type and
 * its JSON reader are `@fanout/shared`'s, shared with the frame codecs.
 */
export { eventFromJson, isJsonContentType } from '@fanout/shared/portable-core';
export type { FanoutEvent } from '@fanout/shared/portable-core';
