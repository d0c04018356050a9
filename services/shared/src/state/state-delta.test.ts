import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyStateDelta } from './apply-state-delta.js';
import type { JsonValue } from './json-value.js';
import { stateDelta } from './state-delta.js';

const orders: JsonValue = {
  orders: Object.fromEntries(
    Array.from({ length: 50 }, (_, index) => [`o${index}`, { status: 'open', total: index }]),
  ),
  list: Array.from({ length: 50 }, (_, index) => ({ id: index, name: `item ${index}` })),
};
const shipped = structuredClone(orders) as { orders: Record<string, { status: string }> };
shipped.orders['o7'] = { ...shipped.orders['o7'], status: 'shipped' };

describe('stateDelta', () => {
  it('sends a few changed members as JSON Patch operations', () => {
    const delta = stateDelta(orders, shipped, 'json-patch');
    assert.deepEqual(delta, {
      kind: 'json-patch',
      ops: [{ op: 'replace', path: '/orders/o7/status', value: 'shipped' }],
    });
    assert.deepEqual(applyStateDelta(orders, delta), { ok: true, document: shipped });
  });

  it('sends them as a merge patch', () => {
    assert.deepEqual(stateDelta(orders, shipped, 'merge-patch'), {
      kind: 'merge-patch',
      patch: { orders: { o7: { status: 'shipped' } } },
    });
  });

  it('sends the full document when asked, and when the step starts from absent', () => {
    assert.deepEqual(stateDelta(orders, shipped, 'full'), { kind: 'full', document: shipped });
    assert.deepEqual(stateDelta(undefined, shipped, 'json-patch'), {
      kind: 'full',
      document: shipped,
    });
  });

  it('sends absent for a delete, whatever the kind', () => {
    for (const kind of ['json-patch', 'merge-patch', 'full'] as const) {
      assert.deepEqual(stateDelta(orders, undefined, kind), { kind: 'absent' });
    }
    assert.deepEqual(applyStateDelta(orders, { kind: 'absent' }), {
      ok: true,
      document: undefined,
    });
  });

  it('falls back to full when a JSON Patch would be larger than the document', () => {
    const prepended = structuredClone(orders) as { list: JsonValue[] };
    prepended.list.unshift({ id: -1, name: 'first' });
    assert.equal(stateDelta(orders, prepended, 'json-patch').kind, 'full');
  });

  it('falls back to full when a merge patch cannot say it (a member set to null)', () => {
    assert.deepEqual(stateDelta({ a: 1, b: 2 }, { a: null, b: 2 }, 'merge-patch'), {
      kind: 'full',
      document: { a: null, b: 2 },
    });
  });

  it('refuses a JSON Patch delta without a document: the client refetches', () => {
    const result = applyStateDelta(undefined, { kind: 'json-patch', ops: [] });
    assert.equal(result.ok ? undefined : result.refusal.reason, 'not-applicable');
  });
});
