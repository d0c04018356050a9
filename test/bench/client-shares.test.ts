/**
 * How the steady scenarios spread their subscribers over client processes
 * and add the processes' timed events up again.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  clientProcessCount,
  mergeTimed,
  processOf,
  shareOf,
  splitByProcess,
} from './client-shares.js';
import { sampledIndices, sampleSize, summarizeLatency } from './latency-sampling.js';

describe('client shares', () => {
  it('gives every subscriber to exactly one process, every prefix evenly', () => {
    const processes = 3;
    const shares = [0, 1, 2].map((n) => shareOf(n, 10_000, processes));
    const all = shares.flat().sort((a, b) => a - b);
    assert.deepEqual(
      all,
      Array.from({ length: 10_000 }, (_, i) => i),
    );
    for (const [n, share] of shares.entries()) {
      for (const index of share) assert.equal(processOf(index, processes), n);
      // The first 1,000 subscribers (broadcast 1,000 of 10,000) are spread too.
      const prefix = share.filter((i) => i < 1000).length;
      assert.ok(
        prefix === 333 || prefix === 334,
        `process ${n} holds ${prefix} of the first 1,000`,
      );
    }
    assert.deepEqual(shareOf(1, 5, 2), [1, 3]);
    assert.deepEqual(shareOf(0, 5, 1), [0, 1, 2, 3, 4]);
  });

  it('splits the sample by the process holding each sampled subscriber', () => {
    const sampled = sampledIndices(1000, sampleSize(1000));
    const split = splitByProcess(sampled, 2);
    assert.equal(split.length, 2);
    assert.equal((split[0]?.length ?? 0) + (split[1]?.length ?? 0), sampled.length);
    assert.ok(split[0]?.every((i) => i % 2 === 0));
    assert.ok(split[1]?.every((i) => i % 2 === 1));
    // The hash spreads the sample over both processes, not all into one.
    assert.ok(
      (split[0]?.length ?? 0) > 30 && (split[1]?.length ?? 0) > 30,
      JSON.stringify(split.map((s) => s.length)),
    );
    assert.deepEqual(splitByProcess([4, 5, 7], 3), [[], [4, 7], [5]]);
  });

  it('merges timed events so percentiles are over all of them, send times kept in step', () => {
    const fast = {
      latencies: Array.from({ length: 990 }, () => 1),
      sent: Array.from({ length: 990 }, (_, i) => i),
    };
    const slow = {
      latencies: Array.from({ length: 10 }, () => 100),
      sent: Array.from({ length: 10 }, (_, i) => 1000 + i),
    };
    const merged = mergeTimed([fast, slow]);
    assert.equal(merged.latencies.length, 1000);
    assert.equal(merged.sent[995], 1005);
    assert.equal(merged.latencies[995], 100);
    const summary = summarizeLatency(merged.latencies, 100);
    // 1 % of all events were slow: the p99 of the whole is slow, though one
    // process's p99 is 1 ms (an average of the processes' p99s would hide it).
    assert.equal(summary.p99Ms, 100);
    assert.equal(summary.p50Ms, 1);
    assert.throws(() => mergeTimed([{ latencies: [1, 2], sent: [1] }]), /out of step/);
  });

  it('reads the number of client processes, refusing nonsense', () => {
    assert.equal(clientProcessCount(undefined, 2), 2);
    assert.equal(clientProcessCount('', 2), 2);
    assert.equal(clientProcessCount('3', 2), 3);
    assert.throws(() => clientProcessCount('0', 2), /1–64/);
    assert.throws(() => clientProcessCount('two', 2), /1–64/);
    assert.throws(() => clientProcessCount('1.5', 2), /1–64/);
  });
});
