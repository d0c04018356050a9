/**
 * One poll of an upstream JSON resource: a GET through the upstream policy,
 * redirects followed by hand (each hop checked again), conditional on the
 * validators of the last answer, bounded in time and bytes, and read into
 * a state document under the shared state limits.
 *
 * Never more than `maxBodyBytes` of a body is held: a Content-Length over
 * it is refused before reading, a body growing past it is cut off (the
 * connection closed). Bodies are asked for and accepted uncompressed only.
 *
 * Connections are kept alive between polls (one pool per fetcher, by host
 * and port): a new TCP connection per poll costs the bridge more than the
 * poll itself (docs/benchmarks.md, live resources). A pooled connection was
 * made to an address checked for that host's origin, and every poll is
 * checked again before it is sent. A request on a reused connection that the
 * upstream closed meanwhile (reset before any answer) is sent once more on
 * another connection.
 */
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { LookupAddress, LookupOptions } from 'node:dns';
import {
  canonicalJson,
  readStateData,
  utf8Length,
  type JsonValue,
  type StateLimits,
} from '@fanout/shared/portable-state';
import { cacheMaxAgeMs } from './http-timing.js';
import { shownUrl, UpstreamError } from './upstream-error.js';
import type {
  CheckedTarget,
  ResolvedAddress,
  UpstreamOrigin,
  UpstreamPolicy,
} from './upstream-policy.js';

export interface UpstreamFetchOptions {
  readonly policy: UpstreamPolicy;
  /** Request sent to response headers, per hop (name resolution included). */
  readonly responseTimeoutMs: number;
  /** The whole fetch: every hop and the body. */
  readonly requestTimeoutMs: number;
  readonly maxBodyBytes: number;
  readonly maxRedirects: number;
  readonly userAgent: string;
  /** Limits of the document (state.maxDocumentBytes, state.maxDepth). */
  readonly stateLimits: StateLimits;
  /** Extra CA certificates trusted for https upstreams (PEM); Node's store otherwise. */
  readonly ca?: string | readonly string[];
}

/** What makes the next request conditional: the validators of the last answer of a URL. */
export interface UpstreamValidators {
  /** The URL (after redirects) that answered with them; they are sent to it only. */
  readonly url: string;
  readonly etag?: string;
  readonly lastModified?: string;
}

export interface UpstreamFetchRequest {
  readonly url: string | URL;
  readonly validators?: UpstreamValidators | undefined;
  /**
   * Request headers of the subscriber this poll is for; only the names the
   * origin lists in `forwardHeaders` are passed on, to that origin only.
   */
  readonly subscriberHeaders?: Readonly<Record<string, string | undefined>> | undefined;
  /**
   * Headers configured for this resource (bridge.resources[].headers): sent
   * to the origin of `url` only, never to another origin a redirect leads to.
   */
  readonly resourceHeaders?: Readonly<Record<string, string>> | undefined;
  readonly signal?: AbortSignal | undefined;
}

interface AnswerMeta {
  /** The URL that answered, after redirects (with its query). */
  readonly url: string;
  /** Validators of this answer, when it gave any. */
  readonly validators: UpstreamValidators | undefined;
  /** Freshness from Cache-Control (s-maxage, max-age), in milliseconds. */
  readonly maxAgeMs: number | undefined;
  /** Redirects followed. */
  readonly redirects: number;
}

export type UpstreamFetchResult =
  | (AnswerMeta & {
      readonly kind: 'document';
      readonly document: JsonValue;
      /** The canonical JSON of the document (what change detection compares). */
      readonly canonicalJson: string;
      /** Bytes of the body as received. */
      readonly bodyBytes: number;
    })
  | (AnswerMeta & { readonly kind: 'not-modified' });

