/**
 * `@fanout/shared/portable-state`: the document model of state channels — the
 * fold of put/merge/delete changes, canonical JSON, deltas (RFC 6902 JSON
 * Patch, RFC 7396 merge patch, full) and applying them. Browser-safe; its
 * only package is fast-json-patch (docs/decisions/041-json-patch-library.md),
 * so a JSON client bundles it without protobufjs. Also exported by
 * `@fanout/shared/portable` and `@fanout/shared`.
 */
export { applyStateChange, defaultStateLimits } from './state/apply-state-change.js';
export type { StateChangeResult } from './state/apply-state-change.js';
export { applyStateDelta } from './state/apply-state-delta.js';
export type { StateDeltaResult } from './state/apply-state-delta.js';
export { canonicalJson, utf8Length } from './state/canonical-json.js';
export { applyJsonPatch, jsonPatchBetween } from './state/json-patch.js';
export { maxArrayKeyLength, parseArrayKey } from './state/array-key.js';
export type { ArrayKeyTokens } from './state/array-key.js';
export { keyedJsonPatch } from './state/keyed-json-patch.js';
export type {
  JsonPatchOperation,
  JsonPatchRefusal,
  JsonPatchRefusalReason,
  JsonPatchResult,
} from './state/json-patch.js';
export { isJsonRecord, jsonEqual } from './state/json-value.js';
export type { JsonArray, JsonRecord, JsonValue } from './state/json-value.js';
export { applyMergePatch, mergePatchBetween } from './state/merge-patch.js';
export type {
  StateChange,
  StateChangeOp,
  StateLimits,
  StateRefusal,
  StateRefusalReason,
} from './state/state-change.js';
export { jsonDepth, readStateData } from './state/state-data.js';
export type { StateDataProblem, StateDataResult } from './state/state-data.js';
export { stateDelta } from './state/state-delta.js';
export type { StateDelta, StateDeltaKind } from './state/state-delta.js';
export { documentExists } from './state/state-document.js';
export type { StateDocument } from './state/state-document.js';
export { foldStateChanges } from './state/state-fold.js';
export type { StateFold } from './state/state-fold.js';
