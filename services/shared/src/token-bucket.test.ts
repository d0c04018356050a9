import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TokenBucket } from './token-bucket.js';

/** A bucket on a clock the test moves. */
function bucketAt(perSecond: number, capacity: number, start = 0) {
  const clock = { now: start };
  const bucket = new TokenBucket({ perSecond, capacity, now: () => clock.now });
  return { bucket, clock };
}

describe('token bucket', () => {
  it('starts full, spends what it holds and answers the wait for what it lacks', () => {
    const { bucket } = bucketAt(10, 5);
    assert.equal(bucket.available(), 5);
    assert.equal(bucket.take(3), 0);
    assert.equal(bucket.available(), 2);
    // 4 wanted, 2 held: 2 tokens at 10/s are 200 ms away.
    assert.equal(bucket.take(4), 200);
    assert.equal(bucket.available(), 2, 'a refused take spends nothing');
    assert.equal(bucket.take(2), 0);
    assert.equal(bucket.available(), 0);
  });

  it('refills with time at its rate', () => {
    const { bucket, clock } = bucketAt(100, 100);
    assert.equal(bucket.take(100), 0);
    assert.equal(bucket.take(10), 100);
    clock.now += 50;
    assert.equal(bucket.available(), 5);
    assert.equal(bucket.take(10), 50);
    clock.now += 50;
    assert.equal(bucket.take(10), 0);
    assert.equal(bucket.available(), 0);
  });

  it('caps the refill at its capacity (the burst)', () => {
    const { bucket, clock } = bucketAt(10, 3);
    assert.equal(bucket.take(3), 0);
    assert.equal(bucket.full, false);
    clock.now += 10_000;
    assert.equal(bucket.available(), 3);
    assert.equal(bucket.full, true);
    assert.equal(bucket.take(3), 0);
    assert.equal(bucket.take(1), 100);
  });

  it('refills at fractional rates and rounds the wait up', () => {
    const { bucket, clock } = bucketAt(0.5, 1);
    assert.equal(bucket.take(1), 0);
    assert.equal(bucket.take(1), 2000, 'one token every two seconds');
    clock.now += 1000;
    assert.equal(bucket.available(), 0.5);
    assert.equal(bucket.take(1), 1000);
    clock.now += 999;
    assert.equal(bucket.take(1), 1, 'a fraction of a millisecond left is one millisecond');
    clock.now += 1;
    assert.equal(bucket.take(1), 0);

    const third = bucketAt(1 / 3, 2);
    assert.equal(third.bucket.take(2), 0);
    assert.equal(third.bucket.take(1), 3000);
    third.clock.now += 1500;
    assert.equal(third.bucket.take(1), 1500);
  });

  it('refills nothing when the clock goes backwards, and counts from the new reading', () => {
    const { bucket, clock } = bucketAt(10, 10, 1_000_000);
    assert.equal(bucket.take(10), 0);
    clock.now -= 60_000;
    assert.equal(bucket.available(), 0, 'going back neither drains nor refills');
    assert.equal(bucket.take(1), 100);
    clock.now += 100;
    assert.equal(bucket.available(), 1, 'time after the jump refills as usual');
    clock.now += 60_000;
    assert.equal(bucket.available(), 10);
  });

  it('does not go negative when the clock goes backwards with tokens held', () => {
    const { bucket, clock } = bucketAt(1000, 5, 10_000);
    assert.equal(bucket.take(2), 0);
    clock.now = 0;
    assert.equal(bucket.available(), 3);
  });

  it('refills to exactly its capacity after huge gaps', () => {
    const { bucket, clock } = bucketAt(1_000_000, 7);
    assert.equal(bucket.take(7), 0);
    clock.now = Number.MAX_SAFE_INTEGER;
    assert.equal(bucket.available(), 7);
    clock.now = Number.MAX_VALUE;
    assert.equal(bucket.available(), 7);
    assert.equal(bucket.take(7), 0);
    assert.equal(bucket.take(1), 1);
  });

  it('never fits a count above its capacity', () => {
    const { bucket, clock } = bucketAt(10, 5);
    assert.equal(bucket.take(6), 100);
    clock.now += 1_000_000;
    assert.ok(bucket.take(6) > 0);
    assert.equal(bucket.available(), 5);
  });

  it('refuses rates and capacities that are not positive and finite', () => {
    for (const perSecond of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => new TokenBucket({ perSecond, capacity: 1 }), RangeError);
    }
    for (const capacity of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => new TokenBucket({ perSecond: 1, capacity }), RangeError);
    }
  });

  it('reads Date.now when given no clock', () => {
    const bucket = new TokenBucket({ perSecond: 1, capacity: 2 });
    assert.equal(bucket.take(2), 0);
    assert.ok(bucket.take(1) > 0);
  });
});
