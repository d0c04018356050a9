/**
 * The `arrayKey` of a state change: a JSON Pointer (RFC 6901) naming the
 * identity member of the objects in the document's arrays (`/id`,
 * `/symbol`, `/meta/id`). The edge diffs such arrays element by element by
 * that identity (docs/decisions/047). Browser-safe.
 */

/** The longest arrayKey accepted, in characters. */
export const maxArrayKeyLength = 256;

/** A parsed arrayKey: the unescaped reference tokens, at least one. */
export type ArrayKeyTokens = readonly string[];

/**
 * The tokens of `pointer`, or a sentence saying why it is not an arrayKey:
 * one or more `/`-prefixed reference tokens, `~` only as `~0` or `~1`, at
 * most 256 characters, no `__proto__`, `constructor` or `prototype` token.
 * Callers treat an empty arrayKey as none before parsing.
 */
export function parseArrayKey(
  pointer: string,
): { readonly tokens: ArrayKeyTokens } | { readonly problem: string } {
  if (pointer.length > maxArrayKeyLength) {
    return { problem: `arrayKey is longer than ${maxArrayKeyLength} characters` };
  }
  if (!pointer.startsWith('/')) {
    return { problem: 'arrayKey must be a JSON Pointer starting with "/", e.g. "/id"' };
  }
  if (/~(?![01])/.test(pointer)) {
    return { problem: 'arrayKey may contain "~" only as "~0" or "~1"' };
  }
  const tokens = pointer
    .slice(1)
    .split('/')
    .map((token) => token.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (
    tokens.some(
      (token) => token === '__proto__' || token === 'constructor' || token === 'prototype',
    )
  ) {
    return { problem: 'arrayKey may not name __proto__, constructor or prototype' };
  }
  return { tokens };
}
