/**
 * Latency of the benchmarks, timed on a sample of the ordinary subscribers
 * they measure: every k-th of them (1 in 10, at least 100 when there are
 * that many), picked spread over the whole population — so over every
 * client process, source address and channel — hands each frame it
 * receives to a `LatencyRecorder`, which decodes the send times the events
 * carry (`sendTimes`: plain and batch frames of both fanout subprotocol
 * families, Centrifugo's frames, the naive baseline's) and keeps arrival
 * minus send time. The sampled subscribers are ordinary in every other
 * respect: same process, same connection handling, counted like the rest.
 * Used by the side-by-side suite (`run-benchmarks.ts`), the edge benchmark
 * (`edge-fanout.bench.ts`) and, for `percentile`, the state benchmark.
 */
import { sendTimes } from './bench-client.js';

/** Percentile `p` (0–100) of already sorted values; NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/** How many of `population` subscribers to sample: 1 in `every`, at least `atLeast` (all when fewer). */
export function sampleSize(population: number, every = 10, atLeast = 100): number {
  if (population <= 0) return 0;
  return Math.min(population, Math.max(Math.ceil(population / every), atLeast));
}

/** A 32-bit integer mix (murmur3's finaliser): neighbouring indices land far apart. */
function mix(value: number): number {
  let h = value | 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * The indices (0 ≤ i < population) of the `size` sampled subscribers:
 * picked by a hash of the index rather than every k-th index, so a sample
 * is spread over every residue the population is laid out by (source
 * address `i % 4`, channel `i % channels`, client process), not only
 * over those a stride happens to hit. Deterministic; sorted.
 */
export function sampledIndices(population: number, size: number): number[] {
  return Array.from({ length: population }, (_, i) => i)
    .sort((a, b) => mix(a) - mix(b) || a - b)
    .slice(0, Math.max(0, Math.min(size, population)))
    .sort((a, b) => a - b);
}

/** p50 / p99 / p99.9 / max of latencies (ms) and how many there were. */
export interface LatencySummary {
  /** Latencies recorded (events received by the sampled subscribers). */
  readonly count: number;
  /** Subscribers whose events were timed. */
  readonly sampledSubscribers: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
}

export function summarizeLatency(
  latencies: readonly number[],
  sampledSubscribers: number,
): LatencySummary {
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    count: sorted.length,
    sampledSubscribers,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    p999Ms: percentile(sorted, 99.9),
    maxMs: sorted.at(-1) ?? Number.NaN,
  };
}

/** Wall-clock milliseconds, the clock the events' send times are written in. */
export const wallClockMs = (): number => performance.timeOrigin + performance.now();

/** Arrival minus send time of every event the sampled subscribers receive. */
export class LatencyRecorder {
  #latencies: number[] = [];
  /** The send time of each latency (same index): what `latency-split.ts` looks the append time up by. */
  #sent: number[] = [];

  /** A sampled subscriber's frame handler (`BenchClient.sample`). */
  readonly record = (payload: Buffer): void => {
    const now = wallClockMs();
    for (const sent of sendTimes(payload)) this.add(sent, now);
  };

  /** One event sent at `sent` that arrived at `arrived` (wall-clock ms). */
  add(sent: number, arrived: number): void {
    this.#latencies.push(arrived - sent);
    this.#sent.push(sent);
  }

  /** Forgets what was recorded so far. */
  reset(): void {
    this.#latencies = [];
    this.#sent = [];
  }

  /** The latencies (ms) since the last reset or take. */
  take(): number[] {
    return this.takeTimed().latencies;
  }

  /** The latencies (ms) since the last reset or take, with the send time of each (same index). */
  takeTimed(): { latencies: number[]; sent: number[] } {
    const taken = { latencies: this.#latencies, sent: this.#sent };
    this.#latencies = [];
    this.#sent = [];
    return taken;
  }
}

/** Ignores a frame: what a subscriber no longer sampled hands its frames to. */
export const ignoreFrame = (): void => undefined;
