/**
 * Ratios in the benchmark tables (fanout ÷ peer): within ±5 % of 1 a ratio
 * says "1.0× (same)" rather than a difference the run-to-run noise of a
 * shared machine makes up; otherwise two decimals (two significant digits
 * below 0.1). Each column says which direction is better.
 */

/** Within this share of 1 a ratio is "the same". */
export const sameWithin = 0.05;

export type Better = 'higher' | 'lower';

/** Within ±5 % of 1 (inclusive; 1.05 itself is not lost to rounding). */
const isSame = (value: number): boolean => Math.abs(value - 1) <= sameWithin + 1e-9;

/** `1.0× (same)`, `2.31×`, `0.012×`, or `–` when unknown. */
export function ratioWords(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return '–';
  if (isSame(value)) return '1.0× (same)';
  return `${value < 0.1 ? value.toPrecision(2) : value.toFixed(2)}×`;
}

/** The column's note: `higher is better` or `lower is better`. */
export function betterWords(better: Better): string {
  return `${better} is better`;
}

/** Whether fanout did better, worse or the same by a ratio fanout ÷ peer. */
export function ratioVerdict(value: number | undefined, better: Better): string {
  if (value === undefined || !Number.isFinite(value)) return 'unknown';
  if (isSame(value)) return 'same';
  return value > 1 === (better === 'higher') ? 'fanout better' : 'fanout worse';
}
