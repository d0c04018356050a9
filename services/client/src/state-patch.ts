/**
 * Applying one patch from the edge to the document a client holds, with the
 * shared state model (`applyJsonPatch` on fast-json-patch, decision 041;
 * `applyMergePatch`, RFC 7396): the next document, or why the patch does not
 * apply — which the client takes as a gap and answers by fetching the
 * document again. JSON Patch operations at the root follow the edge's
 * convention: `add`/`replace` at `""` sets the whole document (also from an
 * absent one), `remove` at `""` makes it absent.
 */
import { applyJsonPatch, applyMergePatch, type StateDocument } from '@fanout/shared/portable-state';
import type { StatePatchMessage } from './state-frames.js';

export type StatePatchOutcome =
  | { readonly ok: true; readonly document: StateDocument }
  | { readonly ok: false; readonly message: string };

function removesRoot(op: unknown): boolean {
  if (typeof op !== 'object' || op === null) return false;
  const { op: name, path } = op as { op?: unknown; path?: unknown };
  return name === 'remove' && path === '';
}

/** The whole document an `add`/`replace` at the root sets, if `op` is one. */
function rootValue(op: unknown): { readonly value: StateDocument } | undefined {
  if (typeof op !== 'object' || op === null) return undefined;
  const root = op as { op?: unknown; path?: unknown; value?: unknown };
  if ((root.op !== 'add' && root.op !== 'replace') || root.path !== '' || !('value' in root)) {
    return undefined;
  }
  return { value: root.value as StateDocument };
}

/** JSON Patch operations on a document that may be absent. */
function applyOperations(document: StateDocument, ops: unknown): StatePatchOutcome {
  if (!Array.isArray(ops)) return { ok: false, message: 'a JSON Patch is an array' };
  let current = document;
  let rest: readonly unknown[] = ops;
  while (rest.length > 0) {
    const [first] = rest;
    if (removesRoot(first)) {
      current = undefined;
      rest = rest.slice(1);
      continue;
    }
    if (current === undefined) {
      const root = rootValue(first);
      if (root === undefined) {
        return { ok: false, message: 'the document is absent: only an add at the root applies' };
      }
      current = root.value;
      rest = rest.slice(1);
      continue;
    }
    const next = rest.findIndex(removesRoot);
    const run = next === -1 ? rest : rest.slice(0, next);
    const applied = applyJsonPatch(current, run);
    if (!applied.ok) return { ok: false, message: applied.refusal.message };
    current = applied.document;
    rest = next === -1 ? [] : rest.slice(next);
  }
  return { ok: true, document: current };
}

/** The document after `patch`, or why it does not apply to `document`. */
export function applyStatePatchMessage(
  document: StateDocument,
  patch: StatePatchMessage,
): StatePatchOutcome {
  let outcome: StatePatchOutcome;
  switch (patch.delta) {
    case 'json-patch':
      outcome = applyOperations(document, patch.patch);
      break;
    case 'merge-patch':
      outcome =
        patch.exists === false
          ? { ok: true, document: undefined }
          : { ok: true, document: applyMergePatch(document, patch.patch) };
      break;
    case 'full':
      outcome = { ok: true, document: patch.exists === false ? undefined : patch.patch };
      break;
  }
  if (
    outcome.ok &&
    patch.exists !== undefined &&
    patch.exists !== (outcome.document !== undefined)
  ) {
    return {
      ok: false,
      message: `the patch says the document ${patch.exists ? 'exists' : 'is absent'} after it`,
    };
  }
  return outcome;
}
