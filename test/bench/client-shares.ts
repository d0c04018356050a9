/**
 * How the suite's steady scenarios (broadcast, channels) spread their
 * subscribers over several client processes (`bench-client-process.ts`),
 * and how the processes' figures add up again. Subscriber `i` (its global
 * index: channel `i % channels`, source address `i % 4`) lives in process
 * `i % processes`, so every prefix of the population (broadcast 1,000 of
 * 10,000) is spread evenly too; the timed sample is still picked over the
 * whole population by `sampledIndices`, each process timing the sampled
 * subscribers it holds. Latencies come back raw (with their send times,
 * which the split at the broker's append looks up): percentiles are over
 * every timed event of every process, not an average of per-process ones.
 */

/** The client process holding subscriber `index`. */
export function processOf(index: number, processes: number): number {
  return index % Math.max(1, processes);
}

/** The global indices of process `process`'s subscribers, ascending. */
export function shareOf(process: number, population: number, processes: number): number[] {
  const step = Math.max(1, processes);
  const share: number[] = [];
  for (let i = process; i < population; i += step) share.push(i);
  return share;
}

/** `indices` (e.g. the sampled subscribers) split by the process holding each. */
export function splitByProcess(indices: readonly number[], processes: number): number[][] {
  const split = Array.from({ length: Math.max(1, processes) }, (): number[] => []);
  for (const index of indices) split[processOf(index, processes)]?.push(index);
  return split;
}

/** Timed events of one process: latency (ms) and send time of each, same index. */
export interface TimedSamples {
  readonly latencies: readonly number[];
  readonly sent: readonly number[];
}

/** The timed events of every process as one population (`splitLatency`'s input). */
export function mergeTimed(parts: readonly TimedSamples[]): {
  latencies: number[];
  sent: number[];
} {
  const latencies: number[] = [];
  const sent: number[] = [];
  for (const part of parts) {
    if (part.latencies.length !== part.sent.length) {
      throw new Error(
        `timed samples out of step: ${part.latencies.length} latencies, ${part.sent.length} send times`,
      );
    }
    for (let i = 0; i < part.latencies.length; i++) {
      latencies.push(part.latencies[i] ?? Number.NaN);
      sent.push(part.sent[i] ?? Number.NaN);
    }
  }
  return { latencies, sent };
}

/** How many client processes: FANOUT_BENCH_CLIENT_PROCESSES when set (≥ 1), else `fallback`. */
export function clientProcessCount(setting: string | undefined, fallback: number): number {
  if (setting === undefined || setting.trim() === '') return fallback;
  const value = Number(setting);
  if (!Number.isInteger(value) || value < 1 || value > 64) {
    throw new Error(`FANOUT_BENCH_CLIENT_PROCESSES must be a whole number 1–64, not ${setting}`);
  }
  return value;
}
