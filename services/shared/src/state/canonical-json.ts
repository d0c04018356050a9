/**
 * The canonical serialization of a state document: `JSON.stringify` of the
 * folded value, members in the insertion order of the fold, no whitespace.
 *
 * Why insertion order and not sorted keys: every edge folds the same records
 * in the same order, and `JSON.parse` and RFC 7396 merges give members the
 * same order in every JavaScript engine (integer-like keys first, ascending,
 * then the others in insertion order, per the language specification), so
 * the bytes are already the same on every edge; sorting would cost a sort of
 * every object on every change and reorder what a producer's `put` wrote.
 * Size limits and ETags are computed from these bytes.
 *
 * A folded document is a fixed point of `JSON.parse(JSON.stringify(·))`:
 * the fold refuses numbers JSON cannot carry and turns -0 into 0
 * (`state-data.ts`), so the value in memory and its bytes never disagree.
 * Browser-safe.
 */
import type { JsonValue } from './json-value.js';

const encoder = new TextEncoder();

/** The canonical JSON text of a document. */
export function canonicalJson(document: JsonValue): string {
  return JSON.stringify(document);
}

/** UTF-8 length of a JSON text, the unit of `maxDocumentBytes`. */
export function utf8Length(text: string): number {
  return encoder.encode(text).byteLength;
}
