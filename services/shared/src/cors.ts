/**
 * The CORS policy of a service's HTTP routes: which origins' web pages may
 * read its answers, and the headers that say so. The services write the
 * headers with their own HTTP server (uWebSockets.js in the edge, node:http
 * in the ingest) and decide themselves what happens to a request from an
 * origin the policy does not allow.
 *
 * - An allowed origin is one listed exactly (`https://app.example.com`), or
 *   any with `*`. A request without `Origin` (or with an empty one) is not a
 *   cross-origin request from a page: no origin is allowed for it.
 * - An answer to an allowed origin carries `Access-Control-Allow-Origin` with
 *   that origin (never `*`: the answer depends on it, hence `Vary: Origin`)
 *   and `Access-Control-Expose-Headers` for the listed response headers.
 * - A preflight answer adds the allowed methods and request headers, and how
 *   long a browser may keep the answer.
 * - No `Access-Control-Allow-Credentials`: clients authenticate with tokens
 *   and keys in headers, not with cookies.
 */

/** Header lines, lower-case names, in the order they are written. */
export type CorsHeaderLines = readonly (readonly [name: string, value: string])[];

export interface CorsPolicyOptions {
  /** Origins whose pages may read the answers; `*` allows any. */
  readonly allowedOrigins: readonly string[];
  /** Methods a preflight allows. */
  readonly methods: readonly string[];
  /** Request headers a preflight allows. */
  readonly requestHeaders: readonly string[];
  /** Response headers pages may read beyond the CORS-safelisted ones. */
  readonly exposedHeaders?: readonly string[];
  /** How long a browser may keep a preflight answer, seconds. */
  readonly maxAgeSeconds: number;
}

export class CorsPolicy {
  readonly #any: boolean;
  readonly #origins: ReadonlySet<string>;
  readonly #exposed: string;
  readonly #preflight: CorsHeaderLines;

  constructor(options: CorsPolicyOptions) {
    this.#any = options.allowedOrigins.includes('*');
    this.#origins = new Set(options.allowedOrigins);
    this.#exposed = (options.exposedHeaders ?? []).join(', ');
    this.#preflight = [
      ['access-control-allow-methods', options.methods.join(', ')],
      ['access-control-allow-headers', options.requestHeaders.join(', ')],
      ['access-control-max-age', String(options.maxAgeSeconds)],
    ];
  }

  /** True when a page of `origin` may read the answers; false for an empty Origin. */
  allowsOrigin(origin: string): boolean {
    return origin !== '' && (this.#any || this.#origins.has(origin));
  }

  /** The CORS headers of an answer to an allowed `origin`. */
  answerHeaders(origin: string): CorsHeaderLines {
    const lines: [string, string][] = [
      ['access-control-allow-origin', origin],
      ['vary', 'Origin'],
    ];
    if (this.#exposed !== '') lines.push(['access-control-expose-headers', this.#exposed]);
    return lines;
  }

  /** The headers a preflight answer adds to `answerHeaders`. */
  preflightHeaders(): CorsHeaderLines {
    return this.#preflight;
  }
}
