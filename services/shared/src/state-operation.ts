/**
 * State operations: what a record does to its channel's state document
 * (`fanout.v1.StateOperation`, field 11 of `Event`). An ordinary event has
 * none. Names are the text form (JSON frames, metrics), numbers the protobuf
 * enum values; kept here without the protobuf codecs so that the JSON-only
 * part of the client stays small. Browser-safe.
 */

/** `put`: the whole new document; `merge`: an RFC 7396 merge patch; `delete`: no document. */
export type StateOperation = 'put' | 'merge' | 'delete';

/** Every state operation, in enum order. */
export const stateOperations: readonly StateOperation[] = Object.freeze(['put', 'merge', 'delete']);

/** The `fanout.v1.StateOperation` number of each operation (0 is an ordinary event). */
export const stateOperationNumbers: Readonly<Record<StateOperation, number>> = Object.freeze({
  put: 1,
  merge: 2,
  delete: 3,
});

/** Content type of the data of each operation (empty: no data). */
export const stateContentTypes: Readonly<Record<StateOperation, string>> = Object.freeze({
  put: 'application/json',
  merge: 'application/merge-patch+json',
  delete: '',
});

export function isStateOperation(value: unknown): value is StateOperation {
  return value === 'put' || value === 'merge' || value === 'delete';
}

/**
 * The operation of a `fanout.v1.StateOperation` number: undefined for 0 or
 * absent (an ordinary event), null for a number this version does not know.
 */
export function stateOperationOf(
  value: number | null | undefined,
): StateOperation | undefined | null {
  switch (value ?? 0) {
    case 0:
      return undefined;
    case 1:
      return 'put';
    case 2:
      return 'merge';
    case 3:
      return 'delete';
    default:
      return null;
  }
}
