import { STATUS_CODES } from 'node:http';

/**
 * The HTTP status line uWS wants (`404 Not Found`), with Node's standard
 * reason phrase. A status without one gets an empty phrase, which HTTP/1.1
 * allows (`499 `).
 */
export function httpStatusLine(status: number): string {
  return `${status} ${STATUS_CODES[status] ?? ''}`;
}
