/**
 * The parts of a benchmark latency. The suite's topics are created with
 * `message.timestamp.type=LogAppendTime`: the broker stamps every batch
 * with the time it appended it and says so in its produce response
 * (kafkajs `RecordMetadata.logAppendTime`), and the edge reads that stamp as
 * the record timestamp. So each timed event (send time → arrival at a
 * sampled subscriber, the published figure, unchanged) splits into
 *
 *   send → append    the bench's producer (kafkajs batching, its event loop,
 *                    the request) and the broker's append;
 *   append → arrival the edge's fetch and fan-out, the network and the
 *                    client's own event loop;
 *
 * with send → acknowledged beside them (what the producer waits for), and
 * the edge's own histogram (`fanout_edge_delivery_latency_seconds`: record
 * timestamp → hand-over to uWebSockets, scraped before and after a phase)
 * cuts append → arrival into the edge's part and the rest.
 */
import { summarizeLatency, type LatencySummary } from './latency-sampling.js';

/** The broker's append time of events, looked up by their send time (the `t` they carry, ms). */
export class AppendTimes {
  #times = new Map<number, { appended: number; acknowledged: number }>();
  /** The most events kept (the oldest go first): phases that never reset stay bounded. */
  readonly #limit: number;

  constructor(limit = 1_000_000) {
    this.#limit = limit;
  }

