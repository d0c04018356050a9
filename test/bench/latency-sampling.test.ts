/**
 * The latency sample of the benchmarks: how many subscribers, which ones
 * (spread over source addresses and channels), and what a sampled
 * subscriber records from the frames of each protocol.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  LatencyRecorder,
  percentile,
  sampledIndices,
  sampleSize,
  summarizeLatency,
} from './latency-sampling.js';

describe('latency sample', () => {
  it('takes 1 in 10, at least 100, all of a smaller population', () => {
    assert.equal(sampleSize(10_000), 1000);
    assert.equal(sampleSize(5000), 500);
    assert.equal(sampleSize(1000), 100);
    assert.equal(sampleSize(300), 100);
    assert.equal(sampleSize(40), 40);
    assert.equal(sampleSize(0), 0);
    assert.equal(sampleSize(10_001), 1001);
  });

  it('picks distinct indices of the population, as many as asked, sorted', () => {
    const picked = sampledIndices(10_000, 1000);
    assert.equal(picked.length, 1000);
    assert.equal(new Set(picked).size, 1000);
    assert.ok(picked.every((i) => Number.isInteger(i) && i >= 0 && i < 10_000));
    assert.deepEqual(
      picked,
      [...picked].sort((a, b) => a - b),
    );
    assert.deepEqual(sampledIndices(50, 100).length, 50);
    assert.deepEqual(sampledIndices(10_000, 1000), picked, 'deterministic');
  });

  it('spreads the sample over every source address and most channels', () => {
    const picked = sampledIndices(10_000, 1000);
    // Clients use source address i % 4: a stride of 10 would hit only two of them.
    const perAddress = [0, 1, 2, 3].map((a) => picked.filter((i) => i % 4 === a).length);
    for (const count of perAddress) assert.ok(count > 150, `per address: ${perAddress.join(',')}`);
    // 1,000 channels × 10 subscribers (channel i % 1000): a stride would hit 100 channels.
    const channels = new Set(picked.map((i) => i % 1000));
    assert.ok(channels.size > 500, `${channels.size} channels`);
    // 100 channels × 100 subscribers: every channel.
    assert.equal(new Set(picked.map((i) => i % 100)).size, 100);
  });

  it('records arrival minus the send times of plain and batch frames of every protocol', () => {
    const recorder = new LatencyRecorder();
    const now = performance.timeOrigin + performance.now();
    const sent = (ms: number): string => (now - ms).toFixed(3);
    const frames = [
      // fanout.json.v1 (and the naive baseline): one event.
      `{"event":{"channel":"a","data":{"t":${sent(5)},"s":1,"p":"xx"},"position":"1:0:5"}}`,
      // fanout.json.v2: a batch frame of two events.
      `{"batch":{"events":[{"channel":"a","data":{"t":${sent(6)},"s":2},"position":"1:0:6"},{"channel":"a","data":{"t":${sent(7)},"s":3},"position":"1:0:7"}]}}`,
      // Centrifugo: two messages in one frame, a ping between.
      `{"push":{"channel":"a","pub":{"data":{"t":${sent(8)},"s":4},"offset":4}}}\n{}\n{"push":{"channel":"a","pub":{"data":{"t":${sent(9)},"s":5},"offset":5}}}`,
    ];
    for (const frame of frames) recorder.record(Buffer.from(frame));
    // fanout.proto.v1: the data's JSON bytes inside a protobuf frame.
    const data = Buffer.from(`{"t":${sent(10)},"s":6}`);
    recorder.record(
      Buffer.concat([
        Buffer.from([0x0a, 0x40, 0x12, data.length]),
        data,
        Buffer.from([0x1a, 0x02, 0x31, 0x32]),
      ]),
    );
    const latencies = recorder.take();
    assert.equal(latencies.length, 6);
    latencies.forEach((latency, i) => {
      assert.ok(latency >= 5 + i && latency < 5 + i + 1000, `latency ${i}: ${latency}`);
    });
    assert.deepEqual(recorder.take(), [], 'take empties it');
  });

  it('summarizes p50, p99, p99.9, max and the sample size', () => {
    const latencies = Array.from({ length: 1000 }, (_, i) => 1000 - i);
    const summary = summarizeLatency(latencies, 100);
    assert.equal(summary.count, 1000);
    assert.equal(summary.sampledSubscribers, 100);
    assert.equal(summary.p50Ms, 501);
    assert.equal(summary.p99Ms, 991);
    assert.equal(summary.p999Ms, 1000);
    assert.equal(summary.maxMs, 1000);
    assert.ok(Number.isNaN(summarizeLatency([], 0).p99Ms));
    assert.ok(Number.isNaN(percentile([], 50)));
  });
});
