/**
 * What a subscriber is sent to go from one state of a document to the next,
 * computed once per change and encoded once per format by the edge:
 * - `json-patch`: RFC 6902 operations (`jsonPatchBetween`);
 * - `merge-patch`: an RFC 7396 merge patch (`mergePatchBetween`);
 * - `full`: the whole next document;
 * - `absent`: the document was deleted.
 * A requested kind that cannot express the step is answered with `full`:
 * a merge patch cannot set a member to null nor carry a new object with a
 * null member; a JSON Patch is not sent when its JSON is larger than the
 * document (arrays are compared index by index, so an insert near the front
 * of a long array rewrites every later element) or when it would go through
 * `constructor/prototype`. From an absent document the step is always `full`.
 * Browser-safe.
 */
import type { ArrayKeyTokens } from './array-key.js';
import { canonicalJson } from './canonical-json.js';
import { jsonPatchBetween, type JsonPatchOperation } from './json-patch.js';
import type { JsonValue } from './json-value.js';
import { mergePatchBetween } from './merge-patch.js';
import type { StateDocument } from './state-document.js';

export type StateDeltaKind = 'json-patch' | 'merge-patch' | 'full';

export type StateDelta =
  | { readonly kind: 'json-patch'; readonly ops: readonly JsonPatchOperation[] }
  | { readonly kind: 'merge-patch'; readonly patch: JsonValue }
  | { readonly kind: 'full'; readonly document: JsonValue }
  | { readonly kind: 'absent' };

/**
 * The step from `previous` to `next` in the requested kind, or `full` /
 * `absent` when that kind cannot express it. `nextJson` is the canonical
 * JSON of `next` when the caller has it (the fold returns it); `arrayKey`
 * (parsed) matches arrays of objects by that identity member in a
 * `json-patch` step (docs/decisions/047).
 */
export function stateDelta(
  previous: StateDocument,
  next: StateDocument,
  kind: StateDeltaKind,
  nextJson?: string,
  arrayKey?: ArrayKeyTokens,
): StateDelta {
  if (next === undefined) return { kind: 'absent' };
  const full: StateDelta = { kind: 'full', document: next };
  if (previous === undefined || kind === 'full') return full;
  if (kind === 'merge-patch') {
    const patch = mergePatchBetween(previous, next);
    return patch === undefined ? full : { kind: 'merge-patch', patch };
  }
  const ops = jsonPatchBetween(previous, next, arrayKey);
  if (ops === undefined) return full;
  const documentLength = (nextJson ?? canonicalJson(next)).length;
  return JSON.stringify(ops).length > documentLength ? full : { kind: 'json-patch', ops };
}
