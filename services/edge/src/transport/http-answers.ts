/**
 * Plain HTTP answers of the edge's routes: a JSON body with CORS headers,
 * an error as the catalog's JSON (with `retry-after` where waiting helps),
 * and the integer query parameters.
 */
import { FanoutError, toHttpStatus } from '@fanout/shared';
import type { HttpResponse } from 'uWebSockets.js';
import { writeCorsHeaders } from './cors.js';
import { httpStatusLine } from './http-status.js';

export function sendJson(
  response: HttpResponse,
  status: number,
  body: string,
  headers: Readonly<Record<string, string>> = {},
): void {
  response.cork(() => {
    response.writeStatus(httpStatusLine(status)).writeHeader('content-type', 'application/json');
    writeCorsHeaders(response);
    for (const [name, value] of Object.entries(headers)) response.writeHeader(name, value);
    response.end(body);
  });
}

export function sendError(response: HttpResponse, error: FanoutError): void {
  const retryAfter =
    error.code === 'kafka_unavailable' || error.code === 'unavailable' || error.code === 'draining'
      ? { 'retry-after': '1' }
      : error.code === 'rate_limited' ||
          error.code === 'connection_limit' ||
          error.code === 'resource_limit'
        ? { 'retry-after': '1' }
        : undefined;
  sendJson(response, toHttpStatus(error.code), JSON.stringify(error.toJSON()), retryAfter);
}

export function integerParameter(
  query: URLSearchParams,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const text = query.get(name);
  if (text === null || text === '') return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new FanoutError('invalid_argument', `${name} must be an integer from ${min} to ${max}`, {
      details: { field: name },
    });
  }
  return value;
}
