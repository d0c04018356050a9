/**
 * Live reads of the partitions the edge's clients need. A partition starts
 * at the end of its log when its first subscription arrives and stops a
 * while after its last one leaves; others are never paused by it. One fetch
 * loop per partition leader, each on a lane of its own, long-polls the log;
 * nothing is ever committed: positions live with the clients.
 *
 * Every record read is decoded once, appended to the partition's ring (hot
 * replay) and handed to the sink in the same synchronous step that advances
 * the read head, so "everything below `head` has been delivered" holds at any
 * point a subscriber looks.
 */
import { FanoutError, type Logger } from '@fanout/shared';
import { EdgeEvent } from './edge-event.js';
import { EventRing } from './event-ring.js';
import type { EventLog, LogLane, PartitionRead, TopicLayout } from './event-log.js';
import { withKafkaDeadline } from './kafka-wait.js';

export interface PartitionSink {
  /** New events of a partition, in offset order, right after the head moved past them. */
  onEvents(partition: number, events: readonly EdgeEvent[]): void;
  /**
   * The partition lost events before the edge read them (retention deleted
   * them): subscribers of it must be reset from `logStartOffset`.
   */
  onGap(partition: number, logStartOffset: number): void;
  /** The topic was recreated: every position of the old epoch is void. */
  onEpochChange(epoch: string): void;
  /** Kafka became reachable (true) or not (false). */
  onHealth(healthy: boolean): void;
}

export interface PartitionReaderOptions {
  readonly log: EventLog;
  readonly sink: PartitionSink;
  readonly logger: Logger;
  readonly ringCapacity: number;
  readonly maxWaitMs: number;
  readonly fetchMaxBytes: number;
  readonly partitionMaxBytes: number;
  /** How long a partition without subscribers is still read (keeps its ring warm). */
  readonly lingerMs: number;
  readonly onUndecodable?: (partition: number, offset: number, error: unknown) => void;
  readonly onFetch?: (node: number, seconds: number, ok: boolean) => void;
}

/** The read state of one partition. */
export class PartitionTail {
  readonly partition: number;
  readonly ring: EventRing;
  /** Next offset to read: every event below it has gone to the sink. */
  head = -1;
  /** Last known high watermark (for lag). */
  highWatermark = -1;
  logStartOffset = -1;
  references = 0;
  lingerTimer: NodeJS.Timeout | undefined;
  /** Resolves once the head is known (again, after `restart`). */
  ready!: Promise<void>;
  resolveReady!: () => void;
  rejectReady!: (error: Error) => void;
  started = false;

  constructor(partition: number, ringCapacity: number) {
    this.partition = partition;
    this.ring = new EventRing(ringCapacity);
    this.#arm();
  }

  /**
   * Forgets what was read (the topic was recreated): the head is unknown
   * until the partition starts again, and `acquire` waits for it.
   */
  restart(): void {
    this.ring.clear();
    this.head = -1;
    this.started = false;
    this.#arm();
  }

  #arm(): void {
    this.ready = new Promise<void>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    // Callers that stop waiting must not leave an unhandled rejection behind.
    this.ready.catch(() => undefined);
  }
}

/**
 * Pauses between attempts to start a partition while Kafka does not answer.
 * Capped at a second: a pause ends early when Kafka answers the live fetch
 * or the layout (`#retryWaiters`), so a start resumes with the live read.
 */
const retryDelaysMs = [100, 250, 500, 1000];

/**
 * Pauses of a leader's live fetch loop after failed fetches: the loop is
 * what notices the broker's return (and wakes everything else), so it tries
 * again within `liveRetryDelaysMs.at(-1)` of it. A failed attempt against
 * a broker that is down is a refused connection (or one metadata request
 * once it listens): at most ten a second per leader cost a restarting broker
 * nothing, and the edge reads again within a few tens of ms of its return
 * instead of up to a second.
 */
const liveRetryDelaysMs = [25, 50, 100];

