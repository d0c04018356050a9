/**
 * The hub joins partition reads to subscriptions.
 *
 * Catch-up then live, without a gap or a duplicate at the seam: a
 * subscription resuming from an offset is first given what it missed — from
 * the partition's ring when the ring still holds it (hot), else by fetching
 * from Kafka on a connection of its own (cold, so live reads never wait for
 * it). Events that arrive meanwhile land in the ring; when the cursor reaches
 * the ring, the rest is delivered from it and the subscription turns live in
 * the same synchronous step, so every later event reaches it exactly once.
 *
 * Live delivery is encoded once per (event, format). A subscriber that
 * describes a topic (WebSocket) joins a uWS topic once every partition of
 * the subscription is live, and the hub publishes each frame once per topic
 * (uWS copies it to every subscriber in C++); until then, and for direct
 * subscribers (SSE), the hub writes live events to the subscriber itself.
 * The hub joins and leaves topics itself: nothing calls back into it.
 *
 * Subscribers that take batch frames (WebSocket `fanout.json.v2`,
 * `fanout.proto.v2`) have topics of their own: the events of one fetch that
 * match such a topic are published to it as one batch frame (several, each
 * at most `batchMaxBytes`), built once per fetch. Direct deliveries of one
 * fetch are one `Subscriber.batch` per subscription, which the transport
 * writes as one batch frame (WebSocket) or one corked write (SSE).
 */
import {
  batchFrameOverhead,
  encodeEventBatchFrame,
  encodeJsonBatchFrame,
  FanoutError,
  formatPositionOf,
  partitionForChannel,
  type Logger,
} from '@fanout/shared';
import { EdgeEvent } from '../log/edge-event.js';
import type { DeliveryTracing, TracedBatch } from './delivery-tracing.js';
import type { EventLog, LogLane, PartitionOffsets, TopicLayout } from '../log/event-log.js';
import { kafkaUnavailable, withKafkaDeadline } from '../log/kafka-wait.js';
import { ReadBackoff } from '../log/read-backoff.js';
import type { PartitionReader, PartitionSink, PartitionTail } from '../log/partition-reader.js';
import { cursorOffsetIn, type StreamCursor } from './stream-cursor.js';
import type { WireFormat } from './subscriber.js';
import type { ResetCode, Subscription } from './subscription.js';

export type { WireFormat } from './subscriber.js';

/** Publishes one frame of `bytes` bytes to a uWS topic (app.publish). */
export type TopicPublisher = (
  topic: string,
  frame: string | Uint8Array,
  binary: boolean,
  bytes: number,
) => void;

export interface HubObserver {
  onReplay?(kind: 'hot' | 'cold', events: number, seconds: number): void;
  /** `count` deliveries of `event` as frames of `bytes` bytes each. */
  onDelivered?(transport: 'ws' | 'sse', event: EdgeEvent, count: number, bytes: number): void;
  onReset?(code: string): void;
  /**
   * A catch-up that resumed beyond the partition's read head waited for the
   * head to pass its cursor: `caught_up`, or `timeout` when it gave up.
   */
  onHeadWait?(outcome: 'caught_up' | 'timeout', seconds: number): void;
  /** A cold read's request to Kafka answered (true) or failed (false). */
  onColdFetch?(ok: boolean): void;
}

export interface ChannelHubOptions {
  readonly reader: PartitionReader;
  readonly log: EventLog;
  readonly logger: Logger;
  readonly publish: TopicPublisher;
  readonly replayFetchMaxBytes: number;
  /** Largest batch frame published to a topic of batch subscribers (default 64 KiB). */
  readonly batchMaxBytes?: number;
  /** Buffered bytes above which a catch-up waits for the client to read. */
  readonly replayPauseBytes: number;
  /**
   * Longest wait for Kafka on behalf of one client: a partition's start, the
   * topic layout, offsets, or the read head passing a resumed position.
   */
  readonly kafkaWaitMs: number;
  readonly observer?: HubObserver;
  /** Pauses of cold reads while Kafka fails them (default 50 ms → 2 s, jittered). */
  readonly coldBackoff?: { readonly minMs?: number; readonly maxMs?: number };
  /** Spans for live deliveries of sampled producer traces. */
  readonly tracing?: DeliveryTracing;
}

interface TopicEntry {
  readonly topic: string;
  readonly format: WireFormat;
  /** Its subscribers take batch frames: a fetch's events go out together. */
  readonly batch: boolean;
  readonly types: ReadonlySet<string> | undefined;
  count: number;
  /** Batch topics, while a fetch is published: its events not published yet, in order. */
  pending: EdgeEvent[] | undefined;
  /** Frame bytes of `pending` (an upper bound of the batch frame's). */
  pendingBytes: number;
}

const defaultBatchMaxBytes = 64 * 1024;

/** A subscription's starting point, per partition, after validation. */
export interface PreparedSubscription {
  /** Partitions that resume from a cursor (caught up by `catchUp`). */
  readonly resuming: readonly number[];
  /** Partitions that cannot resume: reset instead. */
  readonly resets: readonly {
    readonly partition: number;
    readonly code: ResetCode;
    readonly requested: string;
    readonly earliest: string;
  }[];
}

function topicKey(
  format: WireFormat,
  batch: boolean,
  matcher: string,
  types: readonly string[],
): string {
  return `${format}${batch ? '+batch' : ''}|${matcher}|${[...types].sort().join(',')}`;
}

/** The one channel a subscription follows, when it follows exactly one and no pattern. */
function onlyChannelOf(subscription: Subscription): string | undefined {
  if (subscription.patterns.length > 0 || subscription.channels.size !== 1) return undefined;
  for (const channel of subscription.channels) return channel;
  return undefined;
}

