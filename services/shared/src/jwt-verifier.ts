/**
 * Verifies bearer tokens (JWT) for producers (ingest) and clients (edge):
 * HS256 with a shared secret, RS256/ES256 with a public key, or any key from
 * a JWKS URL, with optional issuer and audience checks. Failures are
 * FanoutErrors: `token_expired` for an expired token, `unauthenticated` for
 * everything else, with a message that says what is wrong (never the token).
 */
import { readFile } from 'node:fs/promises';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  errors as joseErrors,
  importSPKI,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import { FanoutError } from './fanout-error.js';

export interface JwtVerifierOptions {
  /** Shared secret for HS256. */
  readonly hs256Secret?: string;
  /** PEM public key (SPKI) for RS256 or ES256. */
  readonly publicKeyPem?: string;
  /** JWKS document URL; keys are fetched and cached. */
  readonly jwksUrl?: string;
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

type Key = Uint8Array | Awaited<ReturnType<typeof importSPKI>> | JWTVerifyGetKey;

async function keyFor(options: JwtVerifierOptions): Promise<{ key: Key; algorithms: string[] }> {
  if (options.hs256Secret) {
    return { key: new TextEncoder().encode(options.hs256Secret), algorithms: ['HS256'] };
  }
  if (options.publicKeyPem) {
    try {
      return { key: await importSPKI(options.publicKeyPem, 'RS256'), algorithms: ['RS256'] };
    } catch {
      return { key: await importSPKI(options.publicKeyPem, 'ES256'), algorithms: ['ES256'] };
    }
  }
  if (options.jwksJson) {
    return {
      key: createLocalJWKSet(
        JSON.parse(options.jwksJson) as Parameters<typeof createLocalJWKSet>[0],
      ),
      algorithms: ['RS256', 'ES256', 'EdDSA'],
    };
  }
  if (options.jwksUrl) {
    return {
      key: createRemoteJWKSet(new URL(options.jwksUrl)),
      algorithms: ['RS256', 'ES256', 'EdDSA'],
    };
  }
  throw new Error('JWT verification needs a secret, a public key or a JWKS');
}

export async function createJwtVerifier(options: JwtVerifierOptions): Promise<JwtVerifier> {
  const { key, algorithms } = await keyFor(options);
  return {
    async verify(token) {
      try {
        const { payload } = await jwtVerify(token, key as Parameters<typeof jwtVerify>[1], {
          algorithms,
          ...(options.issuer ? { issuer: options.issuer } : {}),
          ...(options.audience ? { audience: options.audience } : {}),
          clockTolerance: options.clockToleranceSeconds ?? 5,
        });
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
 * a secret, a public key file or a JWKS URL is set. A key file that cannot be
 * read is a `config_invalid` error naming the setting.
 */
export async function jwtVerifierFromConfig(auth: {
  readonly jwtHs256Secret: string;
  readonly jwtPublicKeyFile: string;
  readonly jwksUrl: string;
  readonly issuer: string;
  readonly audience: string;
}): Promise<JwtVerifier | undefined> {
  let publicKeyPem = '';
  if (auth.jwtPublicKeyFile !== '') {
    try {
      publicKeyPem = await readFile(auth.jwtPublicKeyFile, 'utf8');
    } catch (error) {
      throw new FanoutError(
        'config_invalid',
        `auth.jwtPublicKeyFile: cannot read ${auth.jwtPublicKeyFile} (${error instanceof Error ? error.message : String(error)})`,
      );
    }
  }
  if (auth.jwtHs256Secret === '' && publicKeyPem === '' && auth.jwksUrl === '') return undefined;
  return createJwtVerifier({
    ...(auth.jwtHs256Secret !== '' ? { hs256Secret: auth.jwtHs256Secret } : {}),
    ...(publicKeyPem !== '' ? { publicKeyPem } : {}),
    ...(auth.jwksUrl !== '' ? { jwksUrl: auth.jwksUrl } : {}),
    ...(auth.issuer !== '' ? { issuer: auth.issuer } : {}),
    ...(auth.audience !== '' ? { audience: auth.audience } : {}),
  });
}
