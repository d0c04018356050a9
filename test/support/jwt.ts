/**
 * HS256 JWTs for tests, signed here without a library.
 */
import { createHmac } from 'node:crypto';

export function hs256Token(secret: string, claims: Readonly<Record<string, unknown>>): string {
  const part = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  const signed = `${part({ alg: 'HS256', typ: 'JWT' })}.${part(claims)}`;
  return `${signed}.${createHmac('sha256', secret).update(signed).digest('base64url')}`;
}

/** Now, in JWT seconds. */
export const nowSeconds = (): number => Math.floor(Date.now() / 1000);