  /** Events sent at `sentTimes` were appended at `appendedMs` and acknowledged at `acknowledgedMs`. */
  note(sentTimes: readonly number[], appendedMs: number, acknowledgedMs: number): void {
    if (!Number.isFinite(appendedMs) || appendedMs <= 0) return;
    for (const sent of sentTimes) {
      this.#times.set(sent, { appended: appendedMs, acknowledged: acknowledgedMs });
    }
    for (const oldest of this.#times.keys()) {
      if (this.#times.size <= this.#limit) break;
      this.#times.delete(oldest);
    }
  }

  get(sent: number): { appended: number; acknowledged: number } | undefined {
    return this.#times.get(sent);
  }

  get size(): number {
    return this.#times.size;
  }

  /** Forgets every event (between phases: the map holds one entry per event sent). */
  reset(): void {
    this.#times.clear();
  }
}

/** The send time as the events carry it (`"t":…` with three decimals) and as clients parse it. */
export function writtenSendTime(ms: number): number {
  return Number(ms.toFixed(3));
}

export interface LatencySplit {
  /** Send → the broker's append (producer + broker). */
  readonly toAppend: LatencySummary;
  /** Append → arrival at the sampled subscriber (edge + network + client). */
  readonly appendToArrival: LatencySummary;
  /** Send → the producer's acknowledgement. */
  readonly toAcknowledged: LatencySummary;
  /**
   * Per event, its first arrival at any sampled subscriber (send → first):
   * what every subscriber waits at least, the edge's write of the first
   * frame and the client process noticing it included.
   */
  readonly firstArrival: LatencySummary;
  /**
   * Each timed arrival behind its event's first arrival: the time the
   * edge's writes to, and the client's reads from, the other sockets took —
   * one event loop reading one frame per socket, so mostly the client's.
   */
  readonly behindFirst: LatencySummary;
  /** Timed events whose append time is not known (not split). */
  readonly unmatched: number;
}

/** Splits timed events (`LatencyRecorder.takeTimed()`) at their append times. */
export function splitLatency(
  timed: { readonly latencies: readonly number[]; readonly sent: readonly number[] },
  appends: AppendTimes,
  sampledSubscribers: number,
): LatencySplit {
  const toAppend: number[] = [];
  const appendToArrival: number[] = [];
  const toAcknowledged: number[] = [];
  let unmatched = 0;
  const first = new Map<number, number>();
  timed.sent.forEach((sent, i) => {
    const latency = timed.latencies[i];
    if (latency !== undefined) first.set(sent, Math.min(first.get(sent) ?? latency, latency));
  });
  const behindFirst: number[] = [];
  timed.sent.forEach((sent, i) => {
    const latency = timed.latencies[i];
    const earliest = first.get(sent);
    if (latency !== undefined && earliest !== undefined) behindFirst.push(latency - earliest);
  });
  timed.sent.forEach((sent, i) => {
    const found = appends.get(sent);
    const latency = timed.latencies[i];
    if (found === undefined || latency === undefined) {
      unmatched++;
      return;
    }
    toAppend.push(found.appended - sent);
    appendToArrival.push(sent + latency - found.appended);
    toAcknowledged.push(found.acknowledged - sent);
  });
  return {
    toAppend: summarizeLatency(toAppend, sampledSubscribers),
    appendToArrival: summarizeLatency(appendToArrival, sampledSubscribers),
    toAcknowledged: summarizeLatency(toAcknowledged, sampledSubscribers),
    firstArrival: summarizeLatency([...first.values()], sampledSubscribers),
    behindFirst: summarizeLatency(behindFirst, sampledSubscribers),
    unmatched,
  };
}

/** Cumulative bucket counts of one Prometheus histogram (`le` in seconds → count). */
export type HistogramBuckets = ReadonlyMap<number, number>;

/** The `_bucket` lines of histogram `name` in a Prometheus text exposition. */
export function histogramBuckets(exposition: string, name: string): HistogramBuckets {
  const buckets = new Map<number, number>();
  const line = new RegExp(`^${name}_bucket\\{(?:[^}]*,)?le="([^"]+)"[^}]*\\} (\\S+)`);
  for (const text of exposition.split('\n')) {
    const match = line.exec(text);
    if (match?.[1] === undefined || match[2] === undefined) continue;
    const le = match[1] === '+Inf' ? Number.POSITIVE_INFINITY : Number(match[1]);
    buckets.set(le, (buckets.get(le) ?? 0) + Number(match[2]));
  }
  return buckets;
}

/** What a histogram observed between two scrapes, and its percentiles as bucket bounds. */
export interface BucketSummary {
  readonly count: number;
  /** Upper bound (ms) of the bucket holding the percentile: "≤ this"; Infinity past the last. */
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
}

export function bucketSummary(before: HistogramBuckets, after: HistogramBuckets): BucketSummary {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const counts = bounds.map((le) => (after.get(le) ?? 0) - (before.get(le) ?? 0));
  const count = counts.at(-1) ?? 0;
  const bound = (p: number): number => {
    if (count === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil((p * count) / 100 - 1e-9));
    const index = counts.findIndex((c) => c >= rank);
    return index < 0 ? Number.NaN : (bounds[index] ?? Number.NaN) * 1000;
  };
  return { count, p50Ms: bound(50), p99Ms: bound(99), p999Ms: bound(99.9) };
}

/**
 * An edge's event-loop delay over a phase: prom-client's
 * `nodejs_eventloop_lag_*` gauges, which read `monitorEventLoopDelay`
 * (sampled every 10 ms, the interval taken off) and reset it at every
 * scrape, so a scrape at the phase's start and one at its end give the
 * phase's own figures. A busy
 * loop delays every socket write and every fetch behind it: this is the
 * part of append → uWS hand-over the edge spends waiting for itself.
 */
export interface LoopDelay {
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

/**
 * The sampling interval of prom-client's event-loop monitor (its default
 * `eventLoopMonitoringPrecision`): `monitorEventLoopDelay` records each
 * whole interval between its timer's runs, so an idle loop reads ≈ 10 ms.
 */
export const loopSamplingMs = 10;

/**
 * The event-loop delay gauges (`<prefix>nodejs_eventloop_lag_{p50,p99,max}_seconds`)
 * in an exposition, as the delay beyond the sampling interval (an idle loop: ≈ 0).
 */
export function loopDelay(exposition: string, prefix = 'fanout_'): LoopDelay | undefined {
  const gauge = (name: string): number | undefined => {
    const found = new RegExp(
      `^${prefix}nodejs_eventloop_lag_${name}_seconds(?:\\{[^}]*\\})? (\\S+)`,
      'm',
    ).exec(exposition)?.[1];
    return found === undefined ? undefined : Math.max(0, Number(found) * 1000 - loopSamplingMs);
  };
  const p50Ms = gauge('p50');
  const p99Ms = gauge('p99');
  const maxMs = gauge('max');
  return p50Ms === undefined || p99Ms === undefined || maxMs === undefined
    ? undefined
    : { p50Ms, p99Ms, maxMs };
}

/** The worst of several edges' delays, figure by figure. */
export function worstLoopDelay(delays: readonly (LoopDelay | undefined)[]): LoopDelay | undefined {
  const known = delays.filter((d): d is LoopDelay => d !== undefined);
  if (known.length === 0) return undefined;
  return {
    p50Ms: Math.max(...known.map((d) => d.p50Ms)),
    p99Ms: Math.max(...known.map((d) => d.p99Ms)),
    maxMs: Math.max(...known.map((d) => d.maxMs)),
  };
}

/** The edge's own view of a phase: its delivery histogram and its event loop's delay. */
export interface EdgePhase {
  /** `fanout_edge_delivery_latency_seconds` (record timestamp → uWS hand-over), every edge's. */
  readonly delivery: BucketSummary;
  /** The worst edge's event-loop delay over the phase; undefined when not exposed. */
  readonly loopDelay?: LoopDelay;
}
