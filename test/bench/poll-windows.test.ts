/**
 * The live resources benchmark's count of upstream requests per poll
 * interval: windows start half an interval before the first request, a
 * poller drifting by its poll time stays at one per window, a doubled poll
 * shows as a window of two and a missed one as a window of none.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pollWindows } from './poll-windows.js';

describe('poll windows', () => {
  it('counts one per window for a poller whose period is the interval plus its poll time', () => {
    // 30 polls, each 1004 ms after the last: 120 ms of drift in all.
    const times = Array.from({ length: 30 }, (_, i) => 10_000 + i * 1004);
    const result = pollWindows(times, 1000, 10_000, 10_000 + 30_000);
    assert.equal(result.windows, 30);
    assert.equal(result.requests, 30);
    assert.equal(result.min, 1);
    assert.equal(result.max, 1);
    assert.deepEqual(result.histogram, [0, 30]);
    assert.equal(result.gapMinMs, 1004);
    assert.equal(result.gapMaxMs, 1004);
  });

  it('shows an extra request as a window of two and a missed one as a window of none', () => {
    const times = [0, 1000, 1100, 2000, 4000, 5000];
    const result = pollWindows(times, 1000, -1000, 5600);
    // Windows from -500: [-500,500) [500,1500) [1500,2500) [2500,3500) [3500,4500) [4500,5500)
    assert.deepEqual(result.counts, [1, 2, 1, 0, 1, 1]);
    assert.deepEqual(result.histogram, [1, 4, 1]);
    assert.equal(result.min, 0);
    assert.equal(result.max, 2);
    assert.equal(result.gapMinMs, 100);
    assert.equal(result.gapMaxMs, 2000);
  });

  it('counts only the requests of whole windows within the range', () => {
    const times = [500, 1500, 2500, 3500, 9000];
    const result = pollWindows(times, 1000, 1000, 3800);
    // From 1000 (not before the range) : [1000,2000) [2000,3000); 3500 is in no whole window.
    assert.deepEqual(result.counts, [1, 1]);
    assert.equal(result.requests, 2);
  });

  it('refuses an interval that is not positive', () => {
    assert.throws(() => pollWindows([], 0, 0, 1), RangeError);
  });
});
