/**
 * JWTs for tests, signed here without a library: HS256 with a secret,
 * RS256 and ES256 with a private key (and the public JWK of that key for a
 * JWKS document).
 */
import { createHmac, createPublicKey, sign, type KeyObject } from 'node:crypto';

const part = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

export function hs256Token(secret: string, claims: Readonly<Record<string, unknown>>): string {
  const signed = `${part({ alg: 'HS256', typ: 'JWT' })}.${part(claims)}`;
  return `${signed}.${createHmac('sha256', secret).update(signed).digest('base64url')}`;
}

/** A token signed with `privateKey`: RS256 for an RSA key, ES256 for an EC P-256 key. */
export function signedToken(
  privateKey: KeyObject,
  claims: Readonly<Record<string, unknown>>,
  kid?: string,
): string {
  const alg = privateKey.asymmetricKeyType === 'ec' ? 'ES256' : 'RS256';
  const signed = `${part({ alg, typ: 'JWT', ...(kid === undefined ? {} : { kid }) })}.${part(claims)}`;
  const signature = sign('sha256', Buffer.from(signed), {
    key: privateKey,
    ...(alg === 'ES256' ? { dsaEncoding: 'ieee-p1363' as const } : {}),
  });
  return `${signed}.${signature.toString('base64url')}`;
}

/** The public JWK of a key, as a JWKS lists it. */
export function publicJwk(key: KeyObject, kid?: string): Record<string, unknown> {
  const alg = key.asymmetricKeyType === 'ec' ? 'ES256' : 'RS256';
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  return {
    ...publicKey.export({ format: 'jwk' }),
    alg,
    use: 'sig',
    ...(kid === undefined ? {} : { kid }),
  };
}

/** Now, in JWT seconds. */
export const nowSeconds = (): number => Math.floor(Date.now() / 1000);
