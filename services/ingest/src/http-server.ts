/**
 * HTTP JSON publishing for producers without gRPC:
 *
 *   POST /v1/channels/{channel}/events
 *   content-type: application/json
 *   { "type": "order.created", "data": {...}, "headers": {...}, "id": "..." }
 *   or { "events": [ {...}, ... ] }    (all to {channel})
 *
 * `data` is any JSON value (stored as application/json), or use
 * `dataBase64` with `contentType` for other payloads. An `Idempotency-Key`
 * header sets the id of a single event. The answer is
 * `{"results": [{"id", "position": "<epoch>:<partition>:<offset>", "duplicate"}]}`;
 * errors are `{"error": {"code", "message", "details"}}` with the catalog's
 * HTTP status. Same validation, limits and semantics as gRPC Publish.
 *
 * CORS (`ingest.corsOrigins`): for an allowed `Origin`, preflights are
 * answered and answers carry `Access-Control-Allow-Origin`, so web pages
 * can publish; without the setting no CORS header is sent.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import {
  FanoutError,
  formatPosition,
  toFanoutError,
  toHttpStatus,
  type Logger,
} from '@fanout/shared';
import { context as otelContext, propagation, SpanKind, trace } from '@opentelemetry/api';
import type { IncomingEvent } from './event-validator.js';
import { verifiedSubjectOf, type IngestTls } from './ingest-tls.js';
import type { PublishCall, PublishService } from './publish-service.js';

export interface HttpServerOptions {
  readonly host: string;
  readonly port: number;
  readonly publish: PublishService;
  readonly logger: Logger;
  readonly maxBodyBytes: number;
  readonly timeoutMs: number;
  /** Origins allowed to publish from web pages (`*`: any); empty: no CORS. */
  readonly corsOrigins?: readonly string[];
  /** HTTPS (requiring client certificates when it has a client CA); HTTP when undefined. */
  readonly tls?: IngestTls | undefined;
}

export interface HttpServer {
  readonly port: number;
  close(timeoutMs: number): Promise<void>;
}

const tracer = trace.getTracer('fanout-ingest');
const route = /^\/v1\/channels\/([^/]+)\/events$/;

function send(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  response.end(text);
}

function sendError(response: ServerResponse, error: FanoutError): void {
  const retryAfter = error.details['retryAfterMs'];
  if (typeof retryAfter === 'number') {
    response.setHeader('retry-after', String(Math.ceil(retryAfter / 1000)));
  }
  send(response, toHttpStatus(error.code), error.toJSON());
}

async function readBody(request: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > limit) {
      throw new FanoutError('event_too_large', `request body is larger than ${limit} bytes`, {
        details: { limit },
      });
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

function invalid(field: string, message: string): FanoutError {
  return new FanoutError('invalid_argument', `${field}: ${message}`, { details: { field } });
}

function toIncoming(value: unknown, channel: string, field: string): IncomingEvent {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(field, 'must be a JSON object');
  }
  const event = value as Record<string, unknown>;
  for (const key of Object.keys(event)) {
    if (!['type', 'data', 'dataBase64', 'contentType', 'headers', 'id'].includes(key)) {
      throw invalid(`${field}.${key}`, 'unknown field');
    }
  }
  const optionalString = (key: string): string | undefined => {
    const v = event[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') throw invalid(`${field}.${key}`, 'must be a string');
    return v;
  };
  let data: Uint8Array;
  let contentType = optionalString('contentType');
  const base64 = optionalString('dataBase64');
  if (base64 !== undefined) {
    if (event['data'] !== undefined) throw invalid(field, 'give data or dataBase64, not both');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(base64)) throw invalid(`${field}.dataBase64`, 'not base64');
    data = Buffer.from(base64, 'base64');
  } else {
    data =
      event['data'] === undefined ? new Uint8Array(0) : Buffer.from(JSON.stringify(event['data']));
    contentType ??= 'application/json';
  }
  const headers = event['headers'];
  if (headers !== undefined && headers !== null) {
    if (typeof headers !== 'object' || Array.isArray(headers)) {
      throw invalid(`${field}.headers`, 'must be an object of strings');
    }
    for (const [name, v] of Object.entries(headers)) {
      if (typeof v !== 'string') throw invalid(`${field}.headers.${name}`, 'must be a string');
    }
  }
  return {
    channel,
    type: optionalString('type') ?? '',
    data,
    contentType: contentType ?? '',
    headers: (headers ?? {}) as Record<string, string>,
    id: optionalString('id') ?? '',
  };
}

