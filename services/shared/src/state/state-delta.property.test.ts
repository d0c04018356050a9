import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { applyStateChange } from './apply-state-change.js';
import { applyStateDelta } from './apply-state-delta.js';
import { applyJsonPatch, jsonPatchBetween } from './json-patch.js';
import type { JsonValue } from './json-value.js';
import { applyMergePatch, mergePatchBetween } from './merge-patch.js';
import type { StateChange, StateLimits } from './state-change.js';
import { readStateData } from './state-data.js';
import { stateDelta, type StateDeltaKind } from './state-delta.js';
import type { StateDocument } from './state-document.js';

const limits: StateLimits = { maxDocumentBytes: 64 * 1024, maxDepth: 16 };

/** Arbitrary JSON as the fold holds it: through JSON text, no __proto__ member. */
const documentValue: fc.Arbitrary<JsonValue> = fc
  .jsonValue({ maxDepth: 4 })
  .map((value) => readStateData(JSON.stringify(value), limits.maxDepth))
  .filter((result) => result.ok)
  .map((result) => (result.ok ? result.value : null));

/** Small documents that share members, so that deltas are not all "replace everything". */
const key = fc.constantFrom('a', 'b', 'c', 'list', 'nested', '0', 'constructor');
const relatedRaw: fc.Arbitrary<JsonValue> = fc.letrec<{ value: JsonValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom<JsonValue>(null, true, 0, 1, 'x', ''),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(key, tie('value'), { maxKeys: 4, noNullPrototype: true }),
  ),
})).value;
/** Through JSON text, as the fold holds documents (plain objects, no -0). */
const related = relatedRaw.map((value) => JSON.parse(JSON.stringify(value)) as JsonValue);

const deltaKinds: readonly StateDeltaKind[] = ['json-patch', 'merge-patch', 'full'];

describe('state deltas (properties)', () => {
  it('(i) applying jsonPatchBetween(prev, next) and the json-patch delta to prev gives next', () => {
    let patches = 0;
    fc.assert(
      fc.property(
        fc.oneof(documentValue, related),
        fc.oneof(documentValue, related),
        (previous, next) => {
          const ops = jsonPatchBetween(previous, next);
          if (ops !== undefined && ops.length > 0) patches += 1;
          if (ops !== undefined)
            assert.deepEqual(applyJsonPatch(previous, ops), { ok: true, document: next });
          const delta = stateDelta(previous, next, 'json-patch');
          assert.ok(delta.kind === 'json-patch' || delta.kind === 'full');
          assert.deepEqual(applyStateDelta(previous, delta), { ok: true, document: next });
        },
      ),
      { numRuns: 1000 },
    );
    assert.ok(patches > 100, `${patches} steps had a non-empty JSON Patch`);
  });

  it('(ii) applying mergePatchBetween(prev, next) to prev gives next whenever it exists', () => {
    let expressible = 0;
    fc.assert(
      fc.property(
        fc.oneof(documentValue, related),
        fc.oneof(documentValue, related),
        (previous, next) => {
          const patch = mergePatchBetween(previous, next);
          if (patch !== undefined) {
            expressible += 1;
            assert.deepEqual(applyMergePatch(previous, patch), next);
          }
          const delta = stateDelta(previous, next, 'merge-patch');
          assert.equal(delta.kind, patch === undefined ? 'full' : 'merge-patch');
          assert.deepEqual(applyStateDelta(previous, delta), { ok: true, document: next });
        },
      ),
      { numRuns: 1000 },
    );
    assert.ok(expressible > 100, `${expressible} steps had a merge patch`);
  });

  it('(iii) the snapshot and every delta of a fold give every intermediate and the final state', () => {
    const changeArbitrary: fc.Arbitrary<Omit<StateChange, 'position'>> = fc.oneof(
      fc.record({
        op: fc.constant('put' as const),
        data: related.map((value) => JSON.stringify(value)),
      }),
      fc.record({
        op: fc.constant('merge' as const),
        data: related.map((value) => JSON.stringify(value)),
      }),
      fc.constant({ op: 'delete' as const }),
      fc.constant({ op: 'put' as const, data: '{not json' }),
    );
    fc.assert(
      fc.property(
        fc.option(related, { nil: undefined }),
        fc.array(changeArbitrary, { maxLength: 12 }),
        fc.constantFrom(...deltaKinds),
        (snapshot: StateDocument, changes, kind) => {
          let folded = snapshot;
          let client = snapshot;
          for (const [index, change] of changes.entries()) {
            const result = applyStateChange(
              folded,
              { ...change, position: `e:0:${index}` },
              limits,
            );
            if (!result.ok) {
              assert.equal(result.refusal.position, `e:0:${index}`);
              continue;
            }
            const delta = stateDelta(folded, result.document, kind, result.json);
            // Each delta is sent as JSON: apply what a client decodes.
            const received = JSON.parse(JSON.stringify(delta)) as typeof delta;
            const applied = applyStateDelta(client, received);
            assert.ok(applied.ok, `delta ${index} applies`);
            client = applied.document;
            folded = result.document;
            assert.deepEqual(client, folded, `state after change ${index}`);
            assert.equal(
              result.json,
              folded === undefined ? undefined : JSON.stringify(folded),
              'the fold returns the canonical JSON',
            );
          }
          assert.deepEqual(client, folded);
        },
      ),
      { numRuns: 500 },
    );
  });
});
