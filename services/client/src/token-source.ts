/**
 * Tokens from the application's provider, with the expiry read from the
 * JWT's `exp` claim (not verified: the edge verifies), so the client can ask
 * for a fresh one before the current one expires.
 */
export type TokenReason = 'connect' | 'refresh' | 'expired';

/**
 * Returns the bearer JWT to use, or undefined to connect anonymously.
 * `reason` says why: a new connection, a refresh before expiry, or after
 * the edge said the token expired (do not return the same one).
 */
export type TokenProvider = (context: {
  readonly reason: TokenReason;
}) => string | undefined | Promise<string | undefined>;

/** The `exp` claim of a JWT in milliseconds, or undefined. */
export function jwtExpiry(token: string): number | undefined {
  const payload = token.split('.')[1];
  if (payload === undefined) return undefined;
  try {
    const base64 = payload.replace(/-/g, '+').replace(/_/g, '/');
    const padded = base64 + '='.repeat((4 - (base64.length % 4)) % 4);
    const binary = atob(padded);
    const bytes = Uint8Array.from(binary, (char) => char.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes)) as { exp?: unknown };
    return typeof claims.exp === 'number' ? claims.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

export class TokenSource {
  readonly #provider: TokenProvider | undefined;
  readonly #marginMs: number;
  #token: string | undefined;
  #expiresAt: number | undefined;

  constructor(provider: TokenProvider | undefined, marginMs: number) {
    this.#provider = provider;
    this.#marginMs = marginMs;
  }

  /** The token last obtained. */
  current(): string | undefined {
    return this.#token;
  }

  /** When the current token should be replaced (ms since the epoch), if it expires. */
  refreshAt(): number | undefined {
    return this.#expiresAt === undefined ? undefined : this.#expiresAt - this.#marginMs;
  }

  /** A token for `reason`: the cached one while it is fresh enough, else the provider's. */
  async get(reason: TokenReason): Promise<string | undefined> {
    if (this.#provider === undefined) return undefined;
    const refreshAt = this.refreshAt();
    const fresh = this.#token !== undefined && (refreshAt === undefined || Date.now() < refreshAt);
    if (reason === 'connect' && fresh) return this.#token;
    const token = await this.#provider({ reason });
    this.#token = token;
    this.#expiresAt = token === undefined ? undefined : jwtExpiry(token);
    return token;
  }
}