export class PartitionReader {
  readonly #options: PartitionReaderOptions;
  readonly #tails = new Map<number, PartitionTail>();
  readonly #loops = new Map<number, Promise<void>>();
  readonly #lanes = new Map<number, LogLane>();
  #layout: TopicLayout | undefined;
  #closed = false;
  #healthy = false;
  #layoutRefresh: Promise<TopicLayout> | undefined;
  /** Refreshing the layout until every partition read has a leader again (`#awaitLeaders`). */
  #leaderWait: Promise<void> | undefined;
  /** Partition starts pausing after a failure: woken when Kafka answers another request. */
  readonly #retryWaiters = new Set<() => void>();

  constructor(options: PartitionReaderOptions) {
    this.#options = options;
  }

  get layout(): TopicLayout | undefined {
    return this.#layout;
  }

  get healthy(): boolean {
    return this.#healthy;
  }

  /** The partitions being read, with their state. */
  get tails(): ReadonlyMap<number, PartitionTail> {
    return this.#tails;
  }

  /** Reads the topic layout; resolves once, later calls share the answer. */
  async start(): Promise<TopicLayout> {
    return this.#refreshLayout();
  }

  #setHealthy(healthy: boolean): void {
    if (this.#healthy === healthy) return;
    this.#healthy = healthy;
    if (healthy) for (const wake of [...this.#retryWaiters]) wake();
    this.#options.sink.onHealth(healthy);
  }

  async #refreshLayout(): Promise<TopicLayout> {
    this.#layoutRefresh ??= (async () => {
      try {
        const previous = this.#layout;
        const layout = await this.#options.log.refreshLayout();
        this.#layout = layout;
        this.#setHealthy(true);
        if (previous && previous.epoch !== layout.epoch) {
          this.#options.logger.warn(
            { previous: previous.epoch, epoch: layout.epoch },
            'topic was recreated: new epoch',
          );
          for (const tail of this.#tails.values()) tail.restart();
          this.#options.sink.onEpochChange(layout.epoch);
          for (const tail of this.#tails.values()) void this.#initialize(tail);
        }
        return layout;
      } finally {
        this.#layoutRefresh = undefined;
      }
    })();
    return this.#layoutRefresh;
  }

