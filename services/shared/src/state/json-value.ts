/**
 * JSON values as a state document holds them: what `JSON.parse` returns,
 * typed without `any`. Browser-safe.
 */
export type JsonValue = null | boolean | number | string | JsonArray | JsonRecord;
export type JsonArray = JsonValue[];
export interface JsonRecord {
  [key: string]: JsonValue;
}

/** A JSON object (not an array, not null). */
export function isJsonRecord(value: JsonValue | undefined): value is JsonRecord {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Deep equality of two JSON values: same types, same array elements in
 * order, same object members whatever their order.
 */
export function jsonEqual(a: JsonValue, b: JsonValue): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    return a.every((element, index) => jsonEqual(element, b[index] ?? null));
  }
  if (Array.isArray(b)) return false;
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((key) => Object.hasOwn(b, key) && jsonEqual(a[key] ?? null, b[key] ?? null));
}