/** A cold read: the events after a cursor (up to the live head), or a cursor the log no longer holds. */
type ColdRead = { events: readonly EdgeEvent[]; last: number } | 'too_old';

/** A cold read in flight: the events after `cursor`. */
interface ColdReadInFlight {
  readonly cursor: number;
  readonly read: Promise<ColdRead>;
}

/** Offset lookups that arrived while a ListOffsets was in flight; answered by the next one. */
interface OffsetsBatch {
  readonly partitions: Set<number>;
  readonly waiters: {
    resolve(offsets: Map<number, PartitionOffsets>): void;
    reject(error: unknown): void;
  }[];
}

export class ChannelHub implements PartitionSink {
  readonly #options: ChannelHubOptions;
  /** channel or pattern → topics registered for it. */
  readonly #topics = new Map<string, Map<string, TopicEntry>>();
  #patternTopics = 0;
  /** partition → subscriptions delivered directly while live (SSE; WebSocket until its topic). */
  readonly #direct = new Map<number, Set<Subscription>>();
  /** partition → every subscription following it. */
  readonly #byPartition = new Map<number, Set<Subscription>>();
  #replayLane: LogLane | undefined;
  /** Cold reads wait together while Kafka does not answer them (see `ReadBackoff`). */
  readonly #coldBackoff: ReadBackoff;
  /** Cold reads in flight, per partition (see `#fetchCold`). */
  readonly #coldReads = new Map<number, Set<ColdReadInFlight>>();
  /** Offset lookups waiting for the next ListOffsets (see `#offsets`). */
  #offsetsBatch: OffsetsBatch | undefined;
  #offsetsInFlight = false;
  readonly #waiters = new Map<number, Set<{ channel: string; wake: () => void }>>();
  /** partition → catch-ups waiting for the read head to move (see `#waitForHead`). */
  readonly #headWaiters = new Map<number, Set<() => void>>();
  #healthy = false;
  /** The batch being published (see `publishedThrough`). */
  #publishing: { partition: number; through: number } | undefined;
  /** Batch topics with events of the fetch being published (see `#addToBatch`). */
  readonly #batching = new Set<TopicEntry>();
  onHealthChange: ((healthy: boolean) => void) | undefined;

