import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setImmediate as turn } from 'node:timers/promises';
import { PublishGuard } from './publish-guard.js';

describe('PublishGuard', () => {
  it('checks before the bytes published since the last check pass the budget, counting this turn as pending', async () => {
    const checks: number[] = [];
    const guard = new PublishGuard(100, (pending) => checks.push(pending));
    guard.beforePublish(60);
    guard.beforePublish(40);
    assert.deepEqual(checks, [], 'within the budget');
    guard.beforePublish(1);
    assert.deepEqual(checks, [100], 'this turn’s 100 bytes may not have reached the sockets');
    await turn();
    guard.beforePublish(99);
    assert.deepEqual(checks, [100]);
    guard.beforePublish(10);
    assert.deepEqual(checks, [100, 99], 'a new turn counts only its own bytes');
  });

  it('checks before a frame larger than the budget, and on demand', () => {
    const checks: number[] = [];
    const guard = new PublishGuard(100, (pending) => checks.push(pending));
    guard.beforePublish(10);
    guard.beforePublish(500);
    assert.deepEqual(checks, [10]);
    guard.checkNow();
    assert.deepEqual(checks, [10, 510]);
  });
});
