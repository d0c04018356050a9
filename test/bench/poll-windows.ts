/**
 * Requests per poll interval, counted at the upstream: the times of the
 * requests for one resource cut into windows of one interval. The windows
 * start half an interval before the first request measured, so a poller
 * whose period is the interval plus a few milliseconds of poll time puts
 * each request in the middle of its own window for many intervals (drift
 * of half an interval is needed before one lands on a boundary).
 */

export interface PollWindows {
  /** Requests in each window, in order. */
  readonly counts: readonly number[];
  /** How many windows had 0, 1, 2, … requests (index = requests). */
  readonly histogram: readonly number[];
  readonly requests: number;
  readonly windows: number;
  /** Fewest and most requests in one window. */
  readonly min: number;
  readonly max: number;
  /** Time between consecutive requests: smallest, median and largest (ms). */
  readonly gapMinMs: number;
  readonly gapMedianMs: number;
  readonly gapMaxMs: number;
}

/**
 * Counts the requests at `times` (ms, any clock) from `from` to `to` in
 * windows of `intervalMs`. Only whole windows are counted.
 */
export function pollWindows(
  times: readonly number[],
  intervalMs: number,
  from: number,
  to: number,
): PollWindows {
  if (!(intervalMs > 0)) throw new RangeError('intervalMs must be positive');
  const inRange = times.filter((time) => time >= from && time < to).sort((a, b) => a - b);
  const first = inRange[0];
  const start = first === undefined ? from : Math.max(from, first - intervalMs / 2);
  const windows = Math.max(0, Math.floor((to - start) / intervalMs));
  const counts = new Array<number>(windows).fill(0);
  let requests = 0;
  for (const time of inRange) {
    const index = Math.floor((time - start) / intervalMs);
    if (index >= 0 && index < windows) {
      counts[index] = (counts[index] ?? 0) + 1;
      requests++;
    }
  }
  const histogram: number[] = [];
  for (const count of counts) histogram[count] = (histogram[count] ?? 0) + 1;
  for (let i = 0; i < histogram.length; i++) histogram[i] ??= 0;
  const gaps = inRange
    .slice(1)
    .map((time, index) => time - (inRange[index] ?? time))
    .sort((a, b) => a - b);
  return {
    counts,
    histogram,
    requests,
    windows,
    min: counts.length === 0 ? 0 : Math.min(...counts),
    max: counts.length === 0 ? 0 : Math.max(...counts),
    gapMinMs: gaps[0] ?? Number.NaN,
    gapMedianMs: gaps[Math.floor((gaps.length - 1) / 2)] ?? Number.NaN,
    gapMaxMs: gaps.at(-1) ?? Number.NaN,
  };
}
