/**
 * Folding a sequence of state changes in log order: the document after each
 * change, and the refusals met on the way (a refused change leaves the
 * document as it was). Browser-safe.
 */
import { applyStateChange } from './apply-state-change.js';
import type { StateChange, StateLimits, StateRefusal } from './state-change.js';
import type { StateDocument } from './state-document.js';

export interface StateFold {
  /** The document after the last change. */
  readonly document: StateDocument;
  /** The document after each change, in order (the previous one again after a refusal). */
  readonly documents: readonly StateDocument[];
  readonly refusals: readonly StateRefusal[];
}

export function foldStateChanges(
  initial: StateDocument,
  changes: Iterable<StateChange>,
  limits: StateLimits,
): StateFold {
  let document = initial;
  const documents: StateDocument[] = [];
  const refusals: StateRefusal[] = [];
  for (const change of changes) {
    const result = applyStateChange(document, change, limits);
    if (result.ok) document = result.document;
    else refusals.push(result.refusal);
    documents.push(document);
  }
  return { document, documents, refusals };
}
