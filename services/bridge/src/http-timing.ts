/**
 * What an upstream says about when to ask again: Cache-Control freshness
 * and Retry-After.
 */

const maxSeconds = 10 * 365 * 24 * 3600;

/**
 * How long an answer stays fresh by its Cache-Control, in milliseconds:
 * `s-maxage` (the bridge is a shared cache of the upstream) else `max-age`;
 * undefined when neither is given, or the answer is `no-store`/`no-cache`
 * (which ask not to reuse it, not to poll less).
 */
export function cacheMaxAgeMs(cacheControl: string | undefined): number | undefined {
  if (cacheControl === undefined) return undefined;
  // An upstream sends the same Cache-Control on every answer: read it once.
  if (cacheControl === lastCacheControl.text) return lastCacheControl.maxAgeMs;
  const maxAgeMs = readCacheControl(cacheControl);
  lastCacheControl = { text: cacheControl, maxAgeMs };
  return maxAgeMs;
}

/** The last Cache-Control read and its freshness. */
let lastCacheControl: { readonly text: string | undefined; readonly maxAgeMs: number | undefined } =
  { text: undefined, maxAgeMs: undefined };

function readCacheControl(cacheControl: string): number | undefined {
  const directives = new Map<string, string | undefined>();
  for (const part of cacheControl.split(',')) {
    const [rawName = '', ...rest] = part.split('=');
    const name = rawName.trim().toLowerCase();
    if (name === '' || directives.has(name)) continue;
    const value =
      rest.length === 0
        ? undefined
        : rest
            .join('=')
            .trim()
            .replace(/^"(.*)"$/, '$1');
    directives.set(name, value);
  }
  if (directives.has('no-store') || directives.has('no-cache')) return undefined;
  for (const name of ['s-maxage', 'max-age']) {
    const value = directives.get(name);
    if (value !== undefined && /^[0-9]{1,12}$/.test(value)) {
      return Math.min(Number(value), maxSeconds) * 1000;
    }
  }
  return undefined;
}

/**
 * The delay a Retry-After asks for, in milliseconds from `nowMs`: delay
 * seconds (`120`) or an HTTP date (`Wed, 21 Oct 2015 07:28:00 GMT`; a date
 * in the past is 0). Undefined when absent or not readable.
 */
export function retryAfterMs(retryAfter: string | undefined, nowMs: number): number | undefined {
  if (retryAfter === undefined) return undefined;
  const text = retryAfter.trim();
  if (/^[0-9]{1,12}$/.test(text)) return Math.min(Number(text), maxSeconds) * 1000;
  if (!/^[A-Za-z]{3}, [0-9]{2} [A-Za-z]{3} [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT$/.test(text)) {
    return undefined;
  }
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.min(Math.max(0, at - nowMs), maxSeconds * 1000);
}

/**
 * Full-jitter exponential backoff: after the n-th failure in a row
 * (n ≥ 1), a random delay in [0, min(capMs, baseMs × 2^(n-1))).
 */
export function backoffDelayMs(
  failures: number,
  baseMs: number,
  capMs: number,
  random: () => number,
): number {
  const exponent = Math.min(Math.max(failures, 1) - 1, 52);
  const ceiling = Math.min(capMs, baseMs * 2 ** exponent);
  return Math.floor(random() * ceiling);
}
