/**
 * Reading the payload of a state change: UTF-8 JSON text checked against the
 * limits of a document in one walk. Browser-safe.
 */
import type { JsonValue } from './json-value.js';

/** Why a payload is not a state document. */
export type StateDataProblem =
  /** Not UTF-8, not JSON, empty, or a number outside what JSON carries (1e400). */
  | 'invalid-json'
  /** An object member named `__proto__`: JavaScript clients cannot hold it safely. */
  | 'forbidden-key'
  /** Nested deeper than `maxDepth` arrays and objects. */
  | 'too-deep';

export type StateDataResult =
  | { readonly ok: true; readonly value: JsonValue }
  | { readonly ok: false; readonly problem: StateDataProblem; readonly message: string };

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Nesting depth: 0 for a scalar, 1 for `[]` or `{}`, 1 + the deepest member otherwise. */
export function jsonDepth(value: JsonValue): number {
  if (typeof value !== 'object' || value === null) return 0;
  let deepest = 0;
  for (const member of Array.isArray(value) ? value : Object.values(value)) {
    deepest = Math.max(deepest, jsonDepth(member));
  }
  return 1 + deepest;
}

/**
 * Checks a freshly parsed value in place: depth at most `maxDepth`, finite
 * numbers, no `__proto__` member; turns -0 into 0 (JSON.stringify writes
 * it as 0). Stops at the first problem, without recursing past `maxDepth`.
 */
function check(
  value: JsonValue,
  depthLeft: number,
): { problem: StateDataProblem; message: string } | undefined {
  if (typeof value === 'number') {
    return Number.isFinite(value)
      ? undefined
      : { problem: 'invalid-json', message: 'a number is outside the range of JSON numbers' };
  }
  if (typeof value !== 'object' || value === null) return undefined;
  if (depthLeft === 0) return { problem: 'too-deep', message: 'nested too deep' };
  if (Array.isArray(value)) {
    for (let index = 0; index < value.length; index += 1) {
      const element = value[index] ?? null;
      if (Object.is(element, -0)) value[index] = 0;
      const found = check(element, depthLeft - 1);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  for (const key of Object.keys(value)) {
    if (key === '__proto__') {
      return { problem: 'forbidden-key', message: 'an object has a member named __proto__' };
    }
    const member = value[key] ?? null;
    if (Object.is(member, -0)) value[key] = 0;
    const found = check(member, depthLeft - 1);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** Parses a payload (JSON text, or its UTF-8 bytes) into a checked JSON value. */
export function readStateData(data: string | Uint8Array, maxDepth: number): StateDataResult {
  let text: string;
  try {
    text = typeof data === 'string' ? data : decoder.decode(data);
  } catch {
    return { ok: false, problem: 'invalid-json', message: 'the payload is not UTF-8' };
  }
  let value: JsonValue;
  try {
    value = JSON.parse(text) as JsonValue;
  } catch (error) {
    return {
      ok: false,
      problem: 'invalid-json',
      message: `the payload is not JSON: ${error instanceof Error ? error.message : String(error)}`,
    };
  }
  if (Object.is(value, -0)) value = 0;
  const found = check(value, maxDepth);
  return found === undefined ? { ok: true, value } : { ok: false, ...found };
}
