/**
 * Verifies bearer tokens (JWT) for producers (ingest) and clients (edge):
 * HS256 with a shared secret, RS256/ES256 with a public key, and any key of
 * a JWKS, with optional issuer and audience checks. Several keys may be
 * configured at once (a migration from a shared secret to keys); the
 * token's `alg` chooses which checks it, and never another:
 *
 * - HS256: the shared secret only (a public key is never used as an HMAC
 *   secret: no algorithm confusion);
 * - the public key's algorithm (RS256 or ES256): the public key, then the
 *   JWKS when one is configured and the public key does not match the
 *   signature;
 * - RS256, ES256, EdDSA otherwise: the JWKS, by the token's `kid`.
 *
 * Any other `alg` (`none`, HS384, ...) is refused. Failures are FanoutErrors:
 * `token_expired` for an expired token, `unavailable` while the JWKS cannot
 * be fetched, `unauthenticated` for everything else, with a message that
 * says what is wrong (never the token).
 */
import { createPublicKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import {
  createLocalJWKSet,
  decodeProtectedHeader,
  errors as joseErrors,
  importSPKI,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
} from 'jose';
import { FanoutError } from './fanout-error.js';
import { JwksCache } from './jwks-cache.js';

export interface JwksFetchOptions {
  /** Least time between two fetches of the JWKS URL (30 s). */
  readonly cooldownMs?: number;
  /** Age after which the JWKS is fetched again at its next use (10 min). */
  readonly maxAgeMs?: number;
  /** Most time one fetch, and a token waiting on it, may take (5 s). */
  readonly timeoutMs?: number;
  /** Clock in milliseconds, monotonic (tests); `performance.now()` by default. */
  readonly now?: () => number;
}

export interface JwtVerifierOptions {
  /** Shared secret for HS256. */
  readonly hs256Secret?: string;
  /** PEM public key (SPKI) for RS256 or ES256. */
  readonly publicKeyPem?: string;
  /** JWKS document URL; keys are fetched and cached. */
  readonly jwksUrl?: string;
  /** How the JWKS URL is fetched. */
  readonly jwks?: JwksFetchOptions;
  /** A JWKS document given inline (JSON text). */
  readonly jwksJson?: string;
  readonly issuer?: string;
  readonly audience?: string;
  readonly clockToleranceSeconds?: number;
}

export interface VerifiedToken {
  readonly subject: string;
  readonly claims: JWTPayload;
  /** Expiry, epoch milliseconds; undefined when the token has none. */
  readonly expiresAt?: number;
}

export interface JwtVerifier {
  verify(token: string): Promise<VerifiedToken>;
}

/** Algorithms a JWKS key may verify. */
const keySetAlgorithms: readonly string[] = ['RS256', 'ES256', 'EdDSA'];

interface PublicKey {
  readonly key: Awaited<ReturnType<typeof importSPKI>>;
  readonly algorithm: 'RS256' | 'ES256';
}

/** The algorithm of a PEM public key: RS256 for RSA, ES256 for EC P-256; else an error. */
async function importPublicKey(pem: string): Promise<PublicKey> {
  let algorithm: 'RS256' | 'ES256' | undefined;
  try {
    const key = createPublicKey(pem);
    if (key.asymmetricKeyType === 'rsa') algorithm = 'RS256';
    if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') {
      algorithm = 'ES256';
    }
  } catch (error) {
    throw new Error(
      `not a PEM public key (${error instanceof Error ? error.message : String(error)})`,
      { cause: error },
    );
  }
  if (algorithm === undefined) {
    throw new Error('the public key is neither RSA (RS256) nor EC P-256 (ES256)');
  }
  return { key: await importSPKI(pem, algorithm), algorithm };
}

/** Verifies with each key of a set when several match the header (a rotation without `kid`). */
async function verifyWithKeySet(
  token: string,
  keys: JWTVerifyGetKey,
  checks: JWTVerifyOptions,
): Promise<JWTPayload> {
  try {
    return (await jwtVerify(token, keys, checks)).payload;
  } catch (error) {
    if (!(error instanceof joseErrors.JWKSMultipleMatchingKeys)) throw error;
    for await (const key of error) {
      try {
        return (await jwtVerify(token, key, checks)).payload;
      } catch (attempt) {
        if (!(attempt instanceof joseErrors.JWSSignatureVerificationFailed)) throw attempt;
      }
    }
    throw new joseErrors.JWSSignatureVerificationFailed();
  }
}

