import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { JsonValue } from './json-value.js';
import { applyMergePatch, mergePatchBetween } from './merge-patch.js';

/** RFC 7396 Appendix A: target, patch, result. */
const rfc7396Examples: readonly [JsonValue, JsonValue, JsonValue][] = [
  [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
  [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
  [{ a: 'b' }, { a: null }, {}],
  [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
  [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
  [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
  [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
  [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
  [
    ['a', 'b'],
    ['c', 'd'],
    ['c', 'd'],
  ],
  [{ a: 'b' }, ['c'], ['c']],
  [{ a: 'foo' }, null, null],
  [{ a: 'foo' }, 'bar', 'bar'],
  [{ e: null }, { a: 1 }, { e: null, a: 1 }],
  [[1, 2], { a: 'b', c: null }, { a: 'b' }],
  [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
];

describe('applyMergePatch', () => {
  for (const [target, patch, result] of rfc7396Examples) {
    it(`RFC 7396 Appendix A: ${JSON.stringify(target)} + ${JSON.stringify(patch)}`, () => {
      const before = JSON.stringify(target);
      assert.deepEqual(applyMergePatch(target, patch), result);
      assert.equal(JSON.stringify(target), before, 'the target is not changed');
    });
  }

  it('merges an object patch on an absent document like on a non-object', () => {
    assert.deepEqual(applyMergePatch(undefined, { a: 1, b: null }), { a: 1 });
    assert.equal(applyMergePatch(undefined, 3), 3);
  });

  it('keeps existing members in place and appends new ones in patch order', () => {
    const merged = applyMergePatch({ a: 1, b: 2, c: 3 }, { z: 0, b: 9, y: 1 });
    assert.equal(JSON.stringify(merged), '{"a":1,"b":9,"c":3,"z":0,"y":1}');
  });

  it('sets a member named __proto__ as data, never as the prototype', () => {
    const patch = JSON.parse('{"__proto__":{"polluted":true}}') as JsonValue;
    const merged = applyMergePatch({}, patch) as Record<string, JsonValue>;
    assert.equal(Object.getPrototypeOf(merged), Object.prototype);
    assert.equal(JSON.stringify(merged), '{"__proto__":{"polluted":true}}');
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
  });
});

describe('mergePatchBetween', () => {
  it('sends changed and added members, null for removed ones, nested objects as patches', () => {
    const patch = mergePatchBetween(
      { a: 1, b: { c: 1, d: 2 }, gone: true, same: [1] },
      { a: 2, b: { c: 1, d: 3 }, same: [1], added: { x: 1 } },
    );
    assert.deepEqual(patch, { gone: null, a: 2, b: { d: 3 }, added: { x: 1 } });
  });

  it('sends an array whole when one element changes', () => {
    assert.deepEqual(mergePatchBetween({ list: [1, 2, 3] }, { list: [1, 2, 4] }), {
      list: [1, 2, 4],
    });
  });

  it('is the next value itself when it is not an object', () => {
    assert.equal(mergePatchBetween({ a: 1 }, null), null);
    assert.deepEqual(mergePatchBetween({ a: 1 }, [1]), [1]);
    assert.deepEqual(mergePatchBetween('x', { a: [null] }), { a: [null] });
  });

  it('is undefined when a member becomes null or a new object carries a null member', () => {
    assert.equal(mergePatchBetween({ a: 1 }, { a: null }), undefined);
    assert.equal(mergePatchBetween({}, { a: null }), undefined);
    assert.equal(mergePatchBetween({ a: 1 }, { a: { b: null } }), undefined);
    assert.equal(mergePatchBetween([], { a: { b: null } }), undefined);
    assert.equal(mergePatchBetween(undefined, { a: null }), undefined);
  });

  it('keeps a null member that does not change', () => {
    assert.deepEqual(mergePatchBetween({ a: null, b: 1 }, { a: null, b: 2 }), { b: 2 });
  });
});
