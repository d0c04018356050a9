import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseArrayKey, type ArrayKeyTokens } from './array-key.js';
import { applyJsonPatch, jsonPatchBetween } from './json-patch.js';
import type { JsonValue } from './json-value.js';
import { keyedJsonPatch } from './keyed-json-patch.js';
import { stateDelta } from './state-delta.js';

function tokens(pointer: string): ArrayKeyTokens {
  const parsed = parseArrayKey(pointer);
  if (!('tokens' in parsed)) throw new Error(parsed.problem);
  return parsed.tokens;
}

const byId = tokens('/id');

/** The keyed patch, checked: applied to `previous` it gives exactly `next`. */
function patch(previous: JsonValue, next: JsonValue, key = byId): JsonValue[] {
  const ops = keyedJsonPatch(previous, next, key);
  assert.deepEqual(applyJsonPatch(previous, ops), { ok: true, document: next });
  return ops;
}

const rows = (ids: readonly number[]): JsonValue[] =>
  ids.map((id) => ({ id, name: `row ${id}`, size: id * 10 }));
const range = (length: number): number[] => Array.from({ length }, (_, index) => index);

describe('keyedJsonPatch', () => {
  it('inserts an element at the front as one add', () => {
    const previous = { list: rows(range(100)) };
    const next = { list: rows([1000, ...range(100)]) };
    assert.deepEqual(patch(previous, next), [
      { op: 'add', path: '/list/0', value: { id: 1000, name: 'row 1000', size: 10000 } },
    ]);
    // the index-by-index diff rewrites every element
    assert.ok((jsonPatchBetween(previous, next) ?? []).length > 100);
  });

  it('removes an element as one remove, and several from the end first', () => {
    assert.deepEqual(patch(rows(range(10)), rows(range(10).slice(1))), [
      { op: 'remove', path: '/0' },
    ]);
    assert.deepEqual(patch(rows(range(10)), rows([0, 2, 3, 4, 6, 7, 8, 9])), [
      { op: 'remove', path: '/5' },
      { op: 'remove', path: '/1' },
    ]);
  });

  it('moves an element later or earlier as one move', () => {
    const later = range(100);
    later.splice(80, 0, ...later.splice(10, 1));
    assert.deepEqual(patch(rows(range(100)), rows(later)), [
      { op: 'move', from: '/10', path: '/80' },
    ]);
    // moved last: to the end
    assert.deepEqual(patch(rows(range(5)), rows([1, 2, 3, 4, 0])), [
      { op: 'move', from: '/0', path: '/4' },
    ]);
    const earlier = range(100);
    earlier.splice(3, 0, ...earlier.splice(90, 1));
    assert.deepEqual(patch(rows(range(100)), rows(earlier)), [
      { op: 'move', from: '/90', path: '/3' },
    ]);
  });

  it('reverses, rotates and shuffles an array correctly', () => {
    patch(rows(range(20)), rows(range(20).reverse()));
    patch(rows(range(20)), rows([...range(20).slice(7), ...range(20).slice(0, 7)]));
    patch(rows([5, 1, 9, 3]), rows([3, 9, 7, 1]));
  });

  it('patches a changed element in place at its new index', () => {
    const next = rows([9, 0, 1, 2]);
    (next[2] as { size: number }).size = 17;
    assert.deepEqual(patch(rows([0, 1, 2]), next), [
      { op: 'add', path: '/0', value: { id: 9, name: 'row 9', size: 90 } },
      { op: 'replace', path: '/2/size', value: 17 },
    ]);
  });

  it('treats a changed key as a removal and an insert', () => {
    assert.deepEqual(patch(rows([0, 1, 2]), rows([0, 7, 2])), [
      { op: 'remove', path: '/1' },
      { op: 'add', path: '/1', value: { id: 7, name: 'row 7', size: 70 } },
    ]);
  });

  it('tells string and number keys apart, and follows a nested pointer', () => {
    patch([{ id: 1 }, { id: '1' }], [{ id: '1' }, { id: 1 }]);
    const nested = tokens('/meta/k');
    const a = [
      { meta: { k: 'a' }, v: 1 },
      { meta: { k: 'b' }, v: 2 },
    ];
    const b = [
      { meta: { k: 'c' }, v: 3 },
      { meta: { k: 'a' }, v: 1 },
      { meta: { k: 'b' }, v: 2 },
    ];
    assert.deepEqual(patch(a, b, nested), [{ op: 'add', path: '/0', value: b[0] ?? null }]);
  });

  it('keys nested arrays too, at any depth', () => {
    const previous = { groups: [{ id: 'g', items: rows([1, 2, 3]) }] };
    const next = {
      groups: [
        { id: 'h', items: [] },
        { id: 'g', items: rows([0, 1, 2, 3]) },
      ],
    };
    assert.deepEqual(patch(previous, next), [
      { op: 'add', path: '/groups/0', value: { id: 'h', items: [] } },
      { op: 'add', path: '/groups/1/items/0', value: { id: 0, name: 'row 0', size: 0 } },
    ]);
  });

  it('falls back to index by index: duplicate, missing or non-scalar keys, non-objects', () => {
    for (const [previous, next] of [
      [rows([1, 1, 2]), rows([0, 1, 1, 2])],
      [
        [{ id: 1 }, { name: 'no id' }],
        [{ name: 'no id' }, { id: 1 }],
      ],
      [
        [{ id: { nested: 1 } }, { id: 2 }],
        [{ id: 2 }, { id: { nested: 1 } }],
      ],
      [
        [{ id: 1 }, 2, 'x'],
        [2, { id: 1 }],
      ],
      [
        [[1], [2]],
        [[0], [1], [2]],
      ],
      [[{ id: null }], [{ id: null }, { id: 1 }]],
    ] satisfies [JsonValue, JsonValue][]) {
      patch(previous, next);
    }
    // too many moves or inserts to place one by one: index by index, still correct
    const reversed = patch(rows(range(2000)), rows(range(2000).reverse()));
    assert.ok(reversed.every((op) => (op as { op: string }).op === 'replace'));
    const many = patch(rows([5000]), rows([...range(1500), 5000]));
    assert.equal(many.length, 3 + 1500, 'element 0 rewritten, then 1,500 adds');
    // the fallback is the index-by-index diff
    assert.deepEqual(patch([{ id: 1 }, { id: 1 }], [{ id: 2 }, { id: 1 }]), [
      { op: 'replace', path: '/0/id', value: 2 },
    ]);
  });

  it('escapes member names and replaces scalars and kinds', () => {
    assert.deepEqual(patch({ 'a/b': 1, 'c~d': [1] }, { 'a/b': 2, 'c~d': { x: 1 } }), [
      { op: 'replace', path: '/a~1b', value: 2 },
      { op: 'replace', path: '/c~0d', value: { x: 1 } },
    ]);
    assert.deepEqual(patch(1, 'one'), [{ op: 'replace', path: '', value: 'one' }]);
    assert.deepEqual(patch({ toString: [] }, {}), [{ op: 'remove', path: '/toString' }]);
    assert.deepEqual(patch({}, { toString: [] }), [{ op: 'add', path: '/toString', value: [] }]);
  });

  it('is what stateDelta sends for a json-patch step with an arrayKey', () => {
    const previous = { list: rows(range(100)) };
    const next = { list: rows([1000, ...range(100)]) };
    assert.equal(stateDelta(previous, next, 'json-patch').kind, 'full');
    assert.deepEqual(stateDelta(previous, next, 'json-patch', undefined, byId), {
      kind: 'json-patch',
      ops: [{ op: 'add', path: '/list/0', value: { id: 1000, name: 'row 1000', size: 10000 } }],
    });
  });
});

