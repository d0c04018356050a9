import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyStateChange } from './apply-state-change.js';
import { canonicalJson, utf8Length } from './canonical-json.js';
import type { StateChange, StateLimits } from './state-change.js';
import { jsonDepth, readStateData } from './state-data.js';
import { foldStateChanges } from './state-fold.js';

const limits: StateLimits = { maxDocumentBytes: 200, maxDepth: 4 };
let offset = 0;
const change = (op: StateChange['op'], data?: string | Uint8Array): StateChange => ({
  op,
  ...(data === undefined ? {} : { data }),
  position: `e1:0:${offset++}`,
});

describe('applyStateChange', () => {
  it('puts, merges and deletes, returning the canonical JSON', () => {
    const put = applyStateChange(undefined, change('put', '{"a":1,"b":{"c":2}}'), limits);
    assert.ok(put.ok);
    const merged = applyStateChange(
      put.document,
      change('merge', new TextEncoder().encode('{"b":{"c":null,"d":3},"e":[1]}')),
      limits,
    );
    assert.deepEqual(merged, {
      ok: true,
      document: { a: 1, b: { d: 3 }, e: [1] },
      json: '{"a":1,"b":{"d":3},"e":[1]}',
    });
    assert.deepEqual(put.document, { a: 1, b: { c: 2 } }, 'the current document is not changed');
    assert.deepEqual(applyStateChange(merged.ok ? merged.document : 1, change('delete'), limits), {
      ok: true,
      document: undefined,
      json: undefined,
    });
  });

  it('merges on an absent document from {}', () => {
    const result = applyStateChange(undefined, change('merge', '{"a":{"b":null,"c":1}}'), limits);
    assert.deepEqual(result.ok && result.document, { a: { c: 1 } });
  });

  it('keeps null as a document, distinct from absent', () => {
    const result = applyStateChange({ a: 1 }, change('put', 'null'), limits);
    assert.deepEqual(result, { ok: true, document: null, json: 'null' });
  });

  const refusals: [string, StateChange, string][] = [
    ['put without data', change('put'), 'invalid-json'],
    ['merge of text that is not JSON', change('merge', '{"a":'), 'invalid-json'],
    ['bytes that are not UTF-8', change('put', new Uint8Array([0x22, 0xff, 0x22])), 'invalid-json'],
    ['a number JSON cannot carry', change('put', '[1e400]'), 'invalid-json'],
    ['a __proto__ member', change('merge', '{"x":{"__proto__":{"p":1}}}'), 'forbidden-key'],
    ['nesting over maxDepth', change('put', '[[[[[1]]]]]'), 'too-deep'],
    [
      'a document over maxDocumentBytes',
      change('put', JSON.stringify('x'.repeat(300))),
      'too-large',
    ],
    [
      'a merge growing the document over maxDocumentBytes',
      change('merge', `{"big":"${'y'.repeat(190)}"}`),
      'too-large',
    ],
  ];
  for (const [name, refused, reason] of refusals) {
    it(`refuses ${name} with its position, leaving the document alone`, () => {
      const current = { a: 1 };
      const result = applyStateChange(current, refused, limits);
      assert.equal(result.ok, false);
      if (!result.ok) {
        assert.equal(result.refusal.reason, reason);
        assert.equal(result.refusal.position, refused.position);
        assert.ok(result.refusal.message.length > 0);
      }
      assert.deepEqual(current, { a: 1 });
    });
  }

  it('accepts a document of exactly maxDocumentBytes (UTF-8 bytes of the canonical JSON)', () => {
    const text = JSON.stringify('é'.repeat(99)); // 2 quotes + 99 × 2 bytes = 200
    assert.equal(utf8Length(text), 200);
    assert.ok(applyStateChange(undefined, change('put', text), limits).ok);
    assert.ok(
      !applyStateChange(undefined, change('put', JSON.stringify('é'.repeat(100))), limits).ok,
    );
  });

  it('gives the same bytes for the same records: canonical JSON without whitespace, -0 as 0', () => {
    const records = [
      change('put', ' { "b" : -0 , "a" : [ 1 , -0.0 ] } '),
      change('merge', '{"c":{"d":1}}'),
    ];
    const first = foldStateChanges(undefined, records, limits);
    const second = foldStateChanges(undefined, records, limits);
    assert.equal(canonicalJson(first.document ?? null), '{"b":0,"a":[1,0],"c":{"d":1}}');
    assert.equal(canonicalJson(first.document ?? null), canonicalJson(second.document ?? null));
    assert.ok(Object.is((first.document as { b: number }).b, 0));
  });
});

describe('foldStateChanges', () => {
  it('keeps the document through a refused change and reports the refusal', () => {
    const refused = change('put', 'nope');
    const fold = foldStateChanges(
      undefined,
      [change('put', '{"n":1}'), refused, change('merge', '{"n":2}')],
      limits,
    );
    assert.deepEqual(fold.documents, [{ n: 1 }, { n: 1 }, { n: 2 }]);
    assert.deepEqual(
      fold.refusals.map((refusal) => [refusal.reason, refusal.position]),
      [['invalid-json', refused.position]],
    );
  });
});

describe('readStateData and jsonDepth', () => {
  it('measures depth: scalar 0, empty container 1', () => {
    assert.deepEqual([jsonDepth(1), jsonDepth([]), jsonDepth({ a: [{}] })], [0, 1, 3]);
  });

  it('refuses deep nesting without walking past maxDepth', () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    const result = readStateData(deep, 64);
    assert.equal(result.ok ? undefined : result.problem, 'too-deep');
  });

  it('refuses a byte order mark and empty data as not JSON', () => {
    assert.equal(readStateData('\ufeff{}', 4).ok, false);
    assert.equal(readStateData(new Uint8Array(), 4).ok, false);
  });
});