  /**
   * Starts reading a partition (or keeps it read) for one more subscription.
   * Resolves when its head is known; rejects with `kafka_unavailable` when
   * that takes longer than `timeoutMs` (Kafka is down: the partition keeps
   * trying to start for later callers).
   */
  async acquire(partition: number, timeoutMs = Number.POSITIVE_INFINITY): Promise<PartitionTail> {
    if (this.#closed) throw new FanoutError('draining', 'the edge is shutting down');
    let tail = this.#tails.get(partition);
    if (!tail) {
      tail = new PartitionTail(partition, this.#options.ringCapacity);
      this.#tails.set(partition, tail);
      void this.#initialize(tail);
    }
    tail.references++;
    if (tail.lingerTimer) {
      clearTimeout(tail.lingerTimer);
      tail.lingerTimer = undefined;
    }
    try {
      await (Number.isFinite(timeoutMs) && !tail.started
        ? withKafkaDeadline(tail.ready, timeoutMs, `partition ${partition} cannot be read yet`)
        : tail.ready);
    } catch (error) {
      this.release(partition);
      throw error;
    }
    return tail;
  }

  /** One subscription fewer; the partition stops after the linger time without any. */
  release(partition: number): void {
    const tail = this.#tails.get(partition);
    if (!tail) return;
    tail.references = Math.max(0, tail.references - 1);
    if (tail.references > 0 || tail.lingerTimer) return;
    tail.lingerTimer = setTimeout(() => {
      tail.lingerTimer = undefined;
      if (tail.references === 0 && this.#tails.get(partition) === tail) {
        this.#tails.delete(partition);
        tail.rejectReady(new FanoutError('unavailable', `partition ${partition} stopped`));
      }
    }, this.#options.lingerMs);
    tail.lingerTimer.unref();
  }

  async #initialize(tail: PartitionTail): Promise<void> {
    for (let attempt = 0; !this.#closed && this.#tails.get(tail.partition) === tail; attempt++) {
      try {
        const layout = this.#layout ?? (await this.#refreshLayout());
        if (tail.partition >= layout.partitions) {
          throw new FanoutError(
            'invalid_argument',
            `partition ${tail.partition} does not exist (the topic has ${layout.partitions})`,
          );
        }
        const offsets = await this.#options.log.offsets([tail.partition]);
        const known = offsets.get(tail.partition);
        if (!known || known.highWatermark < 0) throw new Error('no offsets returned');
        tail.head = known.highWatermark;
        tail.highWatermark = known.highWatermark;
        tail.logStartOffset = known.logStartOffset;
        tail.started = true;
        this.#setHealthy(true);
        tail.resolveReady();
        this.#ensureLoop(layout.leaders[tail.partition] ?? -1);
        this.#awaitLeaders();
        return;
      } catch (error) {
        if (error instanceof FanoutError && error.code === 'invalid_argument') {
          this.#tails.delete(tail.partition);
          tail.rejectReady(error);
          return;
        }
        this.#setHealthy(false);
        if (attempt === 0) {
          this.#options.logger.warn(
            { err: error, partition: tail.partition },
            'cannot start partition yet',
          );
        }
        await this.#retryPause(retryDelaysMs[Math.min(attempt, retryDelaysMs.length - 1)] ?? 1000);
      }
    }
  }

  /**
   * A pause before the next attempt to start a partition, ended early when
   * Kafka answers another request (the live fetch, the layout): resumes
   * waiting for the partition start as soon as the broker is back.
   */
  #retryPause(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.#retryWaiters.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      timer.unref();
      this.#retryWaiters.add(wake);
    });
  }

  #ensureLoop(node: number): void {
    if (node < 0 || this.#loops.has(node) || this.#closed) return;
    const loop = this.#runLoop(node).finally(() => {
      this.#loops.delete(node);
      // Partitions may have joined after the loop decided to end.
      if (this.#partitionsOf(node).length > 0) this.#ensureLoop(node);
      // Or its partitions lost their leader (an election under way).
      else this.#awaitLeaders();
    });
    this.#loops.set(node, loop);
  }

  /**
   * Started partitions whose leader the layout does not know (-1: a broker
   * that returns after a crash leads its partitions again only once it is
   * unfenced). No loop reads them: the layout is refreshed every
   * `liveRetryDelaysMs.at(-1)` until they have a leader, whose loop then
   * reads them.
   */
  #awaitLeaders(): void {
    if (this.#leaderWait !== undefined || this.#closed || this.#leaderless() === 0) return;
    this.#leaderWait = (async () => {
      while (!this.#closed && this.#leaderless() > 0) {
        await delay(liveRetryDelaysMs.at(-1) ?? 100);
        const layout = await this.#refreshLayout().catch(() => undefined);
        if (layout === undefined || this.#isClosed()) continue;
        for (const tail of this.#tails.values()) {
          if (tail.started) this.#ensureLoop(layout.leaders[tail.partition] ?? -1);
        }
      }
    })().finally(() => {
      this.#leaderWait = undefined;
    });
  }

  #leaderless(): number {
    const leaders = this.#layout?.leaders ?? [];
    let count = 0;
    for (const tail of this.#tails.values()) {
      if (tail.started && (leaders[tail.partition] ?? -1) < 0) count++;
    }
    return count;
  }

  #partitionsOf(node: number): PartitionTail[] {
    const leaders = this.#layout?.leaders ?? [];
    return [...this.#tails.values()].filter(
      (tail) => tail.started && leaders[tail.partition] === node,
    );
  }

  #laneFor(node: number): LogLane {
    let lane = this.#lanes.get(node);
    if (!lane) {
      lane = this.#options.log.openLane(`live node ${node}`);
      this.#lanes.set(node, lane);
    }
    return lane;
  }

  async #runLoop(node: number): Promise<void> {
    let failures = 0;
    while (!this.#closed) {
      const tails = this.#partitionsOf(node);
      if (tails.length === 0) return;
      const began = performance.now();
      let reads: PartitionRead[];
      try {
        reads = await this.#options.log.fetch(
          node,
          tails.map((tail) => ({ partition: tail.partition, offset: tail.head })),
          {
            lane: this.#laneFor(node),
            maxWaitMs: this.#options.maxWaitMs,
            maxBytes: this.#options.fetchMaxBytes,
            partitionMaxBytes: this.#options.partitionMaxBytes,
          },
        );
        this.#options.onFetch?.(node, (performance.now() - began) / 1000, true);
      } catch (error) {
        this.#options.onFetch?.(node, (performance.now() - began) / 1000, false);
        if (this.#isClosed()) return;
        this.#setHealthy(false);
        if (failures === 0) {
          this.#options.logger.warn({ err: error, node }, 'partition fetch failed; retrying');
        }
        await delay(liveRetryDelaysMs[Math.min(failures, liveRetryDelaysMs.length - 1)] ?? 100);
        failures++;
        await this.#refreshLayout().catch(() => undefined);
        continue;
      }
      if (failures > 0) {
        this.#options.logger.info({ node, failures }, 'partition fetch recovered');
        failures = 0;
      }
      this.#setHealthy(true);
      let staleMetadata = false;
      for (const read of reads) {
        const tail = this.#tails.get(read.partition);
        if (!tail?.started) continue;
        if (read.status === 'ok') {
          this.#deliver(tail, read);
        } else if (read.status === 'offset_out_of_range') {
          await this.#recoverRange(tail);
        } else {
          staleMetadata = true;
        }
      }
      if (staleMetadata) {
        const layout = await this.#refreshLayout().catch(() => undefined);
        if (layout) {
          for (const tail of this.#tails.values()) {
            this.#ensureLoop(layout.leaders[tail.partition] ?? -1);
          }
        }
        await delay(100);
      }
    }
  }

  #deliver(tail: PartitionTail, read: PartitionRead): void {
    tail.highWatermark = read.highWatermark;
    if (read.logStartOffset >= 0) tail.logStartOffset = read.logStartOffset;
    if (read.records.length === 0) return;
    const epoch = this.#layout?.epoch ?? '';
    const events: EdgeEvent[] = [];
    let next = tail.head;
    for (const record of read.records) {
      if (record.offset < next) continue;
      try {
        events.push(new EdgeEvent(epoch, tail.partition, record));
      } catch (error) {
        this.#options.onUndecodable?.(tail.partition, record.offset, error);
        this.#options.logger.error(
          { err: error, partition: tail.partition, offset: record.offset },
          'record is not a fanout event; it cannot be delivered',
        );
      }
      next = record.offset + 1;
    }
    const from = tail.head;
    tail.ring.append(from, events);
    tail.head = next;
    if (events.length > 0) this.#options.sink.onEvents(tail.partition, events);
  }

  /** The read head fell out of the log: find where it now starts and report the gap. */
  async #recoverRange(tail: PartitionTail): Promise<void> {
    try {
      const offsets = await this.#options.log.offsets([tail.partition]);
      const known = offsets.get(tail.partition);
      if (!known) return;
      tail.logStartOffset = known.logStartOffset;
      tail.highWatermark = known.highWatermark;
      if (tail.head < known.logStartOffset) {
        this.#options.logger.error(
          { partition: tail.partition, head: tail.head, logStartOffset: known.logStartOffset },
          'events were deleted by retention before the edge read them',
        );
        tail.ring.clear();
        tail.head = known.logStartOffset;
        this.#options.sink.onGap(tail.partition, known.logStartOffset);
      } else if (tail.head > known.highWatermark) {
        // The log was truncated (unclean leader election): read from its end.
        tail.ring.clear();
        tail.head = known.highWatermark;
        this.#options.sink.onGap(tail.partition, known.highWatermark);
      }
    } catch (error) {
      this.#options.logger.warn({ err: error, partition: tail.partition }, 'cannot list offsets');
      await delay(500);
    }
  }

  #isClosed(): boolean {
    return this.#closed;
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const tail of this.#tails.values()) {
      if (tail.lingerTimer) clearTimeout(tail.lingerTimer);
      tail.rejectReady(new FanoutError('draining', 'the edge is shutting down'));
    }
    await Promise.allSettled([...this.#loops.values(), this.#leaderWait]);
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
