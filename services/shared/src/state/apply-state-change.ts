/**
 * The fold of a state channel, one change at a time: the next document, or
 * the typed refusal of the change. Total (every input gives a document or a
 * refusal, nothing throws) and deterministic (the same document and change
 * give the same document, byte for byte, on every edge and in every engine).
 * Documents are immutable values: the current document is never changed, the
 * next one shares the members a merge leaves alone. Browser-safe.
 */
import { canonicalJson, utf8Length } from './canonical-json.js';
import type { JsonValue } from './json-value.js';
import { applyMergePatch } from './merge-patch.js';
import type { StateChange, StateLimits, StateRefusal } from './state-change.js';
import { readStateData } from './state-data.js';
import type { StateDocument } from './state-document.js';

export type StateChangeResult =
  | {
      readonly ok: true;
      /** The next document; `undefined` after a delete. */
      readonly document: StateDocument;
      /** Its canonical JSON (for ETags and snapshots), `undefined` when absent. */
      readonly json: string | undefined;
    }
  | { readonly ok: false; readonly refusal: StateRefusal };

/**
 * Limits of a document when the configuration says nothing else: the
 * defaults of the `state` configuration section (256 KiB, 64 levels), so a
 * library user folds as the edge and the ingest do.
 */
export const defaultStateLimits: StateLimits = Object.freeze({
  maxDocumentBytes: 256 * 1024,
  maxDepth: 64,
});

/**
 * Applies one change to the current document:
 * - `put`: the payload is the new document;
 * - `merge`: the payload is an RFC 7396 merge patch on the current document
 *   (on an absent document it merges like on a non-object: a patch object
 *   starts from `{}`);
 * - `delete`: the document becomes absent (deleting an absent one is a no-op).
 */
export function applyStateChange(
  current: StateDocument,
  change: StateChange,
  limits: StateLimits,
): StateChangeResult {
  if (change.op === 'delete') return { ok: true, document: undefined, json: undefined };
  const refuse = (reason: StateRefusal['reason'], message: string): StateChangeResult => ({
    ok: false,
    refusal: { reason, position: change.position, message },
  });
  if (change.data === undefined) return refuse('invalid-json', `${change.op} without data`);
  const data = readStateData(change.data, limits.maxDepth);
  if (!data.ok) return refuse(data.problem, data.message);
  const document: JsonValue =
    change.op === 'put' ? data.value : applyMergePatch(current, data.value);
  const json = canonicalJson(document);
  const bytes = utf8Length(json);
  if (bytes > limits.maxDocumentBytes) {
    return refuse(
      'too-large',
      `the document would be ${bytes} bytes, over ${limits.maxDocumentBytes}`,
    );
  }
  return { ok: true, document, json };
}
