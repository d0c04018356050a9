/**
 * A state change as the fold reads it from a record of a state channel, the
 * limits a document is held to, and the typed refusal of a change.
 * Browser-safe.
 */

/** How a change sets the document: the whole new document, an RFC 7396 merge patch, or removal. */
export type StateChangeOp = 'put' | 'merge' | 'delete';

export interface StateChange {
  readonly op: StateChangeOp;
  /** The record's payload, JSON text or its UTF-8 bytes; required for put and merge, ignored for delete. */
  readonly data?: string | Uint8Array;
  /** Where the record sits, `<epoch>:<partition>:<offset>`: reported with a refusal. */
  readonly position: string;
}

export interface StateLimits {
  /** Largest canonical JSON of a document, in UTF-8 bytes. */
  readonly maxDocumentBytes: number;
  /** Deepest nesting of arrays and objects (a scalar is 0, `{}` is 1). */
  readonly maxDepth: number;
}

/**
 * Why a change was refused. The change is not applied: the document stays
 * what it was before the change, and the refusal is reported with the
 * record's position (never skipped silently). Catalog codes a caller maps
 * these to: `invalid-json`, `forbidden-key` and `too-deep` to
 * `invalid_argument` at ingest (a proposed `state_change_invalid` at the
 * edge), `too-large` to `event_too_large` at ingest (a proposed
 * `state_document_too_large` at the edge).
 */
export type StateRefusalReason =
  /** put or merge without a payload, or a payload that is not UTF-8 JSON with finite numbers. */
  | 'invalid-json'
  /** The payload has an object member named `__proto__`. */
  | 'forbidden-key'
  /** The payload nests deeper than `maxDepth` (a merge result is never deeper than both its inputs). */
  | 'too-deep'
  /** The resulting document's canonical JSON is over `maxDocumentBytes`. */
  | 'too-large';

export interface StateRefusal {
  readonly reason: StateRefusalReason;
  /** The refused record's position. */
  readonly position: string;
  readonly message: string;
}