export async function createJwtVerifier(options: JwtVerifierOptions): Promise<JwtVerifier> {
  const secret = options.hs256Secret ? new TextEncoder().encode(options.hs256Secret) : undefined;
  const publicKey = options.publicKeyPem ? await importPublicKey(options.publicKeyPem) : undefined;
  const keySet: JWTVerifyGetKey | undefined = options.jwksJson
    ? createLocalJWKSet(JSON.parse(options.jwksJson) as Parameters<typeof createLocalJWKSet>[0])
    : options.jwksUrl
      ? new JwksCache({
          url: options.jwksUrl,
          cooldownMs: options.jwks?.cooldownMs ?? 30_000,
          maxAgeMs: options.jwks?.maxAgeMs ?? 600_000,
          timeoutMs: options.jwks?.timeoutMs ?? 5_000,
          ...(options.jwks?.now ? { now: options.jwks.now } : {}),
        }).getKey
      : undefined;
  if (!secret && !publicKey && !keySet) {
    throw new Error('JWT verification needs a secret, a public key or a JWKS');
  }
  /** The claim checks, with `algorithms` the one algorithm the chosen key may verify. */
  const checks = (algorithm: string): JWTVerifyOptions => ({
    algorithms: [algorithm],
    ...(options.issuer ? { issuer: options.issuer } : {}),
    ...(options.audience ? { audience: options.audience } : {}),
    clockTolerance: options.clockToleranceSeconds ?? 5,
  });

  async function payloadOf(token: string): Promise<JWTPayload> {
    const { alg } = decodeProtectedHeader(token);
    if (alg === 'HS256') {
      if (!secret) {
        throw new FanoutError('unauthenticated', 'invalid token: HS256 tokens are not accepted');
      }
      return (await jwtVerify(token, secret, checks(alg))).payload;
    }
    if (publicKey && alg === publicKey.algorithm) {
      try {
        return (await jwtVerify(token, publicKey.key, checks(alg))).payload;
      } catch (error) {
        if (!keySet || !(error instanceof joseErrors.JWSSignatureVerificationFailed)) throw error;
      }
    }
    if (keySet && alg !== undefined && keySetAlgorithms.includes(alg)) {
      return verifyWithKeySet(token, keySet, checks(alg));
    }
    throw new FanoutError(
      'unauthenticated',
      'invalid token: its algorithm (alg) is not one the configured keys verify',
    );
  }

  return {
    async verify(token) {
      try {
        const payload = await payloadOf(token);
        if (typeof payload.sub !== 'string' || payload.sub === '') {
          throw new FanoutError('unauthenticated', 'the token has no subject (sub claim)');
        }
        return {
          subject: payload.sub,
          claims: payload,
          ...(typeof payload.exp === 'number' ? { expiresAt: payload.exp * 1000 } : {}),
        };
      } catch (error) {
        if (error instanceof FanoutError) throw error;
        if (error instanceof joseErrors.JWTExpired) {
          throw new FanoutError('token_expired', 'the token has expired', { cause: error });
        }
        const reason =
          error instanceof joseErrors.JOSEError ? error.code : 'the token could not be verified';
        throw new FanoutError('unauthenticated', `invalid token: ${reason}`, { cause: error });
      }
    },
  };
}

/**
 * The verifier the `auth.*` settings describe, or `undefined` when none of
 * a secret, a public key file or a JWKS URL is set. Every key set is used
 * (the token's `alg` chooses, see above). A key file that cannot be read or
 * is not a public key, and a JWKS URL that is not http(s), are
 * `config_invalid` errors naming the setting.
 */
export async function jwtVerifierFromConfig(auth: {
  readonly jwtHs256Secret: string;
  readonly jwtPublicKeyFile: string;
  readonly jwksUrl: string;
  readonly jwksCooldownSeconds: number;
  readonly jwksMaxAgeSeconds: number;
  readonly jwksTimeoutMs: number;
  readonly issuer: string;
  readonly audience: string;
}): Promise<JwtVerifier | undefined> {
  let publicKeyPem = '';
  if (auth.jwtPublicKeyFile !== '') {
    try {
      publicKeyPem = await readFile(auth.jwtPublicKeyFile, 'utf8');
      await importPublicKey(publicKeyPem);
    } catch (error) {
      throw new FanoutError(
        'config_invalid',
        `auth.jwtPublicKeyFile: cannot use ${auth.jwtPublicKeyFile} (${error instanceof Error ? error.message : String(error)})`,
      );
    }
  }
  if (auth.jwksUrl !== '' && !isHttpUrl(auth.jwksUrl)) {
    throw new FanoutError(
      'config_invalid',
      `auth.jwksUrl: ${auth.jwksUrl} is not an http or https URL`,
    );
  }
  if (auth.jwtHs256Secret === '' && publicKeyPem === '' && auth.jwksUrl === '') return undefined;
  return createJwtVerifier({
    ...(auth.jwtHs256Secret !== '' ? { hs256Secret: auth.jwtHs256Secret } : {}),
    ...(publicKeyPem !== '' ? { publicKeyPem } : {}),
    ...(auth.jwksUrl !== '' ? { jwksUrl: auth.jwksUrl } : {}),
    jwks: {
      cooldownMs: auth.jwksCooldownSeconds * 1000,
      maxAgeMs: auth.jwksMaxAgeSeconds * 1000,
      timeoutMs: auth.jwksTimeoutMs,
    },
    ...(auth.issuer !== '' ? { issuer: auth.issuer } : {}),
    ...(auth.audience !== '' ? { audience: auth.audience } : {}),
  });
}

function isHttpUrl(text: string): boolean {
  try {
    const { protocol } = new URL(text);
    return protocol === 'http:' || protocol === 'https:';
  } catch {
    return false;
  }
}
