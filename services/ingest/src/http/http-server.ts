/**
 * HTTP JSON publishing for publishers without gRPC:
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
 * State channels (state-change.ts), the same as gRPC ChangeState:
 *
 *   PUT    /v1/state/{channel}   content-type: application/json              the whole document
 *   PATCH  /v1/state/{channel}   content-type: application/merge-patch+json  an RFC 7396 merge patch
 *   DELETE /v1/state/{channel}   no body
 *
 * with an optional `Idempotency-Key` header (the change's id), `type` query
 * parameter and, on PUT, `arrayKey` query parameter (a JSON Pointer such as
 * `/id`, docs/decisions/047); the answer is `{"id", "position", "duplicate"}`. A body
 * over the operation's limit is refused from its Content-Length
 * (`state_too_large`), a body on DELETE with `state_invalid`.
 *
 * CORS (`ingest.corsOrigins`): for an allowed `Origin`, preflights are
 * answered and answers carry `Access-Control-Allow-Origin`, so web pages
 * can publish; without the setting no CORS header is sent. The origin
 * matching and header lines are the shared CORS policy (`CorsPolicy` of
 * @fanout/shared); this module writes them with node:http.
 *
 * Hostile bodies: the publisher is authenticated from the headers before the
 * body is read; a body over the size limit is refused from its
 * Content-Length (or as soon as it passes the limit); the body takes its
 * share of the request budget (request-budget.ts) before it is read and as
 * it arrives; a JSON text nested deeper than `maxJsonDepth` is refused before
 * it is parsed. A refusal before the body was read closes the connection.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import {
  CorsPolicy,
  FanoutError,
  formatPosition,
  toFanoutError,
  toHttpStatus,
  type Logger,
  type StateOperation,
} from '@fanout/shared';
import { context as otelContext, propagation, SpanKind, trace } from '@opentelemetry/api';
import type { IncomingEvent } from '../publishing/event-validator.js';
import type { StateLimits } from '../publishing/state-change.js';
import { verifiedSubjectOf, type IngestTls } from '../ingest-tls.js';
import { jsonShape } from './json-shape.js';
import type { PublisherCredentials } from '../admission/publisher-auth.js';
import type { PublishCall, PublishService } from '../publishing/publish-service.js';
import {
  httpBytesPerByte,
  jsonTokenBytes,
  type RequestBudget,
  type Reservation,
} from '../admission/request-budget.js';

export interface HttpServerOptions {
  readonly host: string;
  readonly port: number;
  readonly publish: PublishService;
  readonly logger: Logger;
  readonly maxBodyBytes: number;
  /** Memory budget of the bodies being read, parsed or written. */
  readonly budget: RequestBudget;
  readonly timeoutMs: number;
  /** Origins allowed to publish from web pages (`*`: any); empty: no CORS. */
  readonly corsOrigins?: readonly string[];
  /** HTTPS (requiring client certificates when it has a client CA); HTTP when undefined. */
  readonly tls?: IngestTls | undefined;
  /** Limits of state documents and merge patches (the `state` settings). */
  readonly state: StateLimits;
}

export interface HttpServer {
  readonly port: number;
  close(timeoutMs: number): Promise<void>;
}

const tracer = trace.getTracer('fanout-ingest');
const route = /^\/v1\/channels\/([^/]+)\/events$/;
const stateRoute = /^\/v1\/state\/([^/]+)$/;
/** The state operation of each method of the state route. */
const stateMethods: Readonly<Record<string, StateOperation>> = {
  PUT: 'put',
  PATCH: 'merge',
  DELETE: 'delete',
};
/** The media type a state route method's body must have. */
const stateMediaTypes: Readonly<Record<StateOperation, string>> = {
  put: 'application/json',
  merge: 'application/merge-patch+json',
  delete: '',
};
/** Deepest nesting of arrays and objects in a body (the envelope takes 3 levels). */
export const maxJsonDepth = 64;

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

