/**
 * What a subscriber does with a delta: the next document from the one it
 * holds, or the refusal of a JSON Patch that does not apply (a gap: fetch the
 * document again). Browser-safe.
 */
import { applyJsonPatch, type JsonPatchRefusal } from './json-patch.js';
import { applyMergePatch } from './merge-patch.js';
import type { StateDelta } from './state-delta.js';
import type { StateDocument } from './state-document.js';

export type StateDeltaResult =
  | { readonly ok: true; readonly document: StateDocument }
  | { readonly ok: false; readonly refusal: JsonPatchRefusal };

export function applyStateDelta(document: StateDocument, delta: StateDelta): StateDeltaResult {
  switch (delta.kind) {
    case 'absent':
      return { ok: true, document: undefined };
    case 'full':
      return { ok: true, document: delta.document };
    case 'merge-patch':
      return { ok: true, document: applyMergePatch(document, delta.patch) };
    case 'json-patch':
      if (document === undefined) {
        return {
          ok: false,
          refusal: { reason: 'not-applicable', message: 'a JSON Patch needs a document' },
        };
      }
      return applyJsonPatch(document, delta.ops);
  }
}
