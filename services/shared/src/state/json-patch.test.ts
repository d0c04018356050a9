import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { applyJsonPatch, jsonPatchBetween } from './json-patch.js';
import type { JsonValue } from './json-value.js';

interface SuiteCase {
  readonly comment?: string;
  readonly doc?: JsonValue;
  readonly patch?: unknown;
  readonly expected?: JsonValue;
  readonly error?: string;
  readonly disabled?: boolean;
}

const require = createRequire(import.meta.url);

/** The community suite json-patch-tests (npm json-patch-test-suite, Apache-2.0). */
function suite(file: 'tests.json' | 'spec_tests.json'): SuiteCase[] {
  return (require(`json-patch-test-suite/${file}`) as SuiteCase[]).filter(
    (entry) => entry.doc !== undefined && entry.disabled !== true,
  );
}

describe('applyJsonPatch on the json-patch-tests suite', () => {
  for (const file of ['tests.json', 'spec_tests.json'] as const) {
    const cases = suite(file);
    it(`${file}: ${cases.length} cases`, () => {
      assert.ok(cases.length > 10, 'the suite was read');
      for (const entry of cases) {
        const label = `${file}: ${entry.comment ?? JSON.stringify(entry.patch)}`;
        const doc = entry.doc ?? null;
        const before = JSON.stringify(doc);
        const result = applyJsonPatch(doc, entry.patch);
        assert.equal(JSON.stringify(doc), before, `${label}: the document is not changed`);
        if (entry.error !== undefined) {
          assert.equal(result.ok, false, `${label}: refused (${entry.error})`);
        } else {
          assert.ok(result.ok, `${label}: applies`);
          if (entry.expected !== undefined)
            assert.deepEqual(result.document, entry.expected, label);
        }
      }
    });
  }
});

describe('applyJsonPatch', () => {
  it('refuses a patch that is not an array', () => {
    const result = applyJsonPatch({}, { op: 'add', path: '/a', value: 1 });
    assert.deepEqual(result.ok ? undefined : result.refusal.reason, 'not-a-patch');
  });

  it('refuses a malformed operation with its index', () => {
    const result = applyJsonPatch({ a: 1 }, [
      { op: 'replace', path: '/a', value: 2 },
      { op: 'jump', path: '/a' },
    ]);
    assert.equal(result.ok, false);
    if (!result.ok) {
      assert.equal(result.refusal.reason, 'invalid-operation');
      assert.equal(result.refusal.index, 1);
    }
  });

  it('refuses the whole patch when a later operation does not apply (a gap)', () => {
    const document = { list: [1, 2], n: 1 };
    const result = applyJsonPatch(document, [
      { op: 'replace', path: '/n', value: 2 },
      { op: 'remove', path: '/list/5' },
    ]);
    assert.equal(result.ok ? undefined : result.refusal.reason, 'not-applicable');
    assert.deepEqual(document, { list: [1, 2], n: 1 }, 'nothing of a refused patch takes effect');
  });

  it('refuses a failed test with its reason', () => {
    const result = applyJsonPatch({ v: 1 }, [{ op: 'test', path: '/v', value: 2 }]);
    assert.equal(result.ok ? undefined : result.refusal.reason, 'test-failed');
  });

  it('refuses a path through __proto__ or constructor/prototype', () => {
    for (const path of ['/__proto__/polluted', '/constructor/prototype/polluted']) {
      const result = applyJsonPatch({}, [{ op: 'add', path, value: true }]);
      assert.equal(result.ok, false, path);
    }
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
  });
});

describe('jsonPatchBetween', () => {
  it('replaces the root when the values are scalars or of different kinds', () => {
    assert.deepEqual(jsonPatchBetween('', false), [{ op: 'replace', path: '', value: false }]);
    assert.deepEqual(jsonPatchBetween({ a: 1 }, [1]), [{ op: 'replace', path: '', value: [1] }]);
    assert.deepEqual(jsonPatchBetween(3, 3), []);
  });

  it('changes only the members that differ', () => {
    const ops = jsonPatchBetween({ a: 1, b: { c: 2 }, d: 0 }, { a: 1, b: { c: 3 } }) ?? [];
    assert.deepEqual(applyJsonPatch({ a: 1, b: { c: 2 }, d: 0 }, ops), {
      ok: true,
      document: { a: 1, b: { c: 3 } },
    });
    assert.equal(ops.length, 2);
  });

  it('is undefined when an operation would go through constructor/prototype', () => {
    assert.equal(
      jsonPatchBetween({ constructor: { prototype: 1 } }, { constructor: { prototype: 2 } }),
      undefined,
    );
  });
});