const redirectStatuses = new Set([301, 302, 303, 307, 308]);
const documentStatuses = new Set([200, 203]);
/** Never passed on from a subscriber, whatever an origin lists. */
const managedHeaders = new Set([
  'host',
  'connection',
  'keep-alive',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'content-length',
  'accept',
  'accept-encoding',
  'user-agent',
  'if-none-match',
  'if-modified-since',
]);
const headerValue = /^[\t\x20-\x7e\x80-\xff]*$/;
/** Errors of a reused keep-alive connection the upstream closed before our request reached it. */
const staleConnectionCodes = new Set(['ECONNRESET', 'EPIPE']);
const utf8 = new TextDecoder('utf-8', { fatal: true });

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/** `application/json` or any `+json` type, in UTF-8 (or no charset). */
function jsonContentType(
  contentType: string | undefined,
): { ok: true } | { ok: false; why: string } {
  if (contentType === undefined) return { ok: false, why: 'the answer has no content type' };
  const [essence = '', ...parameters] = contentType.split(';');
  const type = essence.trim().toLowerCase();
  if (type !== 'application/json' && !/^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+\+json$/.test(type)) {
    return { ok: false, why: `the content type ${type || '(empty)'} is not JSON` };
  }
  for (const parameter of parameters) {
    const [name = '', value = ''] = parameter.split('=');
    if (name.trim().toLowerCase() !== 'charset') continue;
    const charset = value
      .trim()
      .replace(/^"(.*)"$/, '$1')
      .toLowerCase();
    if (charset !== 'utf-8' && charset !== 'utf8') {
      return { ok: false, why: `the charset ${charset} is not UTF-8` };
    }
  }
  return { ok: true };
}

/** A lookup that answers with the checked addresses only: the socket connects to one of them. */
function pinnedLookup(addresses: readonly ResolvedAddress[]) {
  return (
    _hostname: string,
    options: LookupOptions,
    callback: (
      error: NodeJS.ErrnoException | null,
      address: string | LookupAddress[],
      family?: number,
    ) => void,
  ): void => {
    const wanted =
      options.family === 4 || options.family === 6
        ? addresses.filter((entry) => entry.family === options.family)
        : addresses;
    const first = wanted[0];
    if (first === undefined) {
      const error: NodeJS.ErrnoException = new Error('no checked address of this family');
      error.code = 'ENOTFOUND';
      callback(error, '', 0);
    } else if (options.all === true) {
      callback(
        null,
        wanted.map((entry) => ({ address: entry.address, family: entry.family })),
      );
    } else {
      callback(null, first.address, first.family);
    }
  };
}

function unreachable(url: URL, error: unknown): UpstreamError {
  const code = (error as { code?: unknown }).code;
  const reason = typeof code === 'string' ? code : 'connection';
  return new UpstreamError(
    'upstream_unreachable',
    `cannot reach ${url.origin}: ${error instanceof Error ? error.message : String(error)}`,
    { reason, url: shownUrl(url) },
    { cause: error },
  );
}

function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

/** Resolves with the promise, or rejects with the signal's reason when it aborts first. */
async function raced<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  signal.throwIfAborted();
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => {
      reject(signal.reason as Error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([promise, aborted]);
  } finally {
    if (onAbort !== undefined) signal.removeEventListener('abort', onAbort);
  }
}

