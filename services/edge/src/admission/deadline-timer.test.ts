import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DeadlineTimer, maxTimerDelayMs, nextWaitMs } from './deadline-timer.js';

describe('DeadlineTimer', () => {
  it('waits at most what setTimeout honours, and nothing for a deadline passed', () => {
    const now = 1_000_000;
    assert.equal(nextWaitMs(now + 5000, now), 5000);
    assert.equal(nextWaitMs(now + 30 * 24 * 3600 * 1000, now), maxTimerDelayMs);
    assert.equal(nextWaitMs(8.64e15, now), maxTimerDelayMs);
    assert.equal(nextWaitMs(now - 1, now), 0);
    assert.equal(nextWaitMs(Number.NaN, now), 0);
  });

  it('re-arms with clamped waits until the deadline, then fires once', async () => {
    const looks: number[] = [];
    const clock = (): number => {
      const now = Date.now();
      looks.push(now);
      return now;
    };
    const start = Date.now();
    const at = start + 120;
    const timer = new DeadlineTimer(20);
    let calls = 0;
    // The timer is unref'd: something must keep the test process up.
    const keepAlive = setInterval(() => undefined, 1000);
    await new Promise<void>((resolve) => {
      timer.set(
        at,
        () => {
          calls++;
          resolve();
        },
        clock,
      );
    });
    clearInterval(keepAlive);
    assert.ok(Date.now() >= at, 'not before the deadline');
    assert.ok(looks.length >= 5, `re-armed several times (${looks.length} looks)`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(calls, 1);
  });

  it('does not fire once cleared or replaced', async () => {
    const timer = new DeadlineTimer(10);
    let fired = '';
    timer.set(Date.now() + 30, () => (fired += 'first'));
    timer.set(Date.now() + 40, () => (fired += 'second'));
    const cleared = new DeadlineTimer(10);
    cleared.set(Date.now() + 20, () => (fired += 'cleared'));
    cleared.clear();
    await new Promise((resolve) => setTimeout(resolve, 120));
    assert.equal(fired, 'second');
  });
});
