/**
 * Helpers of the reconnect-storm benchmarks (the suite's `storm` scenario and
 * `edge-restart.bench.ts`): how the clients' handshakes are paced, the
 * kernel's listen-queue counters, and a per-500 ms timeline of the clients.
 */
import { readFileSync } from 'node:fs';

/**
 * Handshakes in flight at once by default. uWebSockets.js listens with a
 * backlog of 512: more connections than that waiting for the edge to accept
 * them overflow the queue, and the kernel drops their handshakes, which the
 * client's TCP sends again only after 1 s (then 3 s, 7 s after the first).
 */
export const defaultHandshakeWindow = 500;

/**
 * Runs `run` for every item with at most `window` of them in flight, each
 * started as soon as one before it ends (no wave waits for its slowest
 * member, as independent clients do not wait for each other).
 */
export async function inWindow<T>(
  items: readonly T[],
  window: number,
  run: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      await run(items[index] as T, index);
    }
  };
  await Promise.all(
    Array.from({ length: Math.max(1, Math.min(window, items.length)) }, () => lane()),
  );
}

/** The machine's TCP listen-queue counters (Linux `/proc/net/netstat`); undefined elsewhere. */
export interface ListenCounters {
  /** Connections the kernel dropped because a listen queue was full. */
  readonly listenOverflows: number;
  /** SYNs sent again (a dropped handshake retried by the client's kernel). */
  readonly synRetransmits: number;
}

export function listenCounters(): ListenCounters | undefined {
  let text: string;
  try {
    text = readFileSync('/proc/net/netstat', 'utf8');
  } catch {
    return undefined;
  }
  const lines = text.split('\n').filter((line) => line.startsWith('TcpExt:'));
  const names = lines[0]?.split(/\s+/) ?? [];
  const values = lines[1]?.split(/\s+/) ?? [];
  const value = (name: string): number => Number(values[names.indexOf(name)] ?? Number.NaN);
  return {
    listenOverflows: value('ListenOverflows'),
    synRetransmits: value('TCPSynRetrans'),
  };
}

/** What happened to the counters since `before` (machine-wide: other processes count too). */
export function listenCountersSince(before: ListenCounters | undefined): string {
  const now = listenCounters();
  if (before === undefined || now === undefined) return 'listen counters unavailable';
  return `${now.listenOverflows - before.listenOverflows} listen-queue overflows, ${now.synRetransmits - before.synRetransmits} SYN retransmits (machine-wide)`;
}

/**
 * Cumulative counts per 500 ms after `from` (ms, same clock as `times`),
 * one line per step; NaN times are never counted.
 */
export function timelineOf(
  from: number,
  spanMs: number,
  steps: readonly (readonly [string, readonly number[]])[],
): string[] {
  const buckets = Math.max(1, Math.ceil(spanMs / 500));
  return steps.map(([name, times]) => {
    const counts = Array.from(
      { length: buckets },
      (_, i) => times.filter((t) => t - from <= (i + 1) * 500).length,
    );
    return `${name}: ${counts.join(' ')}`;
  });
}

/**
 * When one client's reconnect reached each step, on the caller's clock
 * (`Date.now` or `performance.now`): its first handshake sent, answered
 * (`subscribed`), caught up (it received the last event of its channel
 * published before the restart) and live (it received one published after).
 */
export class ReconnectTimes {
  /** The last sequence of its channel published before the restart, and the first after. */
  caughtUpFrom = Number.POSITIVE_INFINITY;
  liveFrom = Number.POSITIVE_INFINITY;
  startedAt = Number.NaN;
  answeredAt = Number.NaN;
  liveAt = Number.NaN;
  #caughtUpAt = Number.NaN;

  constructor(private readonly clock: () => number) {}

  /** The restart is done: `next` is the first sequence of the channel published after it. */
  expect(next: number): void {
    this.caughtUpFrom = next - 1;
    this.liveFrom = next;
  }

  started(): void {
    this.startedAt = this.clock();
  }

  answered(): void {
    this.answeredAt = this.clock();
  }

  /** The highest sequence the client received is now `highest`. */
  received(highest: number, now = Number.NaN): void {
    const caughtUp = Number.isNaN(this.#caughtUpAt) && highest >= this.caughtUpFrom;
    const live = Number.isNaN(this.liveAt) && highest >= this.liveFrom;
    if (!caughtUp && !live) return;
    const at = Number.isNaN(now) ? this.clock() : now;
    if (caughtUp) this.#caughtUpAt = at;
    if (live) this.liveAt = at;
  }

  /** When it was caught up; a client that had every event before the restart, when it was answered. */
  caughtUpAt(highest: number): number {
    return highest >= this.caughtUpFrom && Number.isNaN(this.#caughtUpAt)
      ? this.answeredAt
      : this.#caughtUpAt;
  }
}

/** The storm's timeline of its clients (`timelineOf`): started, answered, caught up, live. */
export function reconnectTimeline(
  from: number,
  spanMs: number,
  clients: readonly { readonly times: ReconnectTimes; readonly highest: number }[],
): string[] {
  return timelineOf(from, spanMs, [
    ['started', clients.map((c) => c.times.startedAt)],
    ['answered', clients.map((c) => c.times.answeredAt)],
    ['caught up', clients.map((c) => c.times.caughtUpAt(c.highest))],
    ['live', clients.map((c) => c.times.liveAt)],
  ]);
}
