/**
 * The split of a benchmark latency at the broker's append time, and the
 * percentiles of the edge's delivery histogram between two scrapes, and
 * the edge's event-loop delay.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AppendTimes,
  bucketSummary,
  histogramBuckets,
  loopDelay,
  splitLatency,
  worstLoopDelay,
  writtenSendTime,
} from './latency-split.js';

describe('latency split', () => {
  it('splits each timed event at the append time noted for its send time', () => {
    const appends = new AppendTimes();
    appends.note([1000.5, 1001.25], 1004, 1010);
    appends.note([2000], 2030, 2031);
    const split = splitLatency(
      { sent: [1000.5, 1001.25, 2000, 3000], latencies: [10, 20, 50, 7] },
      appends,
      4,
    );
    assert.equal(split.unmatched, 1, 'the event sent at 3000 has no append time');
    assert.equal(split.toAppend.count, 3);
    assert.equal(split.toAppend.maxMs, 30);
    assert.equal(split.toAppend.p50Ms, 3.5);
    // arrival − append: 1010.5 − 1004, 1021.25 − 1004, 2050 − 2030
    assert.equal(split.appendToArrival.p50Ms, 17.25);
    assert.equal(split.appendToArrival.maxMs, 20);
    assert.equal(split.toAcknowledged.maxMs, 31);
    assert.equal(split.toAppend.sampledSubscribers, 4);
    assert.equal(split.firstArrival.count, 4, 'one first arrival per event');
    assert.equal(split.behindFirst.maxMs, 0, 'each event arrived once');
  });

  it('measures each arrival behind the first arrival of its event', () => {
    const split = splitLatency(
      { sent: [10, 10, 10, 20, 20], latencies: [4, 9, 30, 6, 7] },
      new AppendTimes(),
      3,
    );
    assert.equal(split.unmatched, 5);
    assert.deepEqual(
      [split.firstArrival.count, split.firstArrival.p50Ms, split.firstArrival.maxMs],
      [2, 6, 6],
    );
    assert.deepEqual([split.behindFirst.count, split.behindFirst.maxMs], [5, 26]);
  });

  it('ignores a produce response without an append time (a CreateTime topic answers -1)', () => {
    const appends = new AppendTimes();
    appends.note([5], -1, 9);
    assert.equal(appends.size, 0);
    appends.note([5], 7, 9);
    assert.equal(appends.size, 1);
    appends.reset();
    assert.equal(appends.get(5), undefined);
    const bounded = new AppendTimes(2);
    bounded.note([1, 2, 3], 10, 11);
    assert.equal(bounded.size, 2);
    assert.equal(bounded.get(1), undefined, 'the oldest went first');
    assert.equal(bounded.get(3)?.appended, 10);
  });

  it('keys send times as the events write and the clients parse them', () => {
    const sent = 1764755111123.25 + 0.0017;
    const parsed = Number(/"t":([\d.]+)/.exec(`{"t":${sent.toFixed(3)},"s":1}`)?.[1]);
    assert.equal(writtenSendTime(sent), parsed);
  });

  it('reads a histogram from a Prometheus exposition and bounds its percentiles by bucket', () => {
    const exposition = (counts: readonly number[]): string =>
      [
        '# HELP fanout_edge_delivery_latency_seconds Time from the Kafka record timestamp.',
        '# TYPE fanout_edge_delivery_latency_seconds histogram',
        ...['0.001', '0.01', '0.1', '+Inf'].map(
          (le, i) => `fanout_edge_delivery_latency_seconds_bucket{le="${le}"} ${counts[i] ?? 0}`,
        ),
        'fanout_edge_delivery_latency_seconds_sum 1.5',
        `fanout_edge_delivery_latency_seconds_count ${counts[3] ?? 0}`,
        'fanout_edge_other_bucket{le="0.001"} 99',
      ].join('\n');
    const before = histogramBuckets(
      exposition([5, 5, 5, 5]),
      'fanout_edge_delivery_latency_seconds',
    );
    assert.equal(before.get(0.001), 5);
    assert.equal(before.size, 4);
    // 1,000 more: 900 ≤ 1 ms, 95 ≤ 10 ms, 4 ≤ 100 ms, 1 above.
    const after = histogramBuckets(
      exposition([905, 1000, 1004, 1005]),
      'fanout_edge_delivery_latency_seconds',
    );
    const summary = bucketSummary(before, after);
    assert.equal(summary.count, 1000);
    assert.equal(summary.p50Ms, 1);
    assert.equal(summary.p99Ms, 10);
    assert.equal(summary.p999Ms, 100);
    assert.ok(Number.isNaN(bucketSummary(after, after).p99Ms), 'nothing observed');
  });

  it("reads the edge's event-loop delay gauges, and takes the worst edge's figures", () => {
    const exposition = (p50: number, p99: number, max: number): string =>
      [
        '# HELP fanout_nodejs_eventloop_lag_p50_seconds The 50th percentile of the recorded event loop delays.',
        '# TYPE fanout_nodejs_eventloop_lag_p50_seconds gauge',
        `fanout_nodejs_eventloop_lag_p50_seconds ${p50}`,
        `fanout_nodejs_eventloop_lag_p90_seconds 0.5`,
        `fanout_nodejs_eventloop_lag_p99_seconds ${p99}`,
        `fanout_nodejs_eventloop_lag_max_seconds{service="edge"} ${max}`,
        `fanout_nodejs_eventloop_lag_mean_seconds 0.9`,
      ].join('\n');
    // What prom-client reads is the whole interval between samples: 10 ms on an idle loop.
    const one = loopDelay(exposition(0.0101, 0.0235, 0.0761));
    assert.ok(one !== undefined);
    assert.ok(Math.abs(one.p50Ms - 0.1) < 1e-9);
    assert.ok(Math.abs(one.p99Ms - 13.5) < 1e-9);
    assert.ok(Math.abs(one.maxMs - 66.1) < 1e-9);
    assert.equal(
      loopDelay(exposition(0.0092, 0.0099, 0.01))?.p50Ms,
      0,
      'a timer early by a little',
    );
    assert.equal(
      loopDelay('fanout_edge_delivery_latency_seconds_count 5'),
      undefined,
      'not exposed',
    );
    assert.equal(loopDelay(exposition(0.01, 0.02, 0.03), 'other_'), undefined, 'another prefix');
    const worst = worstLoopDelay([
      { p50Ms: 10, p99Ms: 40, maxMs: 50 },
      undefined,
      { p50Ms: 12, p99Ms: 30, maxMs: 80 },
    ]);
    assert.deepEqual(worst, { p50Ms: 12, p99Ms: 40, maxMs: 80 });
    assert.equal(worstLoopDelay([undefined]), undefined);
  });
});
