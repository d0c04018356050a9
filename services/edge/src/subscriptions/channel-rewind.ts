/**
 * Where a fresh subscription of a channel starts so that it is given the
 * channel's last N events first (`rewind=N`): the position just before the
 * channel's N-th last event, found by reading its partition backwards from
 * the read head in bounded chunks through the hub's ring and cold reads
 * (`ChannelHub.readChannel`). The head is first brought up to the high
 * watermark the partition had when the rewind was asked for
 * (read-your-writes). The subscription then starts with `since` at that
 * position, so the hub's catch-up → live seam gives those events and then
 * every later one, without a gap or a duplicate.
 *
 * The scan stops at the start of the log and after `maxScan` records: a
 * sparse channel in a busy partition never makes one request read the whole
 * partition. When it stops before finding N events, the subscription starts
 * at the oldest record scanned (`truncated` says the bound was hit; else
 * the log holds fewer events of the channel). With event types, only events
 * of those types count.
 *
 * Several channels rewound in one stream share the stream's cursor: its
 * partition starts at the lowest of their positions, and `RewindFilter`
 * drops what is older than each channel's own start.
 */
import {
  FanoutError,
  formatPositionOf,
  partitionForChannel,
  type FanoutConfig,
} from '@fanout/shared';
import type { EdgeEvent } from '../log/edge-event.js';
import { kafkaUnavailable } from '../log/kafka-wait.js';
import type { PartitionReader } from '../log/partition-reader.js';
import type { ChannelHub } from './channel-hub.js';

/** Records read from Kafka or the ring per step of the backwards scan. */
const chunkRecords = 2000;

export interface RewindRequest {
  readonly channel: string;
  /** How many of the channel's last events to give first. */
  readonly count: number;
  /** Only these event types count (and are delivered); empty or absent: all. */
  readonly types?: readonly string[];
}

/** Where a rewound channel starts, and what the scan found. */
export interface RewindStart {
  readonly channel: string;
  readonly epoch: string;
  readonly partition: number;
  /** Start after this offset (the position before the first event to give). */
  readonly after: number;
  /** `<epoch>:<partition>:<after>`. */
  readonly position: string;
  /** The read head the scan started below: events from it on are live ones. */
  readonly head: number;
  /** The rewind asked for. */
  readonly requested: number;
  /** Events of the channel (and types) the scan found, at most `requested`. */
  readonly found: number;
  /** The scan stopped at `edge.maxRewindScan` records before it found `requested` events. */
  readonly truncated: boolean;
}

export interface RewindOptions {
  readonly hub: ChannelHub;
  readonly reader: PartitionReader;
  readonly config: Pick<FanoutConfig['edge'], 'maxRewind' | 'maxRewindScan' | 'kafkaWaitMs'>;
}

/**
 * `rewind` of a query: absent is undefined; anything but decimal digits
 * (a sign, a fraction, an exponent, hex, spaces) or beyond `edge.maxRewind`
 * is `invalid_argument`.
 */
export function parseRewind(text: string | null, maxRewind: number): number | undefined {
  if (text === null || text === '') return undefined;
  const value = /^[0-9]{1,16}$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value) || value > maxRewind) {
    throw new FanoutError(
      'invalid_argument',
      `rewind must be an integer from 0 to ${maxRewind} (edge.maxRewind)`,
      { details: { field: 'rewind', limit: maxRewind } },
    );
  }
  return value;
}

/**
 * The position before the channel's `count`-th last event (see the module
 * comment). The partition is held for the scan and released after it.
 */
