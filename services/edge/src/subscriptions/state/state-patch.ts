/**
 * A state change as readers receive it: RFC 6902 operations that turn the
 * document at the previous change's position into the next one, computed
 * once per change. Where a JSON Patch cannot express the step, or would be
 * larger than the document, the operations replace the whole document
 * (`stateDelta` answers `full`):
 * - from an absent document: `[{"op":"add","path":"","value":<document>}]`
 *   (RFC 6902 §4.1: an add at the root replaces the whole document);
 * - a whole new document: `[{"op":"replace","path":"","value":<document>}]`;
 * - a delete: `[{"op":"remove","path":""}]`, which fanout defines as "the
 *   document is absent now" (RFC 6902 leaves removing the root undefined).
 * `applyStatePatch` is what a reader does with them.
 */
import {
  applyJsonPatch,
  type ArrayKeyTokens,
  applyMergePatch,
  stateDelta,
  type JsonPatchOperation,
  type JsonPatchRefusal,
  type JsonValue,
  type StateDocument,
  type StatePatchFrame,
} from '@fanout/shared';

/**
 * The operations from `previous` to `next`; `nextJson` is the canonical JSON
 * of `next` when known; `arrayKey` (parsed) matches arrays of objects by
 * that identity member (docs/decisions/047).
 */
export function statePatchOps(
  previous: StateDocument,
  next: StateDocument,
  nextJson?: string,
  arrayKey?: ArrayKeyTokens,
): JsonPatchOperation[] {
  if (next === undefined) return previous === undefined ? [] : [{ op: 'remove', path: '' }];
  if (previous === undefined) return [{ op: 'add', path: '', value: next }];
  const delta = stateDelta(previous, next, 'json-patch', nextJson, arrayKey);
  if (delta.kind === 'json-patch') return [...delta.ops];
  return [{ op: 'replace', path: '', value: next }];
}

export type StatePatchResult =
  | { readonly ok: true; readonly document: StateDocument }
  | { readonly ok: false; readonly refusal: JsonPatchRefusal };

/** Whether `op` is `{"op":"remove","path":""}`: the document becomes absent. */
function removesRoot(op: unknown): boolean {
  if (typeof op !== 'object' || op === null) return false;
  const { op: name, path } = op as { op?: unknown; path?: unknown };
  return name === 'remove' && path === '';
}

/** Applies the operations of a `patch` to the document a reader holds (absent: `undefined`). */
export function applyStatePatch(document: StateDocument, ops: unknown): StatePatchResult {
  if (!Array.isArray(ops)) {
    return { ok: false, refusal: { reason: 'not-a-patch', message: 'a patch is an array' } };
  }
  let current = document;
  let rest: readonly unknown[] = ops;
  // A whole-document step may follow a root removal: take the steps one root operation at a time.
  while (rest.length > 0) {
    const [first] = rest;
    if (removesRoot(first)) {
      current = undefined;
      rest = rest.slice(1);
      continue;
    }
    if (current === undefined) {
      const root = first as { op?: unknown; path?: unknown; value?: unknown };
      if ((root.op === 'add' || root.op === 'replace') && root.path === '' && 'value' in root) {
        current = root.value as StateDocument;
        rest = rest.slice(1);
        continue;
      }
      return {
        ok: false,
        refusal: {
          reason: 'not-applicable',
          index: ops.length - rest.length,
          message: 'the document is absent: only an add at the root applies',
        },
      };
    }
    const next = rest.findIndex(removesRoot);
    const run = next === -1 ? rest : rest.slice(0, next);
    const applied = applyJsonPatch(current, run);
    if (!applied.ok) return applied;
    current = applied.document;
    rest = next === -1 ? [] : rest.slice(next);
  }
  return { ok: true, document: current };
}

/**
 * Applies a WebSocket `patch` frame as a client decodes it: JSON Patch
 * operations as `applyStatePatch`, a merge patch on the document held, or
 * the full document (none when `exists` is false).
 */
export function applyWsStatePatch(
  document: StateDocument,
  frame: StatePatchFrame<JsonValue>,
): StatePatchResult {
  switch (frame.delta) {
    case 'json-patch':
      return applyStatePatch(document, frame.patch);
    case 'merge-patch':
      return { ok: true, document: applyMergePatch(document, frame.patch ?? null) };
    case 'full':
      return { ok: true, document: frame.exists ? (frame.patch ?? null) : undefined };
  }
}
