/**
 * The names every edge and bridge computes alike for a resource: the channel
 * of a leased resource from its URL and forwarded headers, and the
 * idempotency keys of the bridge's publishes.
 */
import { createHash } from 'node:crypto';

const base32Alphabet = 'abcdefghijklmnopqrstuvwxyz234567';

/** RFC 4648 base32, lower case, without padding. */
export function base32(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += base32Alphabet.charAt((buffer >>> bits) & 31);
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) out += base32Alphabet.charAt((buffer << (5 - bits)) & 31);
  return out;
}

/** Characters of the base32 SHA-256 in a leased resource's channel (130 bits). */
export const resourceHashLength = 26;

/**
 * The canonical text a leased resource is named by: the URL as WHATWG URL
 * serializes it (fragment dropped), then one line `name:value` per forwarded
 * header, names lower-cased, sorted by name.
 */
export function resourceIdentity(
  url: string,
  forwardedHeaders: Readonly<Record<string, string>>,
): string {
  const parsed = new URL(url);
  parsed.hash = '';
  const lines = Object.entries(forwardedHeaders)
    .map(([name, value]) => [name.toLowerCase(), value] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, value]) => `${name}:${value}`);
  return [parsed.href, ...lines].join('\n');
}

/** `<prefix>.<26 characters of base32(sha256(resourceIdentity))>`. */
export function leasedResourceChannel(
  prefix: string,
  url: string,
  forwardedHeaders: Readonly<Record<string, string>>,
): string {
  const digest = createHash('sha256').update(resourceIdentity(url, forwardedHeaders)).digest();
  return `${prefix}.${base32(digest).slice(0, resourceHashLength)}`;
}

/** A short hash of some text, for idempotency keys. */
export function textHash(text: string): string {
  return base32(createHash('sha256').update(text).digest()).slice(0, resourceHashLength);
}