describe('keyedJsonPatch (properties)', () => {
  /** Elements of keyed arrays: mostly keyed objects, some duplicates, missing keys, other kinds. */
  const keyValue = fc.oneof(fc.integer({ min: 0, max: 6 }), fc.constantFrom('1', '2', 'a'));
  const element: fc.Arbitrary<JsonValue> = fc.letrec<{ element: JsonValue; list: JsonValue }>(
    (tie) => ({
      element: fc.oneof<fc.Arbitrary<JsonValue>[]>(
        { depthSize: 'small', withCrossShrink: true },
        fc.record(
          { id: keyValue, v: fc.integer({ min: 0, max: 3 }), sub: tie('list') },
          { requiredKeys: ['id'] },
        ),
        fc.record({ v: fc.integer({ min: 0, max: 3 }) }),
        fc.record({ id: fc.constantFrom<JsonValue>(null, true, [1], { x: 1 }) }),
        fc.constantFrom<JsonValue>(0, 'x', null, [1, 2]),
      ),
      list: fc.array(tie('element'), { maxLength: 8 }),
    }),
  ).element;
  /** Rows with unique keys (matched by key), or any elements (often the fallback). */
  const keyedRows: fc.Arbitrary<JsonValue[]> = fc.uniqueArray(
    fc.record({ id: keyValue, v: fc.integer({ min: 0, max: 3 }), sub: fc.array(element) }),
    { maxLength: 10, selector: (row) => `${typeof row.id}${row.id}` },
  );
  const keyedList = fc.oneof(
    { weight: 3, arbitrary: keyedRows },
    { weight: 1, arbitrary: fc.array(element, { maxLength: 10 }) },
  );
  const doc: fc.Arbitrary<JsonValue> = fc.oneof(
    keyedList,
    fc
      .record({ list: keyedList, other: fc.jsonValue({ maxDepth: 2 }) }, { requiredKeys: [] })
      .map((value) => value as JsonValue),
  );
  /** Pairs that share most elements: `next` derived from `previous` by edits. */
  const edited = doc.chain((previous) =>
    fc
      .tuple(
        fc.shuffledSubarray(Array.isArray(previous) ? previous : []),
        fc.array(element, { maxLength: 3 }),
        fc.nat(),
      )
      .map(([kept, added, at]): [JsonValue, JsonValue] => {
        const next = [...kept];
        next.splice(at % (next.length + 1), 0, ...added);
        return [previous, next];
      }),
  );
  const normalized = (value: JsonValue): JsonValue =>
    JSON.parse(JSON.stringify(value)) as JsonValue;

  it('applied with fast-json-patch to prev, every patch gives exactly next', () => {
    let moves = 0;
    fc.assert(
      fc.property(fc.oneof(fc.tuple(doc, doc), edited), ([a, b]) => {
        const previous = normalized(a);
        const next = normalized(b);
        const ops = keyedJsonPatch(previous, next, byId);
        if (ops.some((op) => op.op === 'move')) moves += 1;
        assert.deepEqual(applyJsonPatch(previous, ops), { ok: true, document: next });
        const delta = stateDelta(previous, next, 'json-patch', undefined, byId);
        if (delta.kind === 'json-patch') {
          assert.deepEqual(applyJsonPatch(previous, delta.ops), { ok: true, document: next });
        }
      }),
      { numRuns: 3000 },
    );
    // the keyed matching is exercised, not only the fallback
    assert.ok(moves > 100, `${moves} patches had a move`);
  });

  it('moves one element of a keyed list anywhere with one move', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 40 }), fc.nat(), fc.nat(), (length, from, to) => {
        const ids = range(length);
        const [moved = 0] = ids.splice(from % length, 1);
        ids.splice(to % length, 0, moved);
        const ops = patch(rows(range(length)), rows(ids));
        assert.ok(ops.length <= 1, JSON.stringify(ops));
      }),
      { numRuns: 500 },
    );
  });

  it('inserts one element into a keyed list with one add', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.nat(50), { maxLength: 30 }), fc.nat(50), (ids, extra) => {
        fc.pre(!ids.includes(extra));
        const next = [...ids];
        next.splice(extra % (ids.length + 1), 0, extra);
        assert.equal(patch(rows(ids), rows(next)).length, 1);
      }),
      { numRuns: 300 },
    );
  });
});
