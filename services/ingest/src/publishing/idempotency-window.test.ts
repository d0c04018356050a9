import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IdempotencyWindow } from './idempotency-window.js';

const at = (offset: number) => ({ epoch: 'e', partition: 0, offset });

describe('idempotency window', () => {
  it('remembers ids per channel for the window', () => {
    let now = 0;
    const window = new IdempotencyWindow(1000, 10, () => now);
    window.remember('a', 'id-1', at(1));
    assert.deepEqual(window.lookup('a', 'id-1'), at(1));
    assert.equal(window.lookup('b', 'id-1'), undefined, 'ids are scoped to their channel');
    now = 1000;
    assert.equal(window.lookup('a', 'id-1'), undefined, 'forgotten after the window');
  });

  it('forgets the oldest ids first when full, and nothing when disabled', () => {
    const window = new IdempotencyWindow(60_000, 2);
    window.remember('a', '1', at(1));
    window.remember('a', '2', at(2));
    window.remember('a', '3', at(3));
    assert.equal(window.size, 2);
    assert.equal(window.lookup('a', '1'), undefined);
    assert.deepEqual(window.lookup('a', '3'), at(3));
    const off = new IdempotencyWindow(0, 10);
    off.remember('a', '1', at(1));
    assert.equal(off.lookup('a', '1'), undefined);
  });
});
