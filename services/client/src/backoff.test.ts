import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Backoff } from './backoff.js';

describe('Backoff', () => {
  const options = { initialMs: 100, maxMs: 1000, multiplier: 2 };

  it('draws each delay from [0, cap) with a cap that doubles up to maxMs', () => {
    const caps: number[] = [];
    const backoff = new Backoff(options, () => 0.999999);
    for (let i = 0; i < 8; i++) {
      caps.push(backoff.cap());
      const delay = backoff.next();
      assert.ok(delay >= 0 && delay < caps[i]!, `delay ${delay} within [0, ${caps[i]})`);
    }
    assert.deepEqual(caps, [100, 200, 400, 800, 1000, 1000, 1000, 1000]);
  });

  it('uses full jitter: the lowest random value gives no delay at all', () => {
    const backoff = new Backoff(options, () => 0);
    assert.equal(backoff.next(), 0);
    assert.equal(backoff.next(), 0);
    assert.equal(backoff.attempt, 2);
  });

  it('starts over after reset', () => {
    const backoff = new Backoff(options, () => 0.5);
    backoff.next();
    backoff.next();
    backoff.reset();
    assert.equal(backoff.cap(), 100);
    assert.equal(backoff.next(), 50);
  });

  it('never exceeds maxMs over many attempts with random jitter', () => {
    const backoff = new Backoff(options);
    for (let i = 0; i < 1000; i++) assert.ok(backoff.next() < options.maxMs);
  });
});
