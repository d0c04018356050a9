/**
 * JSON Patch (RFC 6902) with fast-json-patch (docs/decisions/041): the
 * operations between two documents, and applying a patch as a client does —
 * validated, all or nothing, refused with a typed reason when it does not
 * apply, so that a client detects a gap and fetches the document again.
 * Browser-safe.
 */
import jsonPatch from 'fast-json-patch';
import type { ArrayKeyTokens } from './array-key.js';
import type { JsonValue } from './json-value.js';
import { isJsonRecord, jsonEqual } from './json-value.js';
import { keyedJsonPatch } from './keyed-json-patch.js';

/** An RFC 6902 operation. */
export type JsonPatchOperation =
  | { readonly op: 'add' | 'replace' | 'test'; readonly path: string; readonly value: JsonValue }
  | { readonly op: 'remove'; readonly path: string }
  | { readonly op: 'move' | 'copy'; readonly from: string; readonly path: string };

/** Why a patch was refused; the document is left as it was. */
export type JsonPatchRefusalReason =
  /** The patch is not an array of operations. */
  | 'not-a-patch'
  /** An operation is malformed: unknown op, bad path, missing value or from. */
  | 'invalid-operation'
  /** An operation's path or from does not exist in the document, or an index is out of bounds. */
  | 'not-applicable'
  /** A `test` operation did not match. */
  | 'test-failed'
  /** A path through `__proto__` or `constructor/prototype`, refused for safety. */
  | 'forbidden-path';

export interface JsonPatchRefusal {
  readonly reason: JsonPatchRefusalReason;
  /** Index of the operation refused, when one is. */
  readonly index?: number;
  readonly message: string;
}

export type JsonPatchResult =
  | { readonly ok: true; readonly document: JsonValue }
  | { readonly ok: false; readonly refusal: JsonPatchRefusal };

const reasons: Readonly<Record<string, JsonPatchRefusalReason>> = {
  SEQUENCE_NOT_AN_ARRAY: 'not-a-patch',
  OPERATION_NOT_AN_OBJECT: 'invalid-operation',
  OPERATION_OP_INVALID: 'invalid-operation',
  OPERATION_PATH_INVALID: 'invalid-operation',
  OPERATION_FROM_REQUIRED: 'invalid-operation',
  OPERATION_VALUE_REQUIRED: 'invalid-operation',
  OPERATION_VALUE_CANNOT_CONTAIN_UNDEFINED: 'invalid-operation',
  OPERATION_PATH_CANNOT_ADD: 'not-applicable',
  OPERATION_PATH_UNRESOLVABLE: 'not-applicable',
  OPERATION_FROM_UNRESOLVABLE: 'not-applicable',
  OPERATION_PATH_ILLEGAL_ARRAY_INDEX: 'not-applicable',
  OPERATION_VALUE_OUT_OF_BOUNDS: 'not-applicable',
  TEST_OPERATION_FAILED: 'test-failed',
};

function refusal(error: unknown, index: number): JsonPatchRefusal {
  if (error instanceof jsonPatch.JsonPatchError) {
    return {
      reason: reasons[error.name] ?? 'invalid-operation',
      index,
      message: error.message.split('\n')[0] ?? error.name,
    };
  }
  const message = error instanceof Error ? error.message : String(error);
  return {
    reason: /__proto__|prototype/.test(message) ? 'forbidden-path' : 'invalid-operation',
    index,
    message,
  };
}

/**
 * Applies `ops` to `document` without changing it: the new document, or the
 * refusal of the whole patch (no operation of a refused patch takes effect).
 * Works on one copy of the document, operation by operation (fast-json-patch's
 * validator reports every malformed operation as index 0 otherwise).
 */
export function applyJsonPatch(document: JsonValue, ops: unknown): JsonPatchResult {
  if (!Array.isArray(ops)) {
    return { ok: false, refusal: { reason: 'not-a-patch', message: 'a patch is an array' } };
  }
  let result = jsonPatch.deepClone(document) as JsonValue;
  for (let index = 0; index < ops.length; index += 1) {
    try {
      // validateOperation: true, mutateDocument: true (the copy), banPrototypeModifications: true
      result = jsonPatch.applyOperation(
        result,
        ops[index] as jsonPatch.Operation,
        true,
        true,
        true,
        index,
      ).newDocument;
    } catch (error) {
      return { ok: false, refusal: refusal(error, index) };
    }
  }
  return { ok: true, document: result };
}

/** A path through `constructor/prototype`, which applyJsonPatch refuses. */
const forbiddenPath = /(^|\/)constructor\/prototype(\/|$)/;

/**
 * Operations turning `previous` into `next`, or `undefined` when a client
 * could not apply them (a path through `constructor/prototype`). Members are
 * compared by name, arrays index by index (fast-json-patch `compare`): an
 * element inserted or removed near the front of an array rewrites every later
 * index, which `stateDelta` answers with the full document instead. With an
 * `arrayKey` (parsed), arrays of objects are matched by that identity member
 * (`keyedJsonPatch`, docs/decisions/047): an insert, removal or move is one
 * operation.
 */
export function jsonPatchBetween(
  previous: JsonValue,
  next: JsonValue,
  arrayKey?: ArrayKeyTokens,
): JsonPatchOperation[] | undefined {
  const bothContainers =
    (isJsonRecord(previous) && isJsonRecord(next)) ||
    (Array.isArray(previous) && Array.isArray(next));
  if (!bothContainers) {
    // compare() only walks containers: it returns [] for two different scalars.
    return jsonEqual(previous, next) ? [] : [{ op: 'replace', path: '', value: next }];
  }
  const ops =
    arrayKey === undefined
      ? (jsonPatch.compare(previous, next) as JsonPatchOperation[])
      : keyedJsonPatch(previous, next, arrayKey);
  const unsafe = ops.some(
    (op) => forbiddenPath.test(op.path) || ('from' in op && forbiddenPath.test(op.from)),
  );
  return unsafe ? undefined : ops;
}
