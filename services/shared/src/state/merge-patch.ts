/**
 * JSON Merge Patch (RFC 7396): applying a patch, and the patch between two
 * documents when one exists. Hand-written after the RFC's pseudocode (section
 * 2): the npm packages for it are unmaintained or assign `target[name]`
 * directly (a `__proto__` member would set the prototype). Values are never
 * mutated: the result shares the members the patch leaves alone.
 * Browser-safe.
 */
import type { StateDocument } from './state-document.js';
import { isJsonRecord, jsonEqual, type JsonRecord, type JsonValue } from './json-value.js';

/** Sets a member as an own data property, even one named `__proto__`. */
function setMember(record: JsonRecord, name: string, value: JsonValue): void {
  if (name === '__proto__') {
    Object.defineProperty(record, name, {
      value,
      writable: true,
      enumerable: true,
      configurable: true,
    });
  } else {
    record[name] = value;
  }
}

/** RFC 7396 MergePatch(target, patch); an absent target merges like a non-object. */
export function applyMergePatch(target: StateDocument, patch: JsonValue): JsonValue {
  if (!isJsonRecord(patch)) return patch;
  const result: JsonRecord = {};
  if (isJsonRecord(target)) {
    for (const name of Object.keys(target)) setMember(result, name, target[name] ?? null);
  }
  for (const name of Object.keys(patch)) {
    const value = patch[name] ?? null;
    if (value === null) {
      Reflect.deleteProperty(result, name);
    } else {
      const current = Object.hasOwn(result, name) ? result[name] : undefined;
      setMember(result, name, applyMergePatch(current, value));
    }
  }
  return result;
}

/**
 * The value itself as a patch on a non-object: expressible when no object in
 * it (outside arrays, which a merge takes whole) has a null member, since a
 * null member in a patch means "remove".
 */
function hasNullMember(value: JsonValue): boolean {
  if (!isJsonRecord(value)) return false;
  return Object.values(value).some((member) => member === null || hasNullMember(member));
}

/**
 * A merge patch turning `previous` into `next` (applyMergePatch(previous,
 * patch) deep-equals next), or `undefined` when none exists: when `next` sets
 * an object member to null, or holds a new or replaced object with a null
 * member (null in a merge patch removes). Arrays are replaced whole: a change
 * of one element sends the whole array.
 */
export function mergePatchBetween(previous: StateDocument, next: JsonValue): JsonValue | undefined {
  if (!isJsonRecord(next)) return next;
  if (!isJsonRecord(previous)) return hasNullMember(next) ? undefined : next;
  const patch: JsonRecord = {};
  for (const name of Object.keys(previous)) {
    if (!Object.hasOwn(next, name)) setMember(patch, name, null);
  }
  for (const name of Object.keys(next)) {
    const after = next[name] ?? null;
    const before = Object.hasOwn(previous, name) ? (previous[name] ?? null) : undefined;
    if (before !== undefined && jsonEqual(before, after)) continue;
    if (after === null) return undefined;
    const member = mergePatchBetween(before, after);
    if (member === undefined) return undefined;
    setMember(patch, name, member);
  }
  return patch;
}