function tooLarge(limit: number): FanoutError {
  return new FanoutError('event_too_large', `request body is larger than ${limit} bytes`, {
    details: { limit },
  });
}

/**
 * Reads a body of at most `limit` bytes; `reservation` already holds
 * `reserved` bytes of it (its Content-Length) and grows past them. Reads
 * with the stream's own events (an async iterator costs several objects and
 * listeners per request); a body over the limit or the budget, or a request
 * that ends before its body, rejects and the request is destroyed.
 */
function readBody(
  request: IncomingMessage,
  limit: number,
  reservation: Reservation,
  reserved: number,
  overLimit: (limit: number) => FanoutError = tooLarge,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (error: Error | undefined): void => {
      if (settled) return;
      settled = true;
      request.off('data', onData);
      request.off('end', onEnd);
      request.off('error', onError);
      request.off('close', onClose);
      if (error === undefined) {
        resolve(Buffer.concat(chunks, size));
        return;
      }
      request.destroy();
      reject(error);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      try {
        if (size > limit) throw overLimit(limit);
        if (size > reserved) {
          reservation.grow(httpBytesPerByte * (size - reserved));
          reserved = size;
        }
      } catch (error) {
        finish(error instanceof Error ? error : new Error(String(error)));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      finish(undefined);
    };
    const onError = (error: Error): void => {
      finish(error);
    };
    const onClose = (): void => {
      finish(new Error('the request closed before its body ended'));
    };
    request.on('data', onData);
    request.on('end', onEnd);
    request.on('error', onError);
    request.on('close', onClose);
  });
}

/** Parses a JSON body after checking its nesting and weighing its values. */
function parseBody(body: Buffer, reservation: Reservation): unknown {
  const shape = jsonShape(body, maxJsonDepth);
  if (shape.depth > maxJsonDepth) {
    throw invalid('body', `JSON nested deeper than ${maxJsonDepth} levels`);
  }
  reservation.grow(shape.tokens * jsonTokenBytes);
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw invalid(
      'body',
      `not valid JSON (${error instanceof Error ? error.message : String(error)})`,
    );
  }
}

function invalid(field: string, message: string): FanoutError {
  return new FanoutError('invalid_argument', `${field}: ${message}`, { details: { field } });
}

/** The refusal of a state body over `limit` bytes. */
function stateOverLimit(operation: StateOperation): (limit: number) => FanoutError {
  if (operation === 'delete') {
    return () =>
      new FanoutError('state_invalid', 'data: a delete carries no document', {
        details: { field: 'data' },
      });
  }
  const what = operation === 'put' ? 'document' : 'merge patch';
  return (limit) =>
    new FanoutError('state_too_large', `data: the ${what} is larger than ${limit} bytes`, {
      details: { field: 'data', limit },
    });
}

