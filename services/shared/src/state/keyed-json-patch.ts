/**
 * JSON Patch (RFC 6902) operations between two documents whose arrays of
 * objects are matched by an identity key (`arrayKey`, docs/decisions/047): an
 * element inserted, removed or moved is one `add`, `remove` or `move`, and a
 * changed element is patched in place, instead of every later index being
 * rewritten. Arrays that cannot be matched by key — an element that is not an
 * object, a missing or non-scalar key, a key twice in one array — are compared
 * index by index, as without a key: the result is always a correct patch.
 * Browser-safe.
 */
import type { ArrayKeyTokens } from './array-key.js';
import type { JsonPatchOperation } from './json-patch.js';
import type { JsonArray, JsonRecord, JsonValue } from './json-value.js';
import { isJsonRecord, jsonEqual } from './json-value.js';

/**
 * Above this many ((moved + added elements) × array length) an array is
 * compared index by index: placing each such element costs a scan of the
 * array, and a patch of that many operations is rarely smaller than the
 * document anyway.
 */
const maxMoveWork = 1_000_000;

function escapeToken(token: string): string {
  return token.includes('~') || token.includes('/')
    ? token.replace(/~/g, '~0').replace(/\//g, '~1')
    : token;
}

/**
 * The identity of `element`: its string or number key, or undefined. Sets and
 * maps keep `1` and `"1"` apart; the fold has no -0 and JSON no NaN.
 */
type Identity = string | number;

function identityOf(element: JsonValue, tokens: ArrayKeyTokens): Identity | undefined {
  let value: JsonValue = element;
  for (const token of tokens) {
    if (!isJsonRecord(value) || !Object.hasOwn(value, token)) return undefined;
    value = value[token] ?? null;
  }
  return typeof value === 'string' || typeof value === 'number' ? value : undefined;
}

/** The identities of `array`'s elements, or undefined when one is missing or repeated. */
function identities(array: JsonArray, tokens: ArrayKeyTokens): Identity[] | undefined {
  const keys: Identity[] = [];
  const seen = new Set<Identity>();
  for (const element of array) {
    if (!isJsonRecord(element)) return undefined;
    const key = identityOf(element, tokens);
    if (key === undefined || seen.has(key)) return undefined;
    seen.add(key);
    keys.push(key);
  }
  return keys;
}

/** Indexes into `values` of one longest strictly increasing subsequence. */
function longestIncreasing(values: readonly number[]): Set<number> {
  const tails: number[] = [];
  const previous: number[] = new Array<number>(values.length).fill(-1);
  for (let index = 0; index < values.length; index += 1) {
    const value = values[index] ?? 0;
    let low = 0;
    let high = tails.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((values[tails[middle] ?? 0] ?? 0) < value) low = middle + 1;
      else high = middle;
    }
    if (low > 0) previous[index] = tails[low - 1] ?? -1;
    tails[low] = index;
  }
  const result = new Set<number>();
  let cursor = tails[tails.length - 1] ?? -1;
  while (cursor >= 0) {
    result.add(cursor);
    cursor = previous[cursor] ?? -1;
  }
  return result;
}

class KeyedDiff {
  readonly ops: JsonPatchOperation[] = [];

  constructor(private readonly tokens: ArrayKeyTokens) {}

  value(previous: JsonValue, next: JsonValue, path: string): void {
    if (isJsonRecord(previous) && isJsonRecord(next)) {
      this.record(previous, next, path);
    } else if (Array.isArray(previous) && Array.isArray(next)) {
      if (!this.keyedArray(previous, next, path)) this.indexedArray(previous, next, path);
    } else if (!jsonEqual(previous, next)) {
      this.ops.push({ op: 'replace', path, value: next });
    }
  }

  private record(previous: JsonRecord, next: JsonRecord, path: string): void {
    for (const name of Object.keys(previous)) {
      if (Object.hasOwn(next, name)) {
        const before = previous[name] ?? null;
        const after = next[name] ?? null;
        // The path is built only for a member that may differ.
        if (before !== after) this.value(before, after, `${path}/${escapeToken(name)}`);
      } else {
        this.ops.push({ op: 'remove', path: `${path}/${escapeToken(name)}` });
      }
    }
    for (const name of Object.keys(next)) {
      if (!Object.hasOwn(previous, name)) {
        this.ops.push({
          op: 'add',
          path: `${path}/${escapeToken(name)}`,
          value: next[name] ?? null,
        });
      }
    }
  }

