/**
 * The keys of a JWKS URL (`auth.jwksUrl`), fetched and cached so that
 * clients, including unauthenticated ones with made-up key ids, cannot make
 * the edge or ingest hammer the key server:
 *
 * - one fetch at a time: every caller that needs the keys while a fetch is
 *   under way waits on that fetch (single flight);
 * - after a fetch ends, successful or not, no new fetch starts for
 *   `cooldownMs`: a token whose `kid` is unknown during the cooldown is
 *   refused without a fetch;
 * - a caller waits at most `timeoutMs`, the bound of a fetch (connect,
 *   answer and body);
 * - keys older than `maxAgeMs` are fetched again at their next use (within
 *   the cooldown rule), while the old keys keep verifying;
 * - a failed fetch keeps the keys of the last successful one: a key removed
 *   from the set stays valid until a fetch succeeds without it;
 * - until a first fetch succeeded, and for an unknown `kid` while the last
 *   fetch failed, tokens are refused with `unavailable` (retry later), not
 *   `unauthenticated`: the token may be good.
 */
import {
  createLocalJWKSet,
  errors as joseErrors,
  type FlattenedJWSInput,
  type JSONWebKeySet,
  type JWTHeaderParameters,
  type JWTVerifyGetKey,
} from 'jose';
import { FanoutError } from './fanout-error.js';

export interface JwksCacheOptions {
  readonly url: string;
  /** Least time from the end of a fetch to the start of the next. */
  readonly cooldownMs: number;
  /** Age after which the keys are fetched again at their next use. */
  readonly maxAgeMs: number;
  /** Most time one fetch (and so a caller waiting on it) may take. */
  readonly timeoutMs: number;
  /** Largest JWKS document accepted (1 MiB). */
  readonly maxBytes?: number;
  /** Clock in milliseconds, monotonic (tests); `performance.now()` by default. */
  readonly now?: () => number;
}

type KeySet = ReturnType<typeof createLocalJWKSet>;
type VerifyKey = Awaited<ReturnType<JWTVerifyGetKey>>;

export class JwksCache {
  readonly #options: JwksCacheOptions;
  readonly #now: () => number;
  readonly #maxBytes: number;
  #keys: KeySet | undefined;
  /** When the keys in use were fetched. */
  #fetchedAt = 0;
  /** When the last fetch ended, successful or not. */
  #endedAt: number | undefined;
  /** The last fetch failed (the keys held, if any, are older). */
  #failed = false;
  #pending: Promise<void> | undefined;

  constructor(options: JwksCacheOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => performance.now());
    this.#maxBytes = options.maxBytes ?? 1024 * 1024;
  }

  /** The key a token's header names, for `jwtVerify`. */
  readonly getKey = async (
    header: JWTHeaderParameters,
    token: FlattenedJWSInput,
  ): Promise<VerifyKey> => {
    if (this.#keys === undefined) await this.#refresh();
    else if (this.#now() - this.#fetchedAt >= this.#options.maxAgeMs) {
      // Old keys keep verifying while newer ones are fetched.
      void this.#refresh();
    }
    const keys = this.#keys;
    if (keys === undefined) throw this.#unavailable();
    try {
      return await keys(header, token);
    } catch (error) {
      if (!(error instanceof joseErrors.JWKSNoMatchingKey)) throw error;
      // An unknown key id: perhaps a new key, fetched at most once per cooldown.
      await this.#refresh();
      const latest = this.#keys;
      if (latest !== undefined && latest !== keys) return latest(header, token);
      if (this.#failed) throw this.#unavailable();
      throw error;
    }
  };

  /**
   * Waits for the fetch under way, or starts one unless the last ended less
   * than the cooldown ago. Never throws: a failure keeps the keys there are.
   */
  async #refresh(): Promise<void> {
    if (this.#pending === undefined) {
      const ended = this.#endedAt;
      if (ended !== undefined && this.#now() - ended < this.#options.cooldownMs) return;
      this.#pending = this.#fetch();
    }
    await this.#pending;
  }

  async #fetch(): Promise<void> {
    try {
      const document = await this.#download();
      this.#keys = createLocalJWKSet(document);
      this.#fetchedAt = this.#now();
      this.#failed = false;
    } catch {
      this.#failed = true;
    } finally {
      this.#endedAt = this.#now();
      this.#pending = undefined;
    }
  }

  async #download(): Promise<JSONWebKeySet> {
    const response = await fetch(this.#options.url, {
      headers: { accept: 'application/json, application/jwk-set+json' },
      signal: AbortSignal.timeout(this.#options.timeoutMs),
    });
    if (response.status !== 200) {
      await response.body?.cancel();
      throw new Error(`HTTP ${response.status}`);
    }
    const declared = Number(response.headers.get('content-length') ?? '0');
    if (declared > this.#maxBytes) {
      await response.body?.cancel();
      throw new Error(`the key set is larger than ${this.#maxBytes} bytes`);
    }
    const chunks: Uint8Array[] = [];
    let size = 0;
    if (response.body !== null) {
      for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
        size += chunk.byteLength;
        // Leaving the loop cancels the body.
        if (size > this.#maxBytes) {
          throw new Error(`the key set is larger than ${this.#maxBytes} bytes`);
        }
        chunks.push(chunk);
      }
    }
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as JSONWebKeySet;
  }

  #unavailable(): FanoutError {
    return new FanoutError(
      'unavailable',
      'the token keys cannot be fetched from the key server; retry later',
    );
  }
}