/** The media type of a request's body, lower case, without parameters. */
function mediaTypeOf(request: IncomingMessage): string {
  return (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

/** The channel of a route's path segment. */
function channelOf(segment: string | undefined): string {
  try {
    return decodeURIComponent(segment ?? '');
  } catch {
    throw new FanoutError('channel_invalid', 'the channel in the path is not valid URL encoding');
  }
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

/** The events of a parsed body: `{"events": [...]}` or one event. */
function eventsOf(parsed: unknown, channel: string, request: IncomingMessage): IncomingEvent[] {
  if (typeof parsed === 'object' && parsed !== null && 'events' in parsed) {
    const list = parsed.events;
    if (!Array.isArray(list)) throw invalid('events', 'must be an array');
    return list.map((event, index) => toIncoming(event, channel, `events[${index}]`));
  }
  const single = toIncoming(parsed, channel, 'event');
  const key = request.headers['idempotency-key'];
  return [typeof key === 'string' && key !== '' && !single.id ? { ...single, id: key } : single];
}

export async function startHttpServer(options: HttpServerOptions): Promise<HttpServer> {
  /** The CORS policy of a route: the same but for the methods it allows. */
  const corsPolicy = (methods: readonly string[]): CorsPolicy =>
    new CorsPolicy({
      allowedOrigins: options.corsOrigins ?? [],
      methods,
      requestHeaders: [
        'content-type',
        'authorization',
        'idempotency-key',
        'x-api-key',
        'traceparent',
        'tracestate',
      ],
      // A page must be able to read when to retry a 429 or a 503.
      exposedHeaders: ['retry-after'],
      maxAgeSeconds: 600,
    });
  const cors = corsPolicy(['POST']);
  const stateCors = corsPolicy(['PUT', 'PATCH', 'DELETE']);

  /** Adds the CORS answer for an allowed Origin; true when the origin is allowed. */
  function allowOrigin(request: IncomingMessage, response: ServerResponse): boolean {
    const origin = request.headers.origin;
    if (origin === undefined || !cors.allowsOrigin(origin)) return false;
    for (const [name, value] of cors.answerHeaders(origin)) response.setHeader(name, value);
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
    const stateMatch = match === null ? stateRoute.exec(url.pathname) : null;
    if (match === null && stateMatch === null) {
      throw new FanoutError('not_found', `no route ${url.pathname}`);
    }
    const allowed = allowOrigin(request, response);
    if (request.method === 'OPTIONS' && allowed) {
      const policy = stateMatch === null ? cors : stateCors;
      response.writeHead(204, Object.fromEntries(policy.preflightHeaders()));
      response.end();
      return;
    }
    if (stateMatch !== null) {
      await changeState(request, response, url, stateMatch[1]);
      return;
    }
    if (request.method !== 'POST') {
      response.setHeader('allow', 'POST');
      throw new FanoutError(
        'method_not_allowed',
        `${request.method ?? ''} is not allowed; use POST`,
      );
    }
    if (mediaTypeOf(request) !== 'application/json') {
      throw new FanoutError(
        'content_type_not_allowed',
        'the request body must be application/json',
      );
    }
    const channel = channelOf(match?.[1]);
    const credentials = credentialsOf(request);
    const identity = await options.publish.authenticate(credentials, 'http');
    // Node refuses a malformed Content-Length; a chunked body has none.
    const declared = Number(request.headers['content-length'] ?? 0) || 0;
    if (declared > options.maxBodyBytes) {
      throw options.publish.refused(tooLarge(options.maxBodyBytes), 'http');
    }
    let reservation: Reservation;
    try {
      reservation = options.budget.reserve(request.socket, httpBytesPerByte * declared);
    } catch (error) {
      throw options.publish.refused(error, 'http');
    }
    try {
      await publishBody(request, response, channel, credentials, identity, reservation, declared);
    } finally {
      reservation.release();
    }
  }

  function credentialsOf(request: IncomingMessage): PublisherCredentials {
    const apiKey = request.headers['x-api-key'];
    return {
      authorization: request.headers.authorization,
      apiKey: Array.isArray(apiKey) ? apiKey[0] : apiKey,
      certificateSubject: options.tls === undefined ? undefined : verifiedSubjectOf(request.socket),
    };
  }

  /** The trace context of a publish, from the span it runs in. */
  function publishCall(
    credentials: PublisherCredentials,
    identity: PublishCall['identity'],
  ): PublishCall {
    const carrier: Record<string, string> = {};
    propagation.inject(otelContext.active(), carrier);
    return {
      credentials,
      identity,
      deadline: Date.now() + options.timeoutMs,
      ...(carrier['traceparent'] ? { traceparent: carrier['traceparent'] } : {}),
      ...(carrier['tracestate'] ? { tracestate: carrier['tracestate'] } : {}),
    };
  }

  /** PUT, PATCH or DELETE /v1/state/{channel}. */
  async function changeState(
    request: IncomingMessage,
    response: ServerResponse,
    url: URL,
    segment: string | undefined,
  ): Promise<void> {
    const method = request.method ?? '';
    const operation = Object.hasOwn(stateMethods, method) ? stateMethods[method] : undefined;
    if (operation === undefined) {
      response.setHeader('allow', 'PUT, PATCH, DELETE');
      throw new FanoutError(
        'method_not_allowed',
        `${request.method ?? ''} is not allowed; use PUT, PATCH or DELETE`,
      );
    }
    const wanted = stateMediaTypes[operation];
    if (wanted !== '' && mediaTypeOf(request) !== wanted) {
      throw new FanoutError(
        'content_type_not_allowed',
        `the body of ${request.method ?? ''} /v1/state/{channel} must be ${wanted}`,
      );
    }
    const channel = channelOf(segment);
    const credentials = credentialsOf(request);
    const identity = await options.publish.authenticate(credentials, 'http');
    const limit =
      operation === 'put'
        ? options.state.maxDocumentBytes
        : operation === 'merge'
          ? options.state.maxPatchBytes
          : 0;
    const overLimit = stateOverLimit(operation);
    const declared = Number(request.headers['content-length'] ?? 0) || 0;
    if (declared > limit) throw options.publish.refused(overLimit(limit), 'http');
    let reservation: Reservation;
    try {
      reservation = options.budget.reserve(request.socket, httpBytesPerByte * declared);
    } catch (error) {
      throw options.publish.refused(error, 'http');
    }
    try {
      let data: Buffer;
      try {
        data = await readBody(request, limit, reservation, declared, overLimit);
        reservation.grow(jsonShape(data, options.state.maxDepth).tokens * jsonTokenBytes);
      } catch (error) {
        throw options.publish.refused(
          error instanceof FanoutError
            ? error
            : invalid(
                'body',
                `not read whole (${error instanceof Error ? error.message : String(error)})`,
              ),
          'http',
        );
      }
      const key = request.headers['idempotency-key'];
      const type = url.searchParams.get('type');
      const arrayKey = url.searchParams.get('arrayKey');
      const parent = propagation.extract(otelContext.active(), request.headers);
      const written = await tracer.startActiveSpan(
        `${request.method ?? ''} /v1/state/{channel}`,
        { kind: SpanKind.SERVER, attributes: { 'fanout.state.operation': operation } },
        parent,
        async (span) => {
          try {
            return await options.publish.changeState(
              {
                channel,
                operation,
                data,
                ...(typeof key === 'string' && key !== '' ? { id: key } : {}),
                ...(type !== null ? { type } : {}),
                ...(arrayKey !== null ? { arrayKey } : {}),
              },
              publishCall(credentials, identity),
              'http',
            );
          } finally {
            span.end();
          }
        },
      );
      send(response, 200, {
        id: written.id,
        position: formatPosition(written.position),
        duplicate: written.duplicate,
      });
    } finally {
      reservation.release();
    }
  }

  async function publishBody(
    request: IncomingMessage,
    response: ServerResponse,
    channel: string,
    credentials: PublisherCredentials,
    identity: PublishCall['identity'],
    reservation: Reservation,
    declared: number,
  ): Promise<void> {
    let events: IncomingEvent[];
    try {
      const body = await readBody(request, options.maxBodyBytes, reservation, declared);
      events = eventsOf(parseBody(body, reservation), channel, request);
    } catch (error) {
      // A body cut short, or anything else a body can provoke, is the caller's error.
      throw options.publish.refused(
        error instanceof FanoutError
          ? error
          : invalid(
              'body',
              `not read whole (${error instanceof Error ? error.message : String(error)})`,
            ),
        'http',
      );
    }
    const parent = propagation.extract(otelContext.active(), request.headers);
    const written = await tracer.startActiveSpan(
      'POST /v1/channels/{channel}/events',
      { kind: SpanKind.SERVER, attributes: { 'fanout.events': events.length } },
      parent,
      async (span) => {
        try {
          return await options.publish.publish(events, publishCall(credentials, identity), 'http');
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
      // A body not read is not read at all: the connection closes after the answer.
      if (!request.complete && !response.headersSent) response.setHeader('connection', 'close');
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