export async function startHttpServer(options: HttpServerOptions): Promise<HttpServer> {
  const corsOrigins = new Set(options.corsOrigins ?? []);

  /** Adds the CORS answer for an allowed Origin; true when the origin is allowed. */
  function allowOrigin(request: IncomingMessage, response: ServerResponse): boolean {
    const origin = request.headers.origin;
    if (origin === undefined || !(corsOrigins.has('*') || corsOrigins.has(origin))) return false;
    response.setHeader('access-control-allow-origin', origin);
    response.setHeader('vary', 'Origin');
    return true;
  }

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(request.url ?? '/', 'http://ingest');
    } catch {
      // `//host%/...` reads as a URL of another host, and not a valid one.
      throw new FanoutError('not_found', 'the request target is not a path of this server');
    }
    const match = route.exec(url.pathname);
    if (match === null) throw new FanoutError('not_found', `no route ${url.pathname}`);
    const allowed = allowOrigin(request, response);
    if (request.method === 'OPTIONS' && allowed) {
      response.writeHead(204, {
        'access-control-allow-methods': 'POST',
        'access-control-allow-headers':
          'content-type, authorization, idempotency-key, x-api-key, traceparent, tracestate',
        'access-control-max-age': '600',
      });
      response.end();
      return;
    }
    if (request.method !== 'POST') {
      response.setHeader('allow', 'POST');
      throw new FanoutError(
        'method_not_allowed',
        `${request.method ?? ''} is not allowed; use POST`,
      );
    }
    const mediaType = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
    if (mediaType !== 'application/json') {
      throw new FanoutError(
        'content_type_not_allowed',
        'the request body must be application/json',
      );
    }
    let channel: string;
    try {
      channel = decodeURIComponent(match[1] ?? '');
    } catch {
      throw new FanoutError('channel_invalid', 'the channel in the path is not valid URL encoding');
    }
    const body = await readBody(request, options.maxBodyBytes);
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch (error) {
      throw invalid(
        'body',
        `not valid JSON (${error instanceof Error ? error.message : String(error)})`,
      );
    }
    let events: IncomingEvent[];
    if (typeof parsed === 'object' && parsed !== null && 'events' in parsed) {
      const list = parsed.events;
      if (!Array.isArray(list)) throw invalid('events', 'must be an array');
      events = list.map((event, index) => toIncoming(event, channel, `events[${index}]`));
    } else {
      const single = toIncoming(parsed, channel, 'event');
      const key = request.headers['idempotency-key'];
      events = [
        typeof key === 'string' && key !== '' && !single.id ? { ...single, id: key } : single,
      ];
    }
    const parent = propagation.extract(otelContext.active(), request.headers);
    const written = await tracer.startActiveSpan(
      'POST /v1/channels/{channel}/events',
      { kind: SpanKind.SERVER, attributes: { 'fanout.events': events.length } },
      parent,
      async (span) => {
        const carrier: Record<string, string> = {};
        propagation.inject(otelContext.active(), carrier);
        const apiKey = request.headers['x-api-key'];
        const call: PublishCall = {
          credentials: {
            authorization: request.headers.authorization,
            apiKey: Array.isArray(apiKey) ? apiKey[0] : apiKey,
            certificateSubject:
              options.tls === undefined ? undefined : verifiedSubjectOf(request.socket),
          },
          deadline: Date.now() + options.timeoutMs,
          ...(carrier['traceparent'] ? { traceparent: carrier['traceparent'] } : {}),
          ...(carrier['tracestate'] ? { tracestate: carrier['tracestate'] } : {}),
        };
        try {
          return await options.publish.publish(events, call, 'http');
        } finally {
          span.end();
        }
      },
    );
    send(response, 200, {
      results: written.map((result) => ({
        id: result.id,
        position: formatPosition(result.position),
        duplicate: result.duplicate,
      })),
    });
  }

  const listener = (request: IncomingMessage, response: ServerResponse): void => {
    handle(request, response).catch((error: unknown) => {
      const fanoutError = toFanoutError(error);
      if (fanoutError.code === 'internal') options.logger.error({ err: error }, 'publish failed');
      if (!response.headersSent) sendError(response, fanoutError);
      else response.destroy();
    });
  };
  const tls = options.tls;
  const server: Server =
    tls === undefined
      ? createServer(listener)
      : createHttpsServer(
          {
            cert: tls.cert,
            key: tls.key,
            ...(tls.clientCa ? { ca: tls.clientCa, requestCert: true } : {}),
            rejectUnauthorized: true,
          },
          listener,
        );
  server.requestTimeout = options.timeoutMs + 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: (timeoutMs) =>
      new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.closeAllConnections();
        }, timeoutMs);
        server.closeIdleConnections();
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}