export async function rewindStart(
  options: RewindOptions,
  request: RewindRequest,
): Promise<RewindStart> {
  const { hub, reader, config } = options;
  if (request.count > config.maxRewind) {
    throw new FanoutError(
      'invalid_argument',
      `rewind must be at most ${config.maxRewind} (edge.maxRewind)`,
      { details: { field: 'rewind', limit: config.maxRewind } },
    );
  }
  const deadline = Date.now() + config.kafkaWaitMs;
  const layout = await hub.layout(config.kafkaWaitMs);
  const partition = partitionForChannel(request.channel, layout.partitions);
  const tail = await reader.acquire(partition, Math.max(1, deadline - Date.now()));
  try {
    // Read-your-writes: the head reaches the high watermark as it is now.
    const offsets = await hub.latestOffsets(partition, deadline - Date.now());
    while (tail.head < offsets.highWatermark) {
      const left = deadline - Date.now();
      if (left <= 0) {
        throw kafkaUnavailable(
          `the rewind of ${request.channel}: partition ${partition} read up to offset ${tail.head - 1}, not yet ${offsets.highWatermark - 1}`,
          config.kafkaWaitMs,
        );
      }
      await hub.headMoved(partition, Math.min(left, 250));
    }
    const head = tail.head;
    const types =
      request.types !== undefined && request.types.length > 0 ? new Set(request.types) : undefined;
    const counts = (event: EdgeEvent): boolean => types === undefined || types.has(event.type);
    const floor = Math.max(0, head - config.maxRewindScan);
    let logStart = Math.max(0, offsets.logStartOffset, tail.logStartOffset);
    /** Offsets of the events found, newest chunk first, each chunk ascending. */
    const found: number[][] = [];
    let total = 0;
    let high = head;
    let low = head;
    for (let rounds = 0; rounds < 100_000 && total < request.count; rounds++) {
      const bottom = Math.max(floor, logStart);
      if (high <= bottom) break;
      low = Math.max(bottom, high - chunkRecords);
      const read = await hub.readChannel(
        partition,
        request.channel,
        low - 1,
        Number.MAX_SAFE_INTEGER,
        high - 1,
      );
      if (read === 'too_old') {
        // Retention moved the log's start meanwhile: scan on from the new one.
        logStart = Math.max(
          logStart + 1,
          (await hub.latestOffsets(partition, Math.max(1, deadline - Date.now()))).logStartOffset,
        );
        low = high;
        continue;
      }
      const chunk = read.events.filter(counts).map((event) => event.offset);
      found.push(chunk);
      total += chunk.length;
      high = low;
    }
    let after = low - 1;
    if (total >= request.count && request.count > 0) {
      // The count-th last event is in the oldest chunk read.
      const oldest = found[found.length - 1] ?? [];
      const index = oldest.length - (request.count - (total - oldest.length));
      after = (oldest[index] ?? low) - 1;
    } else if (request.count === 0) {
      after = head - 1;
    }
    const given = Math.min(total, request.count);
    return {
      channel: request.channel,
      epoch: layout.epoch,
      partition,
      after,
      position: formatPositionOf(layout.epoch, partition, after),
      head,
      requested: request.count,
      found: given,
      truncated: given < request.count && low <= floor && floor > logStart,
    };
  } finally {
    reader.release(partition);
  }
}

/** What a rewind says about itself in an answer or a stream's first event. */
export function rewindSummary(start: RewindStart): {
  channel: string;
  requested: number;
  found: number;
  truncated: boolean;
} {
  return {
    channel: start.channel,
    requested: start.requested,
    found: start.found,
    truncated: start.truncated,
  };
}

/**
 * The stream cursor a subscription of rewound channels starts from: per
 * partition the lowest start of its channels.
 */
export function rewindCursor(starts: readonly RewindStart[]): {
  epoch: string;
  offsets: Map<number, number>;
} {
  const offsets = new Map<number, number>();
  for (const start of starts) {
    const current = offsets.get(start.partition);
    offsets.set(
      start.partition,
      current === undefined ? start.after : Math.min(current, start.after),
    );
  }
  return { epoch: starts[0]?.epoch ?? '', offsets };
}

/**
 * Drops, from a subscription started at `rewindCursor`, the events older
 * than what each rewound channel asked for: a channel's events at or before
 * its own start, and the other matches (patterns) from before the request.
 */
export class RewindFilter {
  /** By channel: its start. */
  readonly #after = new Map<string, number>();
  /** By partition: events at or below it are history (not live). */
  readonly #history = new Map<number, number>();

  constructor(starts: readonly RewindStart[]) {
    for (const start of starts) {
      this.#after.set(start.channel, start.after);
      const current = this.#history.get(start.partition);
      this.#history.set(
        start.partition,
        current === undefined ? start.head - 1 : Math.min(current, start.head - 1),
      );
    }
  }

  /** Whether the subscription gives `event` to the client. */
  admits(event: EdgeEvent): boolean {
    const after = this.#after.get(event.channel);
    if (after !== undefined) return event.offset > after;
    const history = this.#history.get(event.partition);
    return history === undefined || event.offset > history;
  }
}
