/**
 * Validates a batch of published events against the limits and turns it into
 * what the writer needs. The batch is all-or-nothing: the first violation
 * throws a FanoutError naming the event and field, and nothing is written.
 */
import { randomUUID } from 'node:crypto';
import { assertValidChannel, FanoutError, type StateOperation } from '@fanout/shared';

export interface PublishLimits {
  readonly maxEventBytes: number;
  readonly maxBatchEvents: number;
  /** Allowed media types (without parameters); `*` allows any. */
  readonly allowedContentTypes: readonly string[];
}

/** One event as a publisher sent it, transport-neutral. */
export interface IncomingEvent {
  readonly channel: string;
  readonly type?: string | null;
  readonly data?: Uint8Array | null;
  readonly contentType?: string | null;
  readonly headers?: Readonly<Record<string, string>> | null;
  readonly id?: string | null;
}

/** A validated event, ready to be written. */
export interface PreparedEvent {
  readonly id: string;
  /** True when the publisher chose the id (it is an idempotency key). */
  readonly idFromPublisher: boolean;
  readonly channel: string;
  readonly type: string;
  readonly data: Uint8Array;
  readonly contentType: string;
  readonly headers: Readonly<Record<string, string>>;
  /** Bytes of data, type, content type and headers, counted against maxEventBytes. */
  readonly size: number;
  /** Set for a state change (state-change.ts); absent for an ordinary event. */
  readonly state?: StateOperation;
  /** A state PUT's arrayKey (state-change.ts); absent for none. */
  readonly arrayKey?: string;
}

const idPattern = /^[A-Za-z0-9._:~-]{1,128}$/;
const typePattern = /^[A-Za-z0-9._:/-]{0,128}$/;
const headerName = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$/;
const mediaType = /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/;
const defaultContentType = 'application/octet-stream';

function invalid(field: string, message: string): FanoutError {
  return new FanoutError('invalid_argument', `${field}: ${message}`, { details: { field } });
}

function baseMediaType(contentType: string): string {
  return (contentType.split(';')[0] ?? '').trim().toLowerCase();
}

/**
 * Channels and content types seen valid recently: most publishes repeat a
 * few of them, so their checks run once. Each cache starts over when full.
 */
const cacheLimit = 10_000;
const validChannels = new Set<string>();
const validContentTypes = new Map<string, { contentType: string; base: string }>();

/** The field path of an event: its name, or its index in the batch (`events[3]`). */
export type EventField = string | number;

function fieldName(field: EventField): string {
  return typeof field === 'number' ? `events[${field}]` : field;
}

function checkChannel(channel: string, field: EventField): void {
  if (validChannels.has(channel)) return;
  assertValidChannel(channel, `${fieldName(field)}.channel`);
  if (validChannels.size >= cacheLimit) validChannels.clear();
  validChannels.add(channel);
}

/** The content type as stored (trimmed, defaulted) and its media type; throws when malformed. */
function checkContentType(
  given: string | null | undefined,
  field: EventField,
): { contentType: string; base: string } {
  const key = given ?? '';
  const known = validContentTypes.get(key);
  if (known !== undefined) return known;
  const trimmed = key.trim();
  const contentType = trimmed === '' ? defaultContentType : trimmed;
  const base = baseMediaType(contentType);
  if (!mediaType.test(base) || contentType.length > 255) {
    throw invalid(
      `${fieldName(field)}.content_type`,
      `"${contentType.slice(0, 80)}" is not a media type`,
    );
  }
  const checked = { contentType, base };
  if (validContentTypes.size >= cacheLimit) validContentTypes.clear();
  validContentTypes.set(key, checked);
  return checked;
}

/**
 * Validates one event; `field` names it in error messages (a batch passes
 * the event's index, so the name is only built for an error).
 */
export function prepareEvent(
  event: IncomingEvent,
  limits: PublishLimits,
  field: EventField,
): PreparedEvent {
  checkChannel(event.channel, field);
  const type = event.type ?? '';
  if (type !== '' && !typePattern.test(type)) {
    throw invalid(`${fieldName(field)}.type`, 'at most 128 characters of [A-Za-z0-9._:/-]');
  }
  const { contentType, base } = checkContentType(event.contentType, field);
  if (
    !limits.allowedContentTypes.includes('*') &&
    !limits.allowedContentTypes.some((allowed) => baseMediaType(allowed) === base)
  ) {
    throw new FanoutError(
      'content_type_not_allowed',
      `${fieldName(field)}.content_type: "${base}" is not allowed (allowed: ${limits.allowedContentTypes.join(', ')})`,
      { details: { field: `${fieldName(field)}.content_type` } },
    );
  }
  const headers = event.headers ?? {};
  // In UTF-8 bytes, as stored: a header value of non-ASCII characters counts
  // up to three bytes per character (type and header names are ASCII).
  let size = (event.data?.byteLength ?? 0) + type.length + Buffer.byteLength(contentType);
  for (const [name, value] of Object.entries(headers)) {
    if (!headerName.test(name)) {
      throw invalid(
        `${fieldName(field)}.headers`,
        `header name "${name.slice(0, 80)}" must be 1-64 characters of [A-Za-z0-9._-]`,
      );
    }
    size += name.length + Buffer.byteLength(value);
  }
  if (size > limits.maxEventBytes) {
    throw new FanoutError(
      'event_too_large',
      `${fieldName(field)}: event is ${size} bytes, more than the limit of ${limits.maxEventBytes}`,
      { details: { field: fieldName(field), size, limit: limits.maxEventBytes } },
    );
  }
  const given = event.id ?? '';
  if (given !== '' && !idPattern.test(given)) {
    throw invalid(`${fieldName(field)}.id`, 'at most 128 characters of [A-Za-z0-9._:~-]');
  }
  return {
    id: given === '' ? randomUUID() : given,
    idFromPublisher: given !== '',
    channel: event.channel,
    type,
    data: event.data ?? new Uint8Array(0),
    contentType,
    headers,
    size,
  };
}

/** Validates a whole batch; throws on the first violation, so nothing partial is written. */
export function prepareBatch(
  events: readonly IncomingEvent[],
  limits: PublishLimits,
): PreparedEvent[] {
  if (events.length === 0) throw invalid('events', 'at least one event is required');
  if (events.length > limits.maxBatchEvents) {
    throw new FanoutError(
      'batch_too_large',
      `events: ${events.length} events, more than the limit of ${limits.maxBatchEvents}`,
      { details: { field: 'events', count: events.length, limit: limits.maxBatchEvents } },
    );
  }
  const prepared = new Array<PreparedEvent>(events.length);
  let index = 0;
  for (const event of events) {
    prepared[index] = prepareEvent(event, limits, index);
    index++;
  }
  return prepared;
}