  /** Index by index: common indexes patched, then elements added at the end or removed from it. */
  private indexedArray(previous: JsonArray, next: JsonArray, path: string): void {
    const common = Math.min(previous.length, next.length);
    for (let index = 0; index < common; index += 1) {
      const before = previous[index] ?? null;
      const after = next[index] ?? null;
      if (before !== after) this.value(before, after, `${path}/${index}`);
    }
    for (let index = previous.length - 1; index >= next.length; index -= 1) {
      this.ops.push({ op: 'remove', path: `${path}/${index}` });
    }
    for (let index = common; index < next.length; index += 1) {
      this.ops.push({ op: 'add', path: `${path}/${index}`, value: next[index] ?? null });
    }
  }

  /**
   * By identity: removals (from the end), then the array is put in `next`'s
   * order from the front — an element already in place stays, a new one is
   * added, a moved one is moved (an element of the longest run that keeps
   * its relative order never moves; a moved element in its way goes before
   * its successor, or to the end until its turn) — then each kept element is patched at its new
   * index. False when the array cannot be matched by key.
   */
  private keyedArray(previous: JsonArray, next: JsonArray, path: string): boolean {
    if (previous.length === 0 || next.length === 0) return false;
    const before = identities(previous, this.tokens);
    if (before === undefined) return false;
    const after = identities(next, this.tokens);
    if (after === undefined) return false;
    if (before.length === after.length && before.every((key, index) => key === after[index])) {
      // Same elements in the same order (the common tick): index by index.
      this.indexedArray(previous, next, path);
      return true;
    }
    const afterSet = new Set(after);
    const afterIndex = new Map<Identity, number>();
    after.forEach((key, index) => afterIndex.set(key, index));
    const beforeIndex = new Map<Identity, number>();
    before.forEach((key, index) => beforeIndex.set(key, index));

    const kept = after.filter((key) => beforeIndex.has(key));
    const stable = longestIncreasing(kept.map((key) => beforeIndex.get(key) ?? 0));
    const moving = new Set(kept.filter((_, index) => !stable.has(index)));
    const added = after.length - kept.length;
    if ((moving.size + added) * Math.max(previous.length, next.length) > maxMoveWork) return false;

    for (let index = before.length - 1; index >= 0; index -= 1) {
      const key = before[index];
      if (key !== undefined && !afterSet.has(key)) {
        this.ops.push({ op: 'remove', path: `${path}/${index}` });
      }
    }
    const current = before.filter((key) => afterSet.has(key));
    for (const [index, key] of after.entries()) {
      if (!beforeIndex.has(key)) {
        this.ops.push({ op: 'add', path: `${path}/${index}`, value: next[index] ?? null });
        current.splice(index, 0, key);
        continue;
      }
      // A moved element still in the way of the element due here goes later:
      // straight before its successor in `next` when that one never moves
      // (its final place), else to the end until its turn.
      for (
        let parked = current[index];
        parked !== undefined && parked !== key && moving.has(parked) && !moving.has(key);
        parked = current[index]
      ) {
        current.splice(index, 1);
        const successor = after[(afterIndex.get(parked) ?? after.length) + 1];
        let to = current.length;
        if (successor !== undefined && beforeIndex.has(successor) && !moving.has(successor)) {
          const at = current.indexOf(successor, index);
          if (at > index) to = at;
        }
        current.splice(to, 0, parked);
        this.ops.push({ op: 'move', from: `${path}/${index}`, path: `${path}/${to}` });
      }
      if (current[index] !== key) {
        const from = current.indexOf(key, index);
        current.splice(from, 1);
        current.splice(index, 0, key);
        this.ops.push({ op: 'move', from: `${path}/${from}`, path: `${path}/${index}` });
      }
    }
    for (const [index, key] of after.entries()) {
      const origin = beforeIndex.get(key);
      if (origin !== undefined) {
        this.value(previous[origin] ?? null, next[index] ?? null, `${path}/${index}`);
      }
    }
    return true;
  }
}

/**
 * Operations turning `previous` into `next`, arrays of objects matched by the
 * member `tokens` names (a parsed arrayKey). Plain RFC 6902: `add`, `remove`,
 * `replace` and `move`, applied in order.
 */
export function keyedJsonPatch(
  previous: JsonValue,
  next: JsonValue,
  tokens: ArrayKeyTokens,
): JsonPatchOperation[] {
  const diff = new KeyedDiff(tokens);
  diff.value(previous, next, '');
  return diff.ops;
}