export class UpstreamFetcher {
  readonly #options: UpstreamFetchOptions;
  /** Keep-alive pools; idle connections do not hold the process open. */
  readonly #agents = {
    http: new http.Agent({ keepAlive: true, scheduling: 'lifo' }),
    https: new https.Agent({ keepAlive: true, scheduling: 'lifo' }),
  };

  constructor(options: UpstreamFetchOptions) {
    this.#options = options;
  }

  /**
   * Fetches the resource. Throws an UpstreamError for every failure, or the
   * request's abort reason when its signal aborts.
   */
  async fetch(request: UpstreamFetchRequest): Promise<UpstreamFetchResult> {
    const controller = new AbortController();
    const signal = controller.signal;
    const external = request.signal;
    const onExternalAbort = () => {
      controller.abort(external?.reason);
    };
    if (external?.aborted === true) onExternalAbort();
    external?.addEventListener('abort', onExternalAbort, { once: true });
    const total = setTimeout(() => {
      controller.abort(
        new UpstreamError(
          'upstream_timeout',
          `the upstream did not answer completely within ${this.#options.requestTimeoutMs} ms`,
          { reason: 'request-timeout' },
        ),
      );
    }, this.#options.requestTimeoutMs);
    try {
      return await this.#follow(request, controller);
    } finally {
      clearTimeout(total);
      external?.removeEventListener('abort', onExternalAbort);
      if (!signal.aborted) controller.abort();
    }
  }

  /**
   * Follows redirects under the fetch's one controller: a hop that gets no
   * answer in time aborts the whole fetch (one abort signal per poll, not
   * one per hop as well).
   */
  async #follow(
    request: UpstreamFetchRequest,
    controller: AbortController,
  ): Promise<UpstreamFetchResult> {
    const signal = controller.signal;
    const visited = new Set<string>();
    let next: { input: string | URL; base: URL | undefined } = {
      input: request.url,
      base: undefined,
    };
    for (let redirects = 0; ; redirects += 1) {
      const responseTimer = setTimeout(() => {
        controller.abort(
          new UpstreamError(
            'upstream_timeout',
            `the upstream did not answer within ${this.#options.responseTimeoutMs} ms`,
            { reason: 'response-timeout' },
          ),
        );
      }, this.#options.responseTimeoutMs);
      let response: IncomingMessage;
      let target: CheckedTarget;
      try {
        target = await raced(this.#options.policy.check(next.input, next.base), signal);
        if (visited.has(target.url.href)) {
          throw new UpstreamError(
            'upstream_redirect_loop',
            `the redirects of the upstream come back to ${shownUrl(target.url)}`,
            { reason: 'loop', url: shownUrl(target.url) },
          );
        }
        visited.add(target.url.href);
        response = await this.#request(target, request, signal);
      } catch (error) {
        throw signal.aborted ? signal.reason : error;
      } finally {
        clearTimeout(responseTimer);
      }
      const status = response.statusCode ?? 0;
      if (!redirectStatuses.has(status)) {
        return this.#answer(target, response, request.validators, redirects, signal);
      }
      response.destroy();
      const location = header(response.headers, 'location');
      if (location === undefined || location.trim() === '') {
        throw new UpstreamError(
          'upstream_status',
          `the upstream redirected (HTTP ${status}) without a Location`,
          { reason: 'redirect-without-location', httpStatus: status, url: shownUrl(target.url) },
        );
      }
      if (redirects + 1 > this.#options.maxRedirects) {
        throw new UpstreamError(
          'upstream_redirect_loop',
          `the upstream redirected more than ${this.#options.maxRedirects} times`,
          { reason: 'too-many', httpStatus: status, url: shownUrl(target.url) },
        );
      }
      next = { input: location.trim(), base: target.url };
    }
  }

  #headers(target: CheckedTarget, request: UpstreamFetchRequest): Record<string, string> {
    const headers: Record<string, string> = {};
    const origin: UpstreamOrigin = target.origin;
    for (const [name, value] of Object.entries(request.subscriberHeaders ?? {})) {
      const lower = name.toLowerCase();
      if (value === undefined || managedHeaders.has(lower)) continue;
      if (!origin.forwardHeaders.includes(lower) || !headerValue.test(value)) continue;
      headers[lower] = value;
    }
    for (const [name, value] of Object.entries(origin.headers)) {
      if (!managedHeaders.has(name.toLowerCase())) headers[name.toLowerCase()] = value;
    }
    if (request.resourceHeaders !== undefined && sameOrigin(request.url, target.url)) {
      for (const [name, value] of Object.entries(request.resourceHeaders)) {
        const lower = name.toLowerCase();
        if (!managedHeaders.has(lower) && headerValue.test(value)) headers[lower] = value;
      }
    }
    headers['accept'] = 'application/json, application/*+json;q=0.9';
    headers['accept-encoding'] = 'identity';
    headers['user-agent'] = this.#options.userAgent;
    const validators = request.validators;
    if (validators?.url === target.url.href) {
      if (validators.etag !== undefined) headers['if-none-match'] = validators.etag;
      if (validators.lastModified !== undefined) {
        headers['if-modified-since'] = validators.lastModified;
      }
    }
    return headers;
  }

  /**
   * Sends one GET to the checked addresses; resolves at the response
   * headers. `mayResend`: a reused connection found closed is replaced once.
   */
  #request(
    target: CheckedTarget,
    request: UpstreamFetchRequest,
    signal: AbortSignal,
    mayResend = true,
  ): Promise<IncomingMessage> {
    const { url } = target;
    const secure = url.protocol === 'https:';
    const options: https.RequestOptions = {
      method: 'GET',
      protocol: url.protocol,
      host: target.hostname,
      port: url.port === '' ? (secure ? 443 : 80) : Number(url.port),
      path: `${url.pathname}${url.search}`,
      headers: this.#headers(target, request),
      lookup: pinnedLookup(target.addresses),
      agent: secure ? this.#agents.https : this.#agents.http,
      ...(secure && this.#options.ca !== undefined ? { ca: [this.#options.ca].flat() } : {}),
    };
    return new Promise<IncomingMessage>((resolve, reject) => {
      let settled = false;
      const onAbort = () => {
        outgoing.destroy();
        fail(signal.reason);
      };
      const fail = (error: unknown) => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        const failure: unknown = signal.aborted ? signal.reason : error;
        reject(
          failure instanceof UpstreamError || signal.aborted
            ? asError(failure)
            : unreachable(url, failure),
        );
      };
      const outgoing = (secure ? https : http).request(options, (response) => {
        if (settled) {
          response.destroy();
          return;
        }
        settled = true;
        signal.removeEventListener('abort', onAbort);
        resolve(response);
      });
      outgoing.on('error', (error: NodeJS.ErrnoException) => {
        const stale =
          mayResend &&
          !settled &&
          !signal.aborted &&
          outgoing.reusedSocket &&
          staleConnectionCodes.has(error.code ?? '');
        if (!stale) {
          fail(error);
          return;
        }
        settled = true;
        signal.removeEventListener('abort', onAbort);
        resolve(this.#request(target, request, signal, false));
      });
      if (signal.aborted) {
        onAbort();
        return;
      }
      signal.addEventListener('abort', onAbort, { once: true });
      outgoing.end();
    });
  }

  async #answer(
    target: CheckedTarget,
    response: IncomingMessage,
    sent: UpstreamValidators | undefined,
    redirects: number,
    signal: AbortSignal,
  ): Promise<UpstreamFetchResult> {
    const { url } = target;
    const status = response.statusCode ?? 0;
    const etag = header(response.headers, 'etag');
    const lastModified = header(response.headers, 'last-modified');
    const validators: UpstreamValidators | undefined =
      etag === undefined && lastModified === undefined
        ? undefined
        : {
            url: url.href,
            ...(etag === undefined ? {} : { etag }),
            ...(lastModified === undefined ? {} : { lastModified }),
          };
    const meta: AnswerMeta = {
      url: url.href,
      validators,
      maxAgeMs: cacheMaxAgeMs(header(response.headers, 'cache-control')),
      redirects,
    };
    if (status === 304 && sent?.url === url.href) {
      // No body: read to its end, the connection goes back to the pool.
      response.resume();
      return { kind: 'not-modified', ...meta, validators: validators ?? sent };
    }
    if (!documentStatuses.has(status)) {
      response.destroy();
      const retryAfter = header(response.headers, 'retry-after');
      throw new UpstreamError(
        'upstream_status',
        `the upstream answered HTTP ${status}${status === 304 ? ' to an unconditional request' : ''}`,
        {
          reason: status === 304 ? 'unexpected-not-modified' : 'status',
          httpStatus: status,
          url: shownUrl(url),
          ...(retryAfter === undefined ? {} : { retryAfter }),
        },
      );
    }
    const notJson = (reason: string, message: string) => {
      response.destroy();
      return new UpstreamError('upstream_not_json', message, {
        reason,
        httpStatus: status,
        url: shownUrl(url),
      });
    };
    const type = jsonContentType(header(response.headers, 'content-type'));
    if (!type.ok) throw notJson('content-type', type.why);
    const encoding = header(response.headers, 'content-encoding')?.trim().toLowerCase();
    if (encoding !== undefined && encoding !== '' && encoding !== 'identity') {
      throw notJson(
        'content-encoding',
        `the body is encoded (${encoding}); identity was asked for`,
      );
    }
    const body = await this.#readBody(target, response, signal);
    let text: string;
    try {
      text = utf8.decode(body);
    } catch (error) {
      throw new UpstreamError(
        'upstream_invalid_utf8',
        'the body of the upstream answer is not valid UTF-8',
        { reason: 'utf8', httpStatus: status, url: shownUrl(url) },
        { cause: error },
      );
    }
    const read = readStateData(text, this.#options.stateLimits.maxDepth);
    if (!read.ok) throw notJson(read.problem, read.message);
    const canonical = canonicalJson(read.value);
    const documentBytes = utf8Length(canonical);
    if (documentBytes > this.#options.stateLimits.maxDocumentBytes) {
      throw new UpstreamError(
        'upstream_too_large',
        `the document is ${documentBytes} bytes of canonical JSON, over state.maxDocumentBytes (${this.#options.stateLimits.maxDocumentBytes})`,
        { reason: 'document', httpStatus: status, url: shownUrl(url) },
      );
    }
    return {
      kind: 'document',
      ...meta,
      document: read.value,
      canonicalJson: canonical,
      bodyBytes: body.byteLength,
    };
  }

  /** The body, at most maxBodyBytes; the connection is closed as soon as it is over. */
  #readBody(
    target: CheckedTarget,
    response: IncomingMessage,
    signal: AbortSignal,
  ): Promise<Buffer> {
    const { url } = target;
    const max = this.#options.maxBodyBytes;
    const tooLarge = (what: string) =>
      new UpstreamError(
        'upstream_too_large',
        `the body of the upstream answer is ${what}, over bridge.maxBodyBytes (${max})`,
        { reason: 'body', httpStatus: response.statusCode ?? 0, url: shownUrl(url) },
      );
    const declared = header(response.headers, 'content-length');
    if (declared !== undefined && /^[0-9]+$/.test(declared.trim()) && Number(declared) > max) {
      response.destroy();
      return Promise.reject(tooLarge(`${declared.trim()} bytes`));
    }
    return new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let done = false;
      const finish = (error: unknown, body?: Buffer) => {
        if (done) return;
        done = true;
        signal.removeEventListener('abort', onAbort);
        if (error !== undefined || body === undefined) {
          response.destroy();
          chunks.length = 0;
          reject(asError(error));
        } else {
          resolve(body);
        }
      };
      const onAbort = () => {
        finish(signal.reason);
      };
      if (signal.aborted) {
        onAbort();
        return;
      }
      signal.addEventListener('abort', onAbort, { once: true });
      response.on('data', (chunk: Buffer) => {
        if (done) return;
        size += chunk.byteLength;
        if (size > max) finish(tooLarge('longer'));
        else chunks.push(chunk);
      });
      response.on('end', () => {
        finish(undefined, Buffer.concat(chunks, size));
      });
      response.on('error', (error) => {
        finish(unreachable(url, error));
      });
      response.on('close', () => {
        if (!response.complete) {
          finish(unreachable(url, new Error('the connection closed before the end of the body')));
        }
      });
    });
  }
}

/** Whether `target` is of the origin of the requested URL. */
function sameOrigin(requested: string | URL, target: URL): boolean {
  const url = typeof requested === 'string' ? URL.parse(requested) : requested;
  return url !== null && url.origin === target.origin;
}
