import { STATUS_CODES } from 'node:http';

/** Phrases of the statuses the edge answers that Node's table lacks. */
const extraPhrases: Readonly<Record<number, string>> = { 499: 'Client Closed Request' };

/**
 * The HTTP status line uWS wants (`404 Not Found`), with Node's standard
 * reason phrase (or the edge's own for a status Node does not name, such as
 * 499 `cancelled`).
 */
export function httpStatusLine(status: number): string {
  return `${status} ${STATUS_CODES[status] ?? extraPhrases[status] ?? ''}`;
}
