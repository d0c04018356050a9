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
import http, { type IncomingMessage } from 'node:http';
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
  /**
   * The body of the last document (as text), for an upstream that gives no
   * validators: an answer with the same text is `unchanged`, neither parsed
   * nor made canonical again.
   */
  readonly lastText?: string | undefined;
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
      /** The body as received, decoded (what `lastText` of the next poll compares). */
      readonly text?: string;
    })
  /** A 200 whose body is the `lastText` of the request, byte for byte. */
  | (AnswerMeta & { readonly kind: 'unchanged'; readonly bodyBytes: number })
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
/** Bodies of a declared length up to this are read into one buffer allocated at the headers. */
const preallocatedBodyBytes = 64 * 1024;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The response headers a poll reads, from the raw header lines (no headers object built). */
interface AnswerHeaders {
  etag?: string;
  lastModified?: string;
  cacheControl?: string;
  contentType?: string;
  contentEncoding?: string;
  contentLength?: string;
  location?: string;
  retryAfter?: string;
}

/**
 * The headers a poll reads, by the length of their name (a header of
 * another length is passed over without lower-casing its name): where each
 * goes, and whether repeats are joined with ", " (as Node's headers object
 * joins cache-control and content-encoding) or the first one is kept.
 */
const answerHeaderNames: ReadonlyMap<
  number,
  readonly { readonly name: string; readonly key: keyof AnswerHeaders; readonly join: boolean }[]
> = (() => {
  const byLength = new Map<number, { name: string; key: keyof AnswerHeaders; join: boolean }[]>();
  const wanted: [string, keyof AnswerHeaders, boolean][] = [
    ['etag', 'etag', false],
    ['last-modified', 'lastModified', false],
    ['cache-control', 'cacheControl', true],
    ['content-type', 'contentType', false],
    ['content-encoding', 'contentEncoding', true],
    ['content-length', 'contentLength', false],
    ['location', 'location', false],
    ['retry-after', 'retryAfter', false],
  ];
  for (const [name, key, join] of wanted) {
    const list = byLength.get(name.length) ?? [];
    list.push({ name, key, join });
    byLength.set(name.length, list);
  }
  return byLength;
})();

/**
 * Reads the headers a poll needs as Node's `IncomingMessage#headers` would
 * give them (a repeated etag, last-modified, location, retry-after,
 * content-type or content-length: the first; a repeated cache-control or
 * content-encoding: joined with ", "), without building that object.
 */
function answerHeaders(raw: readonly string[]): AnswerHeaders {
  const found: AnswerHeaders = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] ?? '';
    const candidates = answerHeaderNames.get(name.length);
    if (candidates === undefined) continue;
    const lower = name.toLowerCase();
    for (const { name: wanted, key, join } of candidates) {
      if (lower !== wanted) continue;
      const value = raw[i + 1] ?? '';
      const before = found[key];
      if (before === undefined) found[key] = value;
      else if (join) found[key] = `${before}, ${value}`;
      break;
    }
  }
  return found;
}