  constructor(options: ChannelHubOptions) {
    this.#options = options;
    this.#coldBackoff = new ReadBackoff({
      logger: options.logger,
      what: 'cold replay fetch',
      ...(options.coldBackoff ?? {}),
      onAttempt: (ok) => {
        options.observer?.onColdFetch?.(ok);
      },
      onFailure: (error) => {
        this.#coldReadFailed(error);
      },
    });
  }

  /** A cold read failed: the layout is read again (once), for a leader that moved. */
  #coldReadFailed(error: unknown): void {
    if (error instanceof FanoutError && error.code !== 'kafka_unavailable') return;
    void this.#options.reader.start().catch(() => undefined);
  }

  /**
   * A request on `lane` failed: the next cold read goes on fresh connections
   * (one the old broker left half-closed is never reused). Only the lane the
   * failed request used is closed: a late failure of a read sent before
   * must not close the connections a newer read (the probe) is using.
   */
  #dropReplayLane(lane: LogLane): void {
    if (this.#replayLane !== lane) return;
    this.#replayLane = undefined;
    void this.#options.log.closeLane?.(lane).catch(() => undefined);
  }

  /** Requests cold reads have sent to Kafka so far (for tests and metrics). */
  get coldFetchAttempts(): number {
    return this.#coldBackoff.attempts;
  }

  get healthy(): boolean {
    return this.#healthy;
  }

  get subscriptionCount(): number {
    let count = 0;
    for (const subscriptions of this.#byPartition.values()) count += subscriptions.size;
    return count;
  }

  /** Log start and high watermark of a partition, asked from Kafka. */
  async offsetsOf(partition: number): Promise<{ logStartOffset: number; highWatermark: number }> {
    let offsets: Map<number, PartitionOffsets>;
    try {
      offsets = await this.#options.log.offsets([partition]);
    } catch (error) {
      throw asKafkaError(error, `the offsets of partition ${partition}`);
    }
    return offsets.get(partition) ?? { logStartOffset: -1, highWatermark: -1 };
  }

  /**
   * Log start and high watermark of a partition within `timeoutMs`, from a
   * ListOffsets shared with the lookups that arrive meanwhile (as fresh as a
   * lookup of its own); `kafka_unavailable` when Kafka does not answer.
   */
  async latestOffsets(partition: number, timeoutMs: number): Promise<PartitionOffsets> {
    const what = `the offsets of partition ${partition}`;
    let offsets: Map<number, PartitionOffsets>;
    try {
      offsets = await withKafkaDeadline(this.#offsets([partition]), Math.max(1, timeoutMs), what);
    } catch (error) {
      throw asKafkaError(error, what);
    }
    return offsets.get(partition) ?? { logStartOffset: -1, highWatermark: -1 };
  }

  /**
   * Resolves when the read head of `partition` next moves (a batch of events
   * was delivered), or after `timeoutMs`: for waiting on the read head
   * without a subscription of one's own in catch-up.
   */
  headMoved(partition: number, timeoutMs: number): Promise<void> {
    let waiters = this.#headWaiters.get(partition);
    if (!waiters) this.#headWaiters.set(partition, (waiters = new Set()));
    const set = waiters;
    return new Promise<void>((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        set.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, Math.max(1, timeoutMs));
      set.add(wake);
    });
  }

  /** Partitions of the topic, once its layout is known. */
  get partitionCount(): number | undefined {
    return this.#options.reader.layout?.partitions;
  }

  /** The read head of a partition: every event below it has been delivered live. */
  headOf(partition: number): number | undefined {
    return this.#options.reader.tails.get(partition)?.head;
  }

  /**
   * The last offset of a partition whose live frames have been published
   * to `topic`: the head minus one, except in the middle of publishing a
   * fetch (a backpressure close then happens between two events of it, or
   * before the batch frame of a batch topic went out).
   */
  publishedThrough(partition: number, topic?: string): number | undefined {
    const publishing = this.#publishing;
    if (publishing?.partition === partition) {
      if (topic !== undefined) {
        for (const entry of this.#batching) {
          const first = entry.topic === topic ? entry.pending?.[0] : undefined;
          if (first) return Math.min(publishing.through, first.offset - 1);
        }
      }
      return publishing.through;
    }
    const head = this.headOf(partition);
    return head === undefined ? undefined : head - 1;
  }

  /**
   * Resolves when an event of `channel` arrives on `partition`, or after
   * `timeoutMs`, or when `signal` aborts. For long-polls.
   */
  waitForChannel(
    partition: number,
    channel: string,
    timeoutMs: number,
    signal: AbortSignal,
  ): Promise<void> {
    return new Promise((resolve) => {
      let set = this.#waiters.get(partition);
      if (!set) this.#waiters.set(partition, (set = new Set()));
      const waiter = {
        channel,
        wake: () => {
          done();
        },
      };
      const timer = setTimeout(() => {
        done();
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.#waiters.get(partition)?.delete(waiter);
        resolve();
      };
      signal.addEventListener('abort', done, { once: true });
      set.add(waiter);
    });
  }

  /**
   * Events of one channel after `after` on its partition, at most `limit`,
   * read from the ring when it holds them and from Kafka otherwise, never
   * past the live head nor past offset `through`. `last` is the last offset
   * examined.
   */
  async readChannel(
    partition: number,
    channel: string,
    after: number,
    limit: number,
    through = Number.POSITIVE_INFINITY,
  ): Promise<{ events: EdgeEvent[]; last: number } | 'too_old'> {
    const events: EdgeEvent[] = [];
    let cursor = after;
    for (let rounds = 0; rounds < 10_000; rounds++) {
      const tail = this.#options.reader.tails.get(partition);
      if (!tail) throw new FanoutError('unavailable', `partition ${partition} is not read`);
      if (cursor + 1 >= tail.head || tail.ring.covers(cursor + 1)) {
        // Only the channel's events (the ring's channel index): past
        // `through`, the end of the loop answers `through` as well.
        let answer: { events: EdgeEvent[]; last: number } | undefined;
        tail.ring.forEachOfChannelAfter(channel, cursor, (event) => {
          if (event.offset > through) answer = { events, last: through };
          else {
            events.push(event);
            if (events.length === limit) answer = { events, last: event.offset };
          }
          return answer !== undefined;
        });
        return answer ?? { events, last: Math.min(through, Math.max(cursor, tail.head - 1)) };
      }
      const read = await this.#fetchCold(partition, cursor);
      if (read === 'too_old') return 'too_old';
      for (const event of read.events) {
        if (event.offset > through) return { events, last: through };
        if (event.channel !== channel) continue;
        events.push(event);
        if (events.length === limit) return { events, last: event.offset };
      }
      cursor = Math.max(cursor, read.last);
      if (cursor >= through) return { events, last: through };
    }
    return { events, last: cursor };
  }

  /**
   * Events after `cursor` from Kafka. Reads of a partition share: a read in
   * flight that started at or before `cursor` answers this one too (its
   * events after `cursor`), so when thousands of clients resume at once (an
   * edge restart) from the few positions they last saw, a partition is read
   * once from the oldest of them instead of once per position; one
   * connection's fetches are answered one after another. A cursor behind
   * every read in flight reads on its own. What a read brings back also
   * extends the partition's ring backwards (see `#fetchColdOnce`), so later
   * resumes from there are hot.
   */
  async #fetchCold(partition: number, cursor: number): Promise<ColdRead> {
    const shared = this.#sharedColdRead(partition, cursor);
    if (shared !== undefined) {
      // Its failure is this read's too: reading on its own would multiply
      // the requests to an unreachable broker by the readers sharing.
      const read = await shared.read;
      // Its answer covers this cursor only when it read past it.
      if (read !== 'too_old' && read.last > cursor) {
        return { events: read.events.filter((event) => event.offset > cursor), last: read.last };
      }
    }
    let reads = this.#coldReads.get(partition);
    if (reads === undefined) this.#coldReads.set(partition, (reads = new Set()));
    const inFlight = reads;
    const entry: ColdReadInFlight = {
      cursor,
      read: this.#coldBackoff
        .run(() => this.#fetchColdOnce(partition, cursor))
        .finally(() => {
          inFlight.delete(entry);
          if (inFlight.size === 0 && this.#coldReads.get(partition) === inFlight) {
            this.#coldReads.delete(partition);
          }
        }),
    };
    inFlight.add(entry);
    return entry.read;
  }

  /** The read in flight of `partition` that started closest at or before `cursor`. */
  #sharedColdRead(partition: number, cursor: number): ColdReadInFlight | undefined {
    let best: ColdReadInFlight | undefined;
    for (const entry of this.#coldReads.get(partition) ?? []) {
      if (entry.cursor <= cursor && (best === undefined || entry.cursor > best.cursor)) {
        best = entry;
      }
    }
    return best;
  }

  /** How many cold reads are in flight (all partitions); for tests and metrics. */
  get coldReadsInFlight(): number {
    let count = 0;
    for (const reads of this.#coldReads.values()) count += reads.size;
    return count;
  }

  async #fetchColdOnce(partition: number, cursor: number): Promise<ColdRead> {
    const layout = this.#options.reader.layout;
    const reading = this.#options.reader.tails.get(partition);
    const leader = layout?.leaders[partition] ?? -1;
    const lane = (this.#replayLane ??= this.#options.log.openLane('replay'));
    let reads;
    try {
      reads = await this.#options.log.fetch(leader, [{ partition, offset: cursor + 1 }], {
        lane,
        maxWaitMs: 0,
        maxBytes: this.#options.replayFetchMaxBytes,
        partitionMaxBytes: this.#options.replayFetchMaxBytes,
      });
    } catch (error) {
      this.#dropReplayLane(lane);
      throw error;
    }
    const read = reads.find((candidate) => candidate.partition === partition);
    if (!read) return { events: [], last: cursor };
    if (read.status === 'offset_out_of_range') {
      const offsets = await this.#options.log.offsets([partition]);
      const known = offsets.get(partition);
      if (known && cursor + 1 < known.logStartOffset) return 'too_old';
      return { events: [], last: cursor };
    }
    if (read.status !== 'ok') {
      throw new FanoutError(
        'kafka_unavailable',
        `partition ${partition}: ${read.kafkaError ?? ''}`,
      );
    }
    const head = this.#options.reader.tails.get(partition)?.head ?? Number.POSITIVE_INFINITY;
    const events: EdgeEvent[] = [];
    let last = cursor;
    const epoch = layout?.epoch ?? '';
    for (const record of read.records) {
      // The live reader delivers from its head on; stop there to never duplicate.
      if (record.offset >= head) break;
      last = record.offset;
      try {
        events.push(new EdgeEvent(epoch, partition, record));
      } catch {
        continue;
      }
    }
    // Every event from cursor + 1 through `last`: when that reaches what the
    // ring holds (or the head, for an empty ring) of the same partition start
    // and epoch, the ring takes it in front, as far as it has room.
    const tail = this.#options.reader.tails.get(partition);
    if (
      tail !== undefined &&
      tail === reading &&
      tail.started &&
      this.#options.reader.layout?.epoch === epoch
    ) {
      tail.ring.prepend(cursor + 1, last, events, tail.head);
    }
    return { events, last };
  }

  /**
   * Log start and end offsets for resuming subscriptions. One ListOffsets is
   * in flight at a time; lookups that arrive meanwhile wait and share the
   * next one, which is sent after all of them arrived, so every answer is
   * as fresh as a lookup of its own. A storm of clients resuming on a fresh
   * edge then costs a few Kafka round trips instead of two per client.
   */
  #offsets(partitions: readonly number[]): Promise<Map<number, PartitionOffsets>> {
    return new Promise((resolve, reject) => {
      const batch = (this.#offsetsBatch ??= { partitions: new Set(), waiters: [] });
      for (const partition of partitions) batch.partitions.add(partition);
      batch.waiters.push({ resolve, reject });
      this.#sendOffsets();
    });
  }

  #sendOffsets(): void {
    const batch = this.#offsetsBatch;
    if (this.#offsetsInFlight || batch === undefined) return;
    this.#offsetsBatch = undefined;
    this.#offsetsInFlight = true;
    this.#options.log
      .offsets([...batch.partitions].sort((a, b) => a - b))
      .then(
        (offsets) => {
          for (const waiter of batch.waiters) waiter.resolve(offsets);
        },
        (error: unknown) => {
          for (const waiter of batch.waiters) waiter.reject(error);
        },
      )
      .finally(() => {
        this.#offsetsInFlight = false;
        this.#sendOffsets();
      });
  }

  /**
   * The topic layout, read from Kafka if not known yet, within `timeoutMs`;
   * `kafka_unavailable` when Kafka does not answer.
   */
  async layout(timeoutMs: number): Promise<TopicLayout> {
    const reader = this.#options.reader;
    if (reader.layout) return reader.layout;
    try {
      return await withKafkaDeadline(reader.start(), Math.max(1, timeoutMs), 'the topic layout');
    } catch (error) {
      throw asKafkaError(error, 'the topic layout');
    }
  }

  /**
   * Warms a partition before the edge declares itself ready: starts reading
   * it (its offsets, the connection to its leader, the live fetch loop) and
   * fills its ring with up to `events` of its newest events, so clients that
   * resume after an edge restart from positions they saw shortly before are
   * served from memory, without a read of their own. Bounded by `timeoutMs`
   * (`kafka_unavailable` then: the events of the reads done so far are not
   * kept, except what a read reaching the ring adds to it by itself). The
   * partition stays read for the linger time afterwards, as after a
   * subscription. Answers how many events the ring holds.
   */
  async warm(partition: number, events: number, timeoutMs: number): Promise<number> {
    const reader = this.#options.reader;
    const deadline = Date.now() + timeoutMs;
    const tail = await reader.acquire(partition, Math.max(1, timeoutMs));
    try {
      const epoch = reader.layout?.epoch;
      const head = tail.head;
      const from = Math.max(tail.logStartOffset, head - Math.min(events, tail.ring.capacity), 0);
      const collected: EdgeEvent[] = [];
      let cursor = from - 1;
      while (cursor + 1 < head && !tail.ring.covers(cursor + 1)) {
        const what = `warming partition ${partition}`;
        const read = await withKafkaDeadline(
          this.#fetchCold(partition, cursor),
          Math.max(1, deadline - Date.now()),
          what,
        );
        // Retention moved the log start meanwhile, or nothing more to read.
        if (read === 'too_old' || read.last <= cursor) break;
        for (const event of read.events) if (event.offset > cursor) collected.push(event);
        cursor = read.last;
      }
      // The last read joined the ring (it reached it); the earlier ones go in front of it.
      if (reader.tails.get(partition) === tail && tail.started && reader.layout?.epoch === epoch) {
        tail.ring.prepend(from, cursor, collected, tail.head);
      }
      return tail.ring.size;
    } finally {
      reader.release(partition);
    }
  }

  /** The partitions a subscription follows. */
  partitionsOf(subscription: Subscription): number[] {
    const layout = this.#options.reader.layout;
    if (!layout) throw new FanoutError('kafka_unavailable', 'the topic layout is not known yet');
    if (subscription.patterns.length > 0) {
      return Array.from({ length: layout.partitions }, (_, partition) => partition);
    }
    const partitions = new Set<number>();
    for (const channel of subscription.channels) {
      partitions.add(partitionForChannel(channel, layout.partitions));
    }
    return [...partitions].sort((a, b) => a - b);
  }

  /**
   * Acquires the subscription's partitions and fixes its starting cursors.
   * Partitions without a cursor start live, at the end of their log.
   * Throws position_ahead for a cursor beyond the end of the log.
   */
  async prepare(subscription: Subscription, since?: StreamCursor): Promise<PreparedSubscription> {
    const reader = this.#options.reader;
    // Kafka is waited for at most kafkaWaitMs in all: then kafka_unavailable.
    const deadline = Date.now() + this.#options.kafkaWaitMs;
    const layout = reader.layout ?? (await this.layout(deadline - Date.now()));
    subscription.epoch = layout.epoch;
    const partitions = this.partitionsOf(subscription);
    const tails: PartitionTail[] = [];
    try {
      for (const partition of partitions) {
        tails.push(await reader.acquire(partition, Math.max(1, deadline - Date.now())));
        subscription.acquired.add(partition);
      }
    } catch (error) {
      this.remove(subscription);
      throw error;
    }
    const resuming: number[] = [];
    const resets: {
      partition: number;
      code: ResetCode;
      requested: string;
      earliest: string;
    }[] = [];
    const needOffsets: number[] = [];
    for (const tail of tails) {
      if (!since) break;
      const from = cursorOffsetIn(since, layout.epoch, tail.partition);
      if (typeof from === 'string') {
        // Another epoch, or a position of another partition: the channel moved
        // (the partition count changed) or the client mixed up positions.
        // Never "live from now".
        resets.push({
          partition: tail.partition,
          code: from,
          requested: requestedPosition(since, tail.partition),
          earliest: formatPositionOf(
            layout.epoch,
            tail.partition,
            Math.max(tail.logStartOffset, 0) - 1,
          ),
        });
      } else if (
        from >= tail.head ||
        from + 1 < tail.logStartOffset ||
        !tail.ring.covers(from + 1)
      ) {
        needOffsets.push(tail.partition);
      } else {
        resuming.push(tail.partition);
      }
    }
    if (needOffsets.length > 0) {
      let offsets: Map<number, PartitionOffsets>;
      try {
        offsets = await withKafkaDeadline(
          this.#offsets(needOffsets),
          Math.max(1, deadline - Date.now()),
          'the offsets of the resumed partitions',
        );
      } catch (error) {
        this.remove(subscription);
        throw asKafkaError(error, 'the offsets of the resumed partitions');
      }
      for (const partition of needOffsets) {
        const from = since?.offsets.get(partition) ?? -1;
        const known = offsets.get(partition);
        if (!known) continue;
        if (from >= known.highWatermark) {
          this.remove(subscription);
          throw new FanoutError(
            'position_ahead',
            `position ${formatPositionOf(layout.epoch, partition, from)} is beyond the end of the log (last offset ${known.highWatermark - 1})`,
          );
        }
        if (from + 1 < known.logStartOffset) {
          resets.push({
            partition,
            code: 'position_too_old',
            requested: formatPositionOf(layout.epoch, partition, from),
            earliest: formatPositionOf(layout.epoch, partition, known.logStartOffset - 1),
          });
        } else {
          resuming.push(partition);
        }
      }
    }
    // One synchronous step: cursors of live partitions are the heads right now.
    const resetPartitions = new Set(resets.map((reset) => reset.partition));
    for (const tail of tails) {
      this.#track(subscription, tail.partition);
      if (resetPartitions.has(tail.partition)) continue;
      const from = since?.offsets.get(tail.partition);
      if (from !== undefined && resuming.includes(tail.partition)) {
        subscription.cursors.set(tail.partition, from);
      } else {
        subscription.cursors.set(tail.partition, tail.head - 1);
      }
    }
    return { resuming, resets };
  }

  /** Starts live delivery of partitions that have no catch-up to do. */
  goLiveNow(subscription: Subscription, except: readonly number[]): void {
    for (const partition of subscription.cursors.keys()) {
      if (!except.includes(partition)) this.#goLive(subscription, partition);
    }
  }

  #track(subscription: Subscription, partition: number): void {
    let set = this.#byPartition.get(partition);
    if (!set) this.#byPartition.set(partition, (set = new Set()));
    set.add(subscription);
  }

  /**
   * From now on live events of `partition` reach the subscription. A topic
   * is shared by every subscriber of the same matcher, so it is joined only
   * once every partition is live; partitions live before that are delivered
   * directly, and the switch to the topic is one synchronous step between
   * two batches: every event reaches the client exactly once.
   */
  #goLive(subscription: Subscription, partition: number): void {
    if (!subscription.active || subscription.live.has(partition)) return;
    subscription.live.add(partition);
    const live = subscription.subscriber.live;
    if (live.kind === 'direct' || subscription.live.size < subscription.cursors.size) {
      this.#addDirect(subscription, partition);
      return;
    }
    if (subscription.subscriber.closed) return;
    for (const direct of subscription.live) this.#direct.get(direct)?.delete(subscription);
    const topic = this.#addTopic(live.format, live.batch === true, subscription.label, [
      ...(subscription.types ?? []),
    ]);
    subscription.topic = topic;
    live.subscribe(topic);
  }

  /** Makes direct (non-topic) live delivery of a partition reach this subscription. */
  #addDirect(subscription: Subscription, partition: number): void {
    let set = this.#direct.get(partition);
    if (!set) this.#direct.set(partition, (set = new Set()));
    set.add(subscription);
  }

  /** Registers a uWS topic the hub publishes matching events to. */
  #addTopic(format: WireFormat, batch: boolean, matcher: string, types: readonly string[]): string {
    const topic = topicKey(format, batch, matcher, types);
    let entries = this.#topics.get(matcher);
    if (!entries) this.#topics.set(matcher, (entries = new Map<string, TopicEntry>()));
    const entry = entries.get(topic);
    if (entry) entry.count++;
    else {
      entries.set(topic, {
        topic,
        format,
        batch,
        types: types.length > 0 ? new Set(types) : undefined,
        count: 1,
        pending: undefined,
        pendingBytes: 0,
      });
      if (matcher.endsWith('.*')) this.#patternTopics++;
    }
    return topic;
  }

  #removeTopic(
    format: WireFormat,
    batch: boolean,
    matcher: string,
    types: readonly string[],
  ): void {
    const entries = this.#topics.get(matcher);
    const topic = topicKey(format, batch, matcher, types);
    const entry = entries?.get(topic);
    if (!entries || !entry) return;
    entry.count--;
    if (entry.count > 0) return;
    entries.delete(topic);
    if (matcher.endsWith('.*')) this.#patternTopics--;
    if (entries.size === 0) this.#topics.delete(matcher);
  }

  /** Stops a subscription, leaves its topic and releases its partitions. */
  remove(subscription: Subscription): void {
    if (!subscription.active) return;
    subscription.active = false;
    const topic = subscription.topic;
    const live = subscription.subscriber.live;
    if (topic !== undefined && live.kind === 'topic') {
      subscription.topic = undefined;
      this.#removeTopic(live.format, live.batch === true, subscription.label, [
        ...(subscription.types ?? []),
      ]);
      if (!subscription.subscriber.closed) live.unsubscribe(topic);
    }
    for (const partition of subscription.acquired) {
      this.#direct.get(partition)?.delete(subscription);
      this.#byPartition.get(partition)?.delete(subscription);
      this.#options.reader.release(partition);
    }
    subscription.acquired.clear();
  }

  /** Delivers what a subscription missed on one partition, then turns it live. */
  async catchUp(subscription: Subscription, partition: number): Promise<void> {
    const began = performance.now();
    let replayed = 0;
    let kind: 'hot' | 'cold' = 'hot';
    const target = subscription.subscriber;
    let idle = 0;
    /** Fetched from Kafka and not delivered yet (the client was over the pause mark). */
    let fetched: { events: readonly EdgeEvent[]; next: number; last: number } | undefined;
    /** When cold reads began to fail (Kafka unreachable): bounded by kafkaWaitMs. */
    let failingSince: number | undefined;
    while (subscription.active && !target.closed) {
      const tail = this.#options.reader.tails.get(partition);
      if (!tail) return;
      const cursor = subscription.cursors.get(partition) ?? tail.head - 1;
      if (cursor >= tail.head) {
        // The client has seen more of the log than this edge has read (it
        // lags: a GC pause, CPU starvation, a fetch back-off, a fresh start).
        // Live delivery cannot skip what the client already has (a uWS topic
        // is shared), so the subscription joins it only once the head is past
        // its cursor.
        await this.#waitForHead(subscription, tail, cursor);
        continue;
      }
      if (cursor + 1 === tail.head || tail.ring.covers(cursor + 1)) {
        // Hot: from memory. A client that falls behind is waited for (the
        // ring is read again afterwards, or Kafka if it moved on), so a
        // replay never pushes it past its backpressure limit.
        const pauseBytes = this.#options.replayPauseBytes;
        let examined = cursor;
        const visit = (event: EdgeEvent): boolean => {
          examined = event.offset;
          if (!subscription.matches(event)) return false;
          // Set before each delivery: a close inside it reports the position.
          subscription.cursors.set(partition, event.offset);
          target.deliver(event, subscription);
          replayed++;
          return target.bufferedBytes() > pauseBytes;
        };
        // One channel: only its events (the ring's channel index), not every
        // event of the partition after the cursor.
        const only = onlyChannelOf(subscription);
        const paused = target.batch(() => {
          const stopped =
            only === undefined
              ? tail.ring.forEachAfter(cursor, visit)
              : tail.ring.forEachOfChannelAfter(only, cursor, visit);
          subscription.cursors.set(partition, examined);
          return stopped;
        });
        if (paused) {
          await target.drained();
          continue;
        }
        subscription.cursors.set(partition, Math.max(cursor, tail.head - 1));
        this.#goLive(subscription, partition);
        this.#options.observer?.onReplay?.(kind, replayed, (performance.now() - began) / 1000);
        return;
      }
      kind = 'cold';
      if (target.bufferedBytes() > this.#options.replayPauseBytes) {
        await target.drained();
        continue;
      }
      if (fetched === undefined || fetched.next >= fetched.events.length) {
        const read = await this.#coldRead(subscription, partition, cursor);
        if (read === undefined) return;
        if (read === 'failed') {
          failingSince ??= Date.now();
          if (Date.now() - failingSince >= this.#options.kafkaWaitMs) {
            throw kafkaUnavailable(`partition ${partition}: replay`, this.#options.kafkaWaitMs);
          }
          continue;
        }
        failingSince = undefined;
        if (read.last <= cursor) {
          if (++idle > 3) {
            await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 20 * idle)));
          }
          continue;
        }
        idle = 0;
        fetched = { events: read.events, next: 0, last: read.last };
      }
      // Deliver up to the pause mark; the rest waits in `fetched`, not refetched.
      const batch = fetched;
      target.batch(() => {
        while (batch.next < batch.events.length) {
          const event = batch.events[batch.next++];
          if (event === undefined || event.offset <= cursor) continue;
          if (subscription.matches(event)) {
            target.deliver(event, subscription);
            replayed++;
          }
          subscription.cursors.set(partition, event.offset);
          if (target.bufferedBytes() > this.#options.replayPauseBytes) break;
        }
      });
      if (fetched.next >= fetched.events.length) {
        subscription.cursors.set(
          partition,
          Math.max(subscription.cursors.get(partition) ?? cursor, fetched.last),
        );
      }
    }
  }

  /**
   * Waits until the read head of `tail` passes `cursor`, at most
   * `kafkaWaitMs`; throws `kafka_unavailable` when it does not (the client
   * resumes from its position later, here or elsewhere: never a jump).
   */
  async #waitForHead(
    subscription: Subscription,
    tail: PartitionTail,
    cursor: number,
  ): Promise<void> {
    const began = performance.now();
    const deadline = Date.now() + this.#options.kafkaWaitMs;
    const partition = tail.partition;
    let waiters = this.#headWaiters.get(partition);
    if (!waiters) this.#headWaiters.set(partition, (waiters = new Set()));
    const set = waiters;
    const passed = (): boolean =>
      !subscription.active || subscription.subscriber.closed || tail.head > cursor;
    while (!passed()) {
      const left = deadline - Date.now();
      if (left <= 0) {
        this.#options.observer?.onHeadWait?.('timeout', (performance.now() - began) / 1000);
        throw kafkaUnavailable(
          `partition ${partition}: this edge has read up to offset ${tail.head - 1}, not yet past the position ${cursor}`,
          this.#options.kafkaWaitMs,
        );
      }
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timer);
          set.delete(wake);
          resolve();
        };
        // Woken by new events; the timer also sees a head moved by records
        // that could not be decoded (no events for them).
        const timer = setTimeout(wake, Math.min(left, 250));
        set.add(wake);
      });
    }
    if (set.size === 0) this.#headWaiters.delete(partition);
    this.#options.observer?.onHeadWait?.('caught_up', (performance.now() - began) / 1000);
  }

  #wakeHeadWaiters(partition: number): void {
    const waiters = this.#headWaiters.get(partition);
    if (!waiters || waiters.size === 0) return;
    for (const wake of [...waiters]) wake();
  }

  /**
   * Events after `cursor` from Kafka; undefined when the subscription was
   * reset instead, `failed` when Kafka did not answer (after a pause).
   */
  async #coldRead(
    subscription: Subscription,
    partition: number,
    cursor: number,
  ): Promise<{ events: readonly EdgeEvent[]; last: number } | 'failed' | undefined> {
    let read;
    try {
      read = await this.#fetchCold(partition, cursor);
    } catch {
      // Logged once per failure streak by the back-off, which also paces the
      // next attempt (this catch-up's included): no pause of its own here.
      return 'failed';
    }
    if (read === 'too_old') {
      const offsets = await this.#options.log.offsets([partition]).catch(() => undefined);
      const logStart = offsets?.get(partition)?.logStartOffset ?? cursor + 1;
      this.#resetOne(subscription, {
        code: 'position_too_old',
        partition,
        requested: formatPositionOf(subscription.epoch, partition, cursor),
        earliest: formatPositionOf(subscription.epoch, partition, logStart - 1),
      });
      return undefined;
    }
    return read;
  }

  #resetOne(
    subscription: Subscription,
    reset: {
      code: ResetCode;
      partition: number;
      requested: string;
      earliest: string;
    },
  ): void {
    this.#options.observer?.onReset?.(reset.code);
    subscription.reset(reset);
  }

  // ---- PartitionSink ------------------------------------------------------

  onEvents(partition: number, events: readonly EdgeEvent[]): void {
    const publish = this.#options.publish;
    const observer = this.#options.observer;
    const traced = this.#options.tracing?.begin(events);
    if (this.#topics.size > 0) {
      const publishing = { partition, through: (events[0]?.offset ?? 0) - 1 };
      this.#publishing = publishing;
      try {
        this.#publishAll(events, publishing, publish, observer, traced);
        // Every batch topic's frame goes out before the fetch is done: a
        // subscriber joins a topic between two fetches, never inside one.
        for (const entry of this.#batching) this.#flushBatch(entry, publish);
      } finally {
        for (const entry of this.#batching) entry.pending = undefined;
        this.#batching.clear();
        this.#publishing = undefined;
      }
    }
    const waiters = this.#waiters.get(partition);
    if (waiters && waiters.size > 0) {
      for (const waiter of [...waiters]) {
        if (events.some((event) => event.channel === waiter.channel)) waiter.wake();
      }
    }
    const direct = this.#direct.get(partition);
    if (direct && direct.size > 0) {
      for (const subscription of direct) {
        const cursor = subscription.cursors.get(partition) ?? -1;
        // One batch per subscription: one frame or one corked write per fetch.
        subscription.subscriber.batch(() => {
          for (const event of events) {
            // Never at or before what the client has (its cursor).
            if (event.offset <= cursor || !subscription.matches(event)) continue;
            subscription.subscriber.deliver(event, subscription);
            traced?.delivered(event, subscription.subscriber.transport, 1);
          }
        });
        const last = events[events.length - 1];
        if (last && last.offset > cursor) subscription.cursors.set(partition, last.offset);
      }
    }
    traced?.end();
    this.#wakeHeadWaiters(partition);
  }

  #publishAll(
    events: readonly EdgeEvent[],
    publishing: { through: number },
    publish: TopicPublisher,
    observer: HubObserver | undefined,
    traced: TracedBatch | undefined,
  ): void {
    for (const event of events) {
      this.#publishTo(this.#topics.get(event.channel), event, publish, observer, traced);
      if (this.#patternTopics > 0) {
        let dot = event.channel.indexOf('.');
        while (dot > 0) {
          this.#publishTo(
            this.#topics.get(`${event.channel.slice(0, dot)}.*`),
            event,
            publish,
            observer,
            traced,
          );
          dot = event.channel.indexOf('.', dot + 1);
        }
      }
      publishing.through = event.offset;
    }
  }

  #publishTo(
    entries: Map<string, TopicEntry> | undefined,
    event: EdgeEvent,
    publish: TopicPublisher,
    observer: HubObserver | undefined,
    traced: TracedBatch | undefined,
  ): void {
    if (!entries) return;
    for (const entry of entries.values()) {
      if (entry.types !== undefined && !entry.types.has(event.type)) continue;
      let bytes: number;
      if (entry.batch) {
        bytes = this.#addToBatch(entry, event, publish);
      } else if (entry.format === 'proto') {
        const frame = event.protoFrame;
        bytes = frame.byteLength;
        publish(entry.topic, frame, true, bytes);
      } else {
        bytes = event.jsonFrameBytes;
        publish(entry.topic, event.jsonFrame, false, bytes);
      }
      observer?.onDelivered?.('ws', event, entry.count, bytes);
      traced?.delivered(event, 'ws', entry.count);
    }
  }

  /**
   * Adds an event to the batch of a batch topic, first publishing the batch
   * when the event would take it over `batchMaxBytes`. Returns the event's
   * frame bytes.
   */
  #addToBatch(entry: TopicEntry, event: EdgeEvent, publish: TopicPublisher): number {
    const bytes = entry.format === 'proto' ? event.protoFrame.byteLength : event.jsonFrameBytes;
    const max = this.#options.batchMaxBytes ?? defaultBatchMaxBytes;
    if (entry.pending !== undefined && entry.pendingBytes + bytes + batchFrameOverhead > max) {
      this.#flushBatch(entry, publish);
    }
    if (entry.pending === undefined) {
      entry.pending = [event];
      entry.pendingBytes = bytes;
      this.#batching.add(entry);
    } else {
      entry.pending.push(event);
      entry.pendingBytes += bytes;
    }
    return bytes;
  }

  /**
   * Publishes a batch topic's pending events as one frame: the event's own
   * frame when there is one. `pending` is cleared only once it went out, so
   * a backpressure close inside the publish reports the position before it.
   */
  #flushBatch(entry: TopicEntry, publish: TopicPublisher): void {
    const events = entry.pending;
    if (events === undefined || events.length === 0) return;
    const [first] = events;
    if (events.length === 1 && first) {
      if (entry.format === 'proto')
        publish(entry.topic, first.protoFrame, true, entry.pendingBytes);
      else publish(entry.topic, first.jsonFrame, false, entry.pendingBytes);
    } else if (entry.format === 'proto') {
      const frame = encodeEventBatchFrame(
        events.map((event) => event.protoFrame),
        entry.pendingBytes,
      );
      publish(entry.topic, frame, true, frame.byteLength);
    } else {
      const frame = encodeJsonBatchFrame(events.map((event) => event.json));
      // An upper bound of its UTF-8 length, without measuring it.
      publish(entry.topic, frame, false, entry.pendingBytes + batchFrameOverhead);
    }
    entry.pending = undefined;
    entry.pendingBytes = 0;
  }

  onGap(partition: number, logStartOffset: number): void {
    this.#wakeHeadWaiters(partition);
    for (const subscription of [...(this.#byPartition.get(partition) ?? [])]) {
      const cursor = subscription.cursors.get(partition) ?? -1;
      if (cursor + 1 >= logStartOffset) continue;
      this.#resetOne(subscription, {
        code: 'position_too_old',
        partition,
        requested: formatPositionOf(subscription.epoch, partition, cursor),
        earliest: formatPositionOf(subscription.epoch, partition, logStartOffset - 1),
      });
    }
  }

  onEpochChange(epoch: string): void {
    for (const [partition, subscriptions] of this.#byPartition) {
      for (const subscription of [...subscriptions]) {
        if (subscription.epoch === epoch) continue;
        const cursor = subscription.cursors.get(partition) ?? -1;
        this.#resetOne(subscription, {
          code: 'position_epoch_mismatch',
          partition,
          requested: formatPositionOf(subscription.epoch, partition, cursor),
          earliest: formatPositionOf(epoch, partition, -1),
        });
      }
    }
  }

  onHealth(healthy: boolean): void {
    this.#healthy = healthy;
    // The live reader reached Kafka again: cold reads probe now, not after their pause.
    if (healthy) this.#coldBackoff.wake();
    this.onHealthChange?.(healthy);
  }
}

/** A failed Kafka request as the catalog's `kafka_unavailable`; FanoutErrors as they are. */
function asKafkaError(error: unknown, what: string): FanoutError {
  if (error instanceof FanoutError) return error;
  return new FanoutError(
    'kafka_unavailable',
    `${what}: ${error instanceof Error ? error.message : String(error)}`,
    { details: { retryAfterMs: 1000 }, cause: error },
  );
}

/** The position of `since` for `partition`, or its first one when it has none. */
function requestedPosition(since: StreamCursor, partition: number): string {
  const own = since.offsets.get(partition);
  if (own !== undefined) return formatPositionOf(since.epoch, partition, own);
  const [first] = since.offsets;
  return first
    ? formatPositionOf(since.epoch, first[0], first[1])
    : formatPositionOf(since.epoch, partition, -1);
}
