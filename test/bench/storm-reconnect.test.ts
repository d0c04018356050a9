import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  inWindow,
  listenCounters,
  ReconnectTimes,
  reconnectTimeline,
  timelineOf,
} from './storm-reconnect.js';

describe('reconnect storm helpers', () => {
  it('runs every item with at most the window in flight, starting each as one ends', async () => {
    const items = Array.from({ length: 25 }, (_, i) => i);
    let inFlight = 0;
    let most = 0;
    const started: number[] = [];
    await inWindow(items, 4, async (item, index) => {
      assert.equal(item, index);
      started.push(item);
      inFlight++;
      most = Math.max(most, inFlight);
      // Uneven durations: a slow one does not hold the others back.
      await sleep(item % 5 === 0 ? 30 : 1);
      inFlight--;
    });
    assert.deepEqual(started, items, 'each started once, in order');
    assert.equal(most, 4);
    assert.equal(inFlight, 0);
  });

  it('runs nothing for no items, and one at a time for a window of 1', async () => {
    let runs = 0;
    await inWindow([], 10, () => {
      runs++;
      return Promise.resolve();
    });
    assert.equal(runs, 0);
    let inFlight = 0;
    await inWindow([1, 2, 3], 1, async () => {
      inFlight++;
      assert.equal(inFlight, 1);
      await sleep(1);
      inFlight--;
      runs++;
    });
    assert.equal(runs, 3);
  });

  it('counts each step cumulatively per 500 ms, never NaN times', () => {
    const lines = timelineOf(1000, 1200, [
      ['answered', [1000, 1499, 1500, 1501, 2100, Number.NaN]],
      ['live', [900, 2600]],
    ]);
    // Buckets end at 500, 1000, 1500 ms after 1000; a time before it counts in the first.
    assert.deepEqual(lines, ['answered: 3 4 5', 'live: 1 1 1']);
  });

  it('reads the listen-queue counters where the machine has them', () => {
    const counters = listenCounters();
    if (counters === undefined) return;
    assert.ok(Number.isInteger(counters.listenOverflows) && counters.listenOverflows >= 0);
    assert.ok(Number.isInteger(counters.synRetransmits) && counters.synRetransmits >= 0);
  });

  it('marks a reconnect caught up and live once, at the events that cross each line', () => {
    let clock = 0;
    const times = new ReconnectTimes(() => clock);
    times.received(9);
    assert.ok(Number.isNaN(times.liveAt), 'nothing is expected before the restart');
    clock = 100;
    times.started();
    times.expect(10);
    clock = 150;
    times.answered();
    clock = 200;
    times.received(8);
    assert.ok(Number.isNaN(times.caughtUpAt(8)));
    times.received(9);
    clock = 300;
    times.received(10, 290);
    clock = 400;
    times.received(11);
    assert.equal(times.caughtUpAt(11), 200);
    assert.equal(times.liveAt, 290);
    // Buckets end at 200 and 700: all but live (290) in the first.
    assert.deepEqual(reconnectTimeline(-300, 1000, [{ times, highest: 11 }]), [
      'started: 1 1',
      'answered: 1 1',
      'caught up: 1 1',
      'live: 0 1',
    ]);
  });

  it('counts a client that had every event before the restart caught up when it was answered', () => {
    let clock = 50;
    const times = new ReconnectTimes(() => clock);
    times.expect(5);
    clock = 70;
    times.answered();
    assert.equal(times.caughtUpAt(4), 70);
    assert.equal(times.caughtUpAt(3), Number.NaN);
  });
});