/** An answer that is not a JSON document: its connection is dropped, the refusal returned. */
function notJson(
  response: IncomingMessage,
  url: URL,
  reason: string,
  message: string,
): UpstreamError {
  response.destroy();
  return new UpstreamError('upstream_not_json', message, {
    reason,
    httpStatus: response.statusCode ?? 0,
    url: shownUrl(url),
  });
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

/**
 * One fetch in progress: its deadline, the caller's signal, and what to undo
 * when it stops (the request, the body read or the name resolution waited
 * for now). One object per poll instead of an AbortController (whose abort
 * at the end of each poll built a DOMException) and a listener per step.
 */
class FetchRun {
  /** The reason it stopped: the caller's abort reason or an upstream_timeout. */
  reason: unknown;
  stopped = false;
  /** Undoes the step waited for now; set by each step, cleared when it ends. */
  cancel: ((reason: unknown) => void) | undefined;
  timer: NodeJS.Timeout | undefined;
  readonly deadline: number;
  readonly #signal: AbortSignal | undefined;

  constructor(signal: AbortSignal | undefined, deadline: number) {
    this.#signal = signal;
    this.deadline = deadline;
  }

  /** The caller's signal aborted (this object is its listener). */
  handleEvent(): void {
    this.stop(this.#signal?.reason);
  }

  stop(reason: unknown): void {
    if (this.stopped) return;
    this.stopped = true;
    this.reason = reason;
    const cancel = this.cancel;
    this.cancel = undefined;
    cancel?.(reason);
  }
}

type DeadlineKind = 'response-timeout' | 'request-timeout';

function onDeadline(run: FetchRun, kind: DeadlineKind, ms: number): void {
  run.timer = undefined;
  run.stop(
    new UpstreamError(
      'upstream_timeout',
      kind === 'response-timeout'
        ? `the upstream did not answer within ${ms} ms`
        : `the upstream did not answer completely within ${ms} ms`,
      { reason: kind },
    ),
  );
}

function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

const onceOption = { once: true } as const;
/** Idle kept-alive connections per host and port, at most. */
const maxFreeSockets = 4096;

export class UpstreamFetcher {
  readonly #options: UpstreamFetchOptions;
  /**
   * Keep-alive pools; idle connections do not hold the process open. As
   * many idle connections are kept per host as polls were in flight at
   * once, up to maxFreeSockets: with Node's default of 256, a slow upstream
   * (hundreds of polls in flight) had every connection beyond it closed when
   * its answer ended and a new one opened for the next poll.
   */
  readonly #agents = {
    http: new http.Agent({ keepAlive: true, scheduling: 'lifo', maxFreeSockets }),
    https: new https.Agent({ keepAlive: true, scheduling: 'lifo', maxFreeSockets }),
  };
  /** The pinned lookup of a remembered target (the policy hands back the same target). */
  readonly #lookups = new WeakMap<CheckedTarget, ReturnType<typeof pinnedLookup>>();

  constructor(options: UpstreamFetchOptions) {
    this.#options = options;
  }

  /**
   * Fetches the resource. Throws an UpstreamError for every failure, or the
   * request's abort reason when its signal aborts.
   */
  fetch(request: UpstreamFetchRequest): Promise<UpstreamFetchResult> {
    const external = request.signal;
    if (external?.aborted === true) return Promise.reject(external.reason as Error);
    const run = new FetchRun(external, Date.now() + this.#options.requestTimeoutMs);
    external?.addEventListener('abort', run, onceOption);
    return this.#follow(request, run);
  }

  /**
   * Arms the one timer of the fetch: the response deadline of a hop (when
   * it comes before the whole fetch's), or the whole fetch's.
   */
  #arm(run: FetchRun, kind: DeadlineKind): void {
    clearTimeout(run.timer);
    const left = Math.max(0, run.deadline - Date.now());
    const { responseTimeoutMs, requestTimeoutMs } = this.#options;
    run.timer =
      kind === 'response-timeout' && responseTimeoutMs < left
        ? setTimeout(onDeadline, responseTimeoutMs, run, kind, responseTimeoutMs)
        : setTimeout(onDeadline, left, run, 'request-timeout', requestTimeoutMs);
  }

  /** Resolves with the promise, or rejects with the run's reason when it stops first. */
  #waitFor<T>(run: FetchRun, promise: Promise<T>): Promise<T> {
    if (run.stopped) {
      promise.catch(() => undefined);
      return Promise.reject(asError(run.reason));
    }
    return new Promise<T>((resolve, reject) => {
      run.cancel = reject;
      promise.then(
        (value) => {
          run.cancel = undefined;
          resolve(value);
        },
        (error: unknown) => {
          run.cancel = undefined;
          reject(asError(error));
        },
      );
    });
  }

  /**
   * Follows redirects under the fetch's one run: a hop that gets no answer
   * in time stops the whole fetch.
   */
  async #follow(request: UpstreamFetchRequest, run: FetchRun): Promise<UpstreamFetchResult> {
    try {
      const policy = this.#options.policy;
      let visited: Set<string> | undefined;
      let input: string | URL = request.url;
      let base: URL | undefined;
      for (let redirects = 0; ; redirects += 1) {
        this.#arm(run, 'response-timeout');
        let response: IncomingMessage;
        let target: CheckedTarget;
        try {
          if (run.stopped) throw run.reason;
          target =
            policy.checkNow(input, base) ?? (await this.#waitFor(run, policy.check(input, base)));
          if (visited?.has(target.url.href) === true) {
            throw new UpstreamError(
              'upstream_redirect_loop',
              `the redirects of the upstream come back to ${shownUrl(target.url)}`,
              { reason: 'loop', url: shownUrl(target.url) },
            );
          }
          if (redirects > 0) (visited ??= new Set()).add(target.url.href);
          response = await this.#request(target, request, run);
        } catch (error) {
          throw run.stopped ? run.reason : error;
        } finally {
          clearTimeout(run.timer);
          run.timer = undefined;
        }
        const status = response.statusCode ?? 0;
        const headers = answerHeaders(response.rawHeaders);
        if (!redirectStatuses.has(status)) {
          // Awaited here: the body is read before the finally below ends the run.
          return await this.#answer(
            target,
            response,
            headers,
            request.validators,
            redirects,
            run,
            request.lastText,
          );
        }
        response.destroy();
        const location = headers.location;
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
        if (redirects === 0) (visited ??= new Set()).add(target.url.href);
        input = location.trim();
        base = target.url;
      }
    } finally {
      clearTimeout(run.timer);
      run.stopped = true;
      run.cancel = undefined;
      request.signal?.removeEventListener('abort', run);
    }
  }

  #headers(target: CheckedTarget, request: UpstreamFetchRequest): Record<string, string> {
    const headers: Record<string, string> = {};
    const origin: UpstreamOrigin = target.origin;
    const subscriberHeaders = request.subscriberHeaders;
    if (subscriberHeaders !== undefined && origin.forwardHeaders.length > 0) {
      for (const name in subscriberHeaders) {
        const value = subscriberHeaders[name];
        const lower = name.toLowerCase();
        if (value === undefined || managedHeaders.has(lower)) continue;
        if (!origin.forwardHeaders.includes(lower) || !headerValue.test(value)) continue;
        headers[lower] = value;
      }
    }
    for (const name in origin.headers) {
      const value = origin.headers[name];
      const lower = name.toLowerCase();
      if (value !== undefined && !managedHeaders.has(lower)) headers[lower] = value;
    }
    const resourceHeaders = request.resourceHeaders;
    if (resourceHeaders !== undefined && sameOrigin(request.url, target.url)) {
      for (const name in resourceHeaders) {
        const value = resourceHeaders[name];
        const lower = name.toLowerCase();
        if (value === undefined || managedHeaders.has(lower)) continue;
        if (headerValue.test(value)) headers[lower] = value;
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

  #lookup(target: CheckedTarget): ReturnType<typeof pinnedLookup> {
    let lookup = this.#lookups.get(target);
    if (lookup === undefined) {
      lookup = pinnedLookup(target.addresses);
      this.#lookups.set(target, lookup);
    }
    return lookup;
  }

  /**
   * Sends one GET to the checked addresses; resolves at the response
   * headers. `mayResend`: a reused connection found closed is replaced once.
   */
  #request(
    target: CheckedTarget,
    request: UpstreamFetchRequest,
    run: FetchRun,
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
      lookup: this.#lookup(target),
      agent: secure ? this.#agents.https : this.#agents.http,
      ...(secure && this.#options.ca !== undefined ? { ca: [this.#options.ca].flat() } : {}),
    };
    return new Promise<IncomingMessage>((resolve, reject) => {
      let settled = false;
      const fail = (error: unknown) => {
        if (settled) return;
        settled = true;
        run.cancel = undefined;
        const failure: unknown = run.stopped ? run.reason : error;
        reject(
          failure instanceof UpstreamError || run.stopped
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
        run.cancel = undefined;
        resolve(response);
      });
      outgoing.on('error', (error: NodeJS.ErrnoException) => {
        const stale =
          mayResend &&
          !settled &&
          !run.stopped &&
          outgoing.reusedSocket &&
          staleConnectionCodes.has(error.code ?? '');
        if (!stale) {
          fail(error);
          return;
        }
        settled = true;
        run.cancel = undefined;
        resolve(this.#request(target, request, run, false));
      });
      const cancel = (reason: unknown) => {
        outgoing.destroy();
        fail(reason);
      };
      if (run.stopped) {
        cancel(run.reason);
        return;
      }
      run.cancel = cancel;
      outgoing.end();
    });
  }

  /** The answer of the last hop: a 304 at once, a refusal thrown, or the document read. */
  #answer(
    target: CheckedTarget,
    response: IncomingMessage,
    headers: AnswerHeaders,
    sent: UpstreamValidators | undefined,
    redirects: number,
    run: FetchRun,
    lastText: string | undefined,
  ): UpstreamFetchResult | Promise<UpstreamFetchResult> {
    const { url } = target;
    const href = url.href;
    const status = response.statusCode ?? 0;
    const { etag, lastModified } = headers;
    const maxAgeMs = cacheMaxAgeMs(headers.cacheControl);
    if (status === 304 && sent?.url === href) {
      // No body: read to its end, the connection goes back to the pool.
      response.resume();
      // The validators sent, when the answer repeats them (or gives none): no new object.
      const same =
        (etag === undefined && lastModified === undefined) ||
        (etag === sent.etag && lastModified === sent.lastModified);
      return {
        kind: 'not-modified',
        url: href,
        validators: same ? sent : validatorsOf(href, etag, lastModified),
        maxAgeMs,
        redirects,
      };
    }
    if (!documentStatuses.has(status)) {
      response.destroy();
      const retryAfter = headers.retryAfter;
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
    const type = jsonContentType(headers.contentType);
    if (!type.ok) throw notJson(response, url, 'content-type', type.why);
    const encoding = headers.contentEncoding?.trim().toLowerCase();
    if (encoding !== undefined && encoding !== '' && encoding !== 'identity') {
      throw notJson(
        response,
        url,
        'content-encoding',
        `the body is encoded (${encoding}); identity was asked for`,
      );
    }
    return this.#document(target, response, headers, maxAgeMs, redirects, run, lastText);
  }

  /** Reads the body of a 200 (203) and the document in it. */
  async #document(
    target: CheckedTarget,
    response: IncomingMessage,
    headers: AnswerHeaders,
    maxAgeMs: number | undefined,
    redirects: number,
    run: FetchRun,
    lastText: string | undefined,
  ): Promise<UpstreamFetchResult> {
    const { url } = target;
    const href = url.href;
    const status = response.statusCode ?? 0;
    this.#arm(run, 'request-timeout');
    const body = await this.#readBody(target, response, headers.contentLength, run);
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
    if (text === lastText) {
      return {
        kind: 'unchanged',
        url: href,
        validators: validatorsOf(href, headers.etag, headers.lastModified),
        maxAgeMs,
        redirects,
        bodyBytes: body.byteLength,
      };
    }
    const read = readStateData(text, this.#options.stateLimits.maxDepth);
    if (!read.ok) throw notJson(response, url, read.problem, read.message);
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
      url: href,
      validators: validatorsOf(href, headers.etag, headers.lastModified),
      maxAgeMs,
      redirects,
      document: read.value,
      canonicalJson: canonical,
      bodyBytes: body.byteLength,
      text,
    };
  }

  /**
   * The body, at most maxBodyBytes; the connection is closed as soon as it
   * is over. A body of a declared length is read into one buffer of that size.
   */
  #readBody(
    target: CheckedTarget,
    response: IncomingMessage,
    contentLength: string | undefined,
    run: FetchRun,
  ): Promise<Buffer> {
    const { url } = target;
    const max = this.#options.maxBodyBytes;
    const tooLarge = (what: string) =>
      new UpstreamError(
        'upstream_too_large',
        `the body of the upstream answer is ${what}, over bridge.maxBodyBytes (${max})`,
        { reason: 'body', httpStatus: response.statusCode ?? 0, url: shownUrl(url) },
      );
    const declared =
      contentLength !== undefined && /^[0-9]+$/.test(contentLength.trim())
        ? Number(contentLength)
        : undefined;
    if (declared !== undefined && declared > max) {
      response.destroy();
      return Promise.reject(tooLarge(`${contentLength?.trim() ?? declared} bytes`));
    }
    return new Promise<Buffer>((resolve, reject) => {
      // A small declared length: one buffer, filled as chunks come; else the chunks, joined at
      // the end (a large one is not allocated before its bytes come).
      const whole =
        declared === undefined || declared > preallocatedBodyBytes
          ? undefined
          : Buffer.allocUnsafe(declared);
      const chunks: Buffer[] = [];
      let size = 0;
      let done = false;
      const finish = (error: unknown, body?: Buffer) => {
        if (done) return;
        done = true;
        run.cancel = undefined;
        if (error !== undefined || body === undefined) {
          response.destroy();
          chunks.length = 0;
          reject(asError(error));
        } else {
          resolve(body);
        }
      };
      if (run.stopped) {
        finish(run.reason);
        return;
      }
      run.cancel = finish;
      response.on('data', (chunk: Buffer) => {
        if (done) return;
        const end = size + chunk.byteLength;
        if (end > max) {
          finish(tooLarge('longer'));
        } else if (whole !== undefined && end <= whole.byteLength) {
          chunk.copy(whole, size);
        } else {
          // Longer than declared (the parser does not let it happen): keep what came.
          if (whole !== undefined && chunks.length === 0) chunks.push(whole.subarray(0, size));
          chunks.push(chunk);
        }
        size = end;
      });
      response.on('end', () => {
        finish(
          undefined,
          whole !== undefined && chunks.length === 0
            ? whole.subarray(0, size)
            : Buffer.concat(chunks, size),
        );
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

function validatorsOf(
  url: string,
  etag: string | undefined,
  lastModified: string | undefined,
): UpstreamValidators | undefined {
  if (etag === undefined && lastModified === undefined) return undefined;
  return {
    url,
    ...(etag === undefined ? {} : { etag }),
    ...(lastModified === undefined ? {} : { lastModified }),
  };
}

/** Whether `target` is of the origin of the requested URL. */
function sameOrigin(requested: string | URL, target: URL): boolean {
  const url = typeof requested === 'string' ? URL.parse(requested) : requested;
  return url !== null && url.origin === target.origin;
}
