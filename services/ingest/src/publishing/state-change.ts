/**
 * Validates a change of a channel's state document and turns it into the
 * one event that carries it (`Event.state` set): a PUT's document or a
 * MERGE's RFC 7396 merge patch must be one well-formed UTF-8 JSON value —
 * no byte order mark, nothing but whitespace after the value, nested at
 * most `maxDepth` levels — within its size limit; a DELETE has no data. The
 * content type is the operation's (`application/json`,
 * `application/merge-patch+json`, none for DELETE), whatever
 * `ingest.allowedContentTypes` says: it is fanout's, not the producer's.
 * Channel, type, headers, id and the event size are checked as for any
 * event (event-validator.ts). A PUT may carry an `arrayKey`, the JSON
 * Pointer naming the identity member of objects in the document's arrays
 * (docs/decisions/047): refused with `invalid_argument` when it is not a
 * pointer of at most 256 characters, and on MERGE and DELETE (a merge keeps
 * the key of the last PUT).
 */
import { FanoutError, parseArrayKey, stateContentTypes, type StateOperation } from '@fanout/shared';
import { jsonShape } from '../http/json-shape.js';
import { prepareEvent, type PreparedEvent, type PublishLimits } from './event-validator.js';

/** The `state` settings. */
export interface StateLimits {
  readonly maxDocumentBytes: number;
  readonly maxPatchBytes: number;
  readonly maxDepth: number;
}

/** One state change as a producer sent it, transport-neutral. */
export interface IncomingStateChange {
  readonly channel: string;
  readonly operation: StateOperation;
  /** The document (PUT) or merge patch (MERGE) as UTF-8 JSON; empty for DELETE. */
  readonly data?: Uint8Array | null;
  readonly id?: string | null;
  readonly type?: string | null;
  readonly headers?: Readonly<Record<string, string>> | null;
  /** For PUT, the JSON Pointer naming array elements' identity member; empty or absent for none. */
  readonly arrayKey?: string | null;
}

/** Decodes strictly: malformed UTF-8 throws; a byte order mark is kept (and refused). */
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function stateInvalid(message: string): FanoutError {
  return new FanoutError('state_invalid', `data: ${message}`, { details: { field: 'data' } });
}

/** Throws state_too_large or state_invalid when `data` is not a fit document or patch. */
export function checkStateData(
  operation: StateOperation,
  data: Uint8Array,
  limits: StateLimits,
): void {
  if (operation === 'delete') {
    if (data.byteLength > 0) throw stateInvalid('a delete carries no document');
    return;
  }
  const limit = operation === 'put' ? limits.maxDocumentBytes : limits.maxPatchBytes;
  if (data.byteLength > limit) {
    const what = operation === 'put' ? 'document' : 'merge patch';
    throw new FanoutError(
      'state_too_large',
      `data: the ${what} is ${data.byteLength} bytes, more than the limit of ${limit}`,
      { details: { field: 'data', size: data.byteLength, limit } },
    );
  }
  if (data.byteLength === 0) throw stateInvalid('empty; a JSON value is required');
  if (data[0] === 0xef && data[1] === 0xbb && data[2] === 0xbf) {
    throw stateInvalid('starts with a byte order mark');
  }
  let text: string;
  try {
    text = utf8.decode(data);
  } catch {
    throw stateInvalid('not valid UTF-8');
  }
  if (jsonShape(data, limits.maxDepth).depth > limits.maxDepth) {
    throw stateInvalid(`JSON nested deeper than ${limits.maxDepth} levels`);
  }
  try {
    JSON.parse(text);
  } catch (error) {
    throw stateInvalid(
      `not valid JSON (${error instanceof Error ? error.message : String(error)})`,
    );
  }
}

/** The change's arrayKey, validated: undefined for none; throws invalid_argument. */
export function checkArrayKey(
  operation: StateOperation,
  arrayKey: string | null | undefined,
): string | undefined {
  if (arrayKey === undefined || arrayKey === null || arrayKey === '') return undefined;
  const details = { details: { field: 'arrayKey' } };
  if (operation !== 'put') {
    throw new FanoutError(
      'invalid_argument',
      `arrayKey: only a PUT carries an arrayKey (a ${operation} keeps the key of the last PUT)`,
      details,
    );
  }
  const parsed = parseArrayKey(arrayKey);
  if ('problem' in parsed) throw new FanoutError('invalid_argument', parsed.problem, details);
  return arrayKey;
}

/** Validates a state change; the event it answers is written like any other. */
export function prepareStateChange(
  change: IncomingStateChange,
  stateLimits: StateLimits,
  publishLimits: PublishLimits,
): PreparedEvent {
  const data = change.data ?? new Uint8Array(0);
  const arrayKey = checkArrayKey(change.operation, change.arrayKey);
  checkStateData(change.operation, data, stateLimits);
  const contentType = stateContentTypes[change.operation];
  const prepared = prepareEvent(
    {
      channel: change.channel,
      type: change.type ?? '',
      data,
      contentType,
      headers: change.headers ?? {},
      id: change.id ?? '',
    },
    { ...publishLimits, allowedContentTypes: ['*'] },
    'change',
  );
  // DELETE's empty content type stays empty (prepareEvent defaults it).
  return {
    ...prepared,
    contentType,
    state: change.operation,
    ...(arrayKey === undefined ? {} : { arrayKey }),
  };
}
