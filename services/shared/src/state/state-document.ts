/**
 * The value of a state channel: a JSON document, or absent (never written,
 * or deleted). `null` is a document (the JSON value null), distinct from
 * absent. Browser-safe.
 */
import type { JsonValue } from './json-value.js';

/** A state channel's document: a JSON value, or `undefined` when absent. */
export type StateDocument = JsonValue | undefined;

/** Whether the channel has a document. */
export function documentExists(document: StateDocument): document is JsonValue {
  return document !== undefined;
}
