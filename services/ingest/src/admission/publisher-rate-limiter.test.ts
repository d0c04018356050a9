import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isFanoutError } from '@fanout/shared';
import { PublisherRateLimiter } from './publisher-rate-limiter.js';

describe('publisher rate limit', () => {
  it('allows the burst, then refuses with a retry delay, then refills with time', () => {
    let now = 0;
    const limiter = new PublisherRateLimiter(100, 100, () => now);
    limiter.take('a', 100);
    assert.throws(
      () => {
        limiter.take('a', 10);
      },
      (error: unknown) =>
        isFanoutError(error) &&
        error.code === 'rate_limited' &&
        error.details['retryAfterMs'] === 100,
    );
    limiter.take('b', 50); // publishers have their own buckets
    now += 100;
    limiter.take('a', 10);
  });

  it('refuses a batch larger than the burst outright and is off at rate 0', () => {
    const limiter = new PublisherRateLimiter(10, 10, () => 0);
    assert.throws(() => {
      limiter.take('a', 11);
    }, /more than producer/);
    const off = new PublisherRateLimiter(0, 0);
    off.take('a', 1_000_000);
    assert.equal(off.enabled, false);
  });

  it('forgets only full buckets when it tracks too many publishers', () => {
    let now = 0;
    const limiter = new PublisherRateLimiter(1, 10, () => now);
    limiter.take('drained', 10);
    for (let index = 0; index < 10_000; index++) limiter.take(`idle-${index}`, 0);
    now += 1000;
    limiter.take('newcomer', 1);
    assert.throws(
      () => {
        limiter.take('drained', 2);
      },
      (error: unknown) =>
        isFanoutError(error) &&
        error.code === 'rate_limited' &&
        error.details['retryAfterMs'] === 1000,
      'the drained bucket is remembered with its one refilled token',
    );
  });
});
