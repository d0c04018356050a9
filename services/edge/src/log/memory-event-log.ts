/**
 * The in-memory twin of `KafkaEventLog`, for tests: one topic whose
 * partitions are arrays of record batches, behaving like Kafka in every way
 * the edge can observe — offsets from 0, a fetch below the log start or above
 * the high watermark answers `offset_out_of_range`, a fetch at the high
 * watermark waits up to `maxWaitMs` for records and answers as soon as any
 * arrive, byte limits cut between batches but always return the first one,
 * a fetch with an old layout (recreated topic, moved leader, unknown
 * partition) answers `stale_metadata`, and a log that is down throws
 * `kafka_unavailable`. The same contract suite runs against both
 * (test/integration/event-log-contract.test.ts).
 *
 * Events are stored as the ingest writes them: the `fanout.v1.Event`
 * envelope as the record value (`encodeEvent`, byte for byte the ingest's
 * encoder) and the `fanout-producer` / `traceparent` / `tracestate` record
 * headers. Topic ids are derived from the topic name and its incarnation, so
 * runs are repeatable.
 */
import { createHash } from 'node:crypto';
import {
  encodeEvent,
  FanoutError,
  partitionForChannel,
  topicIdToEpoch,
  fanout,
  type StateOperation,
} from '@fanout/shared';
import {
  logUnavailable,
  type EventLog,
  type FetchOptions,
  type LogLane,
  type LogRecord,
  type PartitionFetch,
  type PartitionOffsets,
  type PartitionRead,
  type TopicLayout,
} from './event-log.js';

/** An event to append, as a producer publishes it through the ingest. */
export interface MemoryEvent {
  readonly channel: string;
  /** Event id (default `m<n>`, unique within the log). */
  readonly id?: string;
  readonly type?: string;
  readonly data?: Uint8Array | string;
  readonly contentType?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly producer?: string;
  readonly traceparent?: string;
  readonly tracestate?: string;
  /** Record timestamp, epoch milliseconds (default: now). */
  readonly timestamp?: number;
  /** A state change (`Event.state`): what the data does to the channel's document. */
  readonly state?: StateOperation;
  /** A state put's arrayKey (`Event.array_key`). */
  readonly arrayKey?: string;
}

/** A record given as raw bytes (for example one that is not a fanout event). */
export interface MemoryRawRecord {
  readonly value: Buffer;
  readonly headers?: readonly (readonly [Buffer | null, Buffer | null])[];
  readonly timestamp?: number;
}

export type MemoryRecord = MemoryEvent | MemoryRawRecord;

export interface MemoryEventLogOptions {
  /** Topic name (default `fanout.events`). */
  readonly topic?: string;
  /** Partitions of the topic (default 1). */
  readonly partitions?: number;
  /** Broker node ids; partition p is led by `nodes[p % nodes.length]` (default `[1]`). */
  readonly nodes?: readonly number[];
}

/** `Event.state` of each operation. */
const stateOperationEnum: Readonly<Record<StateOperation, fanout.v1.StateOperation>> = {
  put: fanout.v1.StateOperation.STATE_OPERATION_PUT,
  merge: fanout.v1.StateOperation.STATE_OPERATION_MERGE,
  delete: fanout.v1.StateOperation.STATE_OPERATION_DELETE,
};

/** Bytes of a record batch header and of each record's framing (Kafka's v2 format, roughly). */
const batchOverheadBytes = 61;
const recordOverheadBytes = 20;

interface Batch {
  readonly baseOffset: number;
  readonly records: readonly LogRecord[];
  readonly bytes: number;
}

class MemoryPartition {
  readonly batches: Batch[] = [];
  logStartOffset = 0;
  highWatermark = 0;
}

interface Incarnation {
  readonly topicId: string;
  readonly epoch: string;
  readonly partitions: MemoryPartition[];
}

/** Answers every fetch a long-poll is waiting with, once something changed. */
type Wake = () => void;

/** Requests held back (see `hold`): all, or the fetches of lanes with a label prefix. */
interface Hold {
  readonly lanePrefix: string | undefined;
  readonly released: Promise<void>;
  readonly release: () => void;
}

export class MemoryEventLog implements EventLog {
  readonly topic: string;
  readonly #nodes: readonly number[];
  #incarnation: Incarnation;
  #incarnations = 0;
  #layout: TopicLayout | undefined;
  #down = false;
  #closed = false;
  readonly #holds = new Set<Hold>();
  readonly #wakes = new Set<Wake>();
  readonly #lanes = new Set<LogLane>();
  readonly #fetches = new Map<string, number>();
  #nextId = 0;

  constructor(options: MemoryEventLogOptions = {}) {
    this.topic = options.topic ?? 'fanout.events';
    this.#nodes = options.nodes === undefined || options.nodes.length === 0 ? [1] : options.nodes;
    this.#incarnation = this.#incarnate(options.partitions ?? 1);
  }

  // ---- EventLog -----------------------------------------------------------

  get layout(): TopicLayout | undefined {
    return this.#layout;
  }

  async refreshLayout(): Promise<TopicLayout> {
    await this.#request(`reading metadata of ${this.topic}`);
    this.#layout = this.#currentLayout();
    return this.#layout;
  }

  async offsets(partitions: readonly number[]): Promise<Map<number, PartitionOffsets>> {
    await this.#request(`listing offsets of ${this.topic}`);
    const offsets = new Map<number, PartitionOffsets>();
    for (const partition of partitions) {
      const state = this.#incarnation.partitions[partition];
      if (!state) {
        throw logUnavailable(
          new Error(`UNKNOWN_TOPIC_OR_PARTITION: ${this.topic}-${partition}`),
          `listing offsets of ${this.topic}`,
        );
      }
      offsets.set(partition, {
        logStartOffset: state.logStartOffset,
        highWatermark: state.highWatermark,
      });
    }
    return offsets;
  }

  openLane(label: string): LogLane {
    const lane: LogLane = { label };
    this.#lanes.add(lane);
    return lane;
  }

  closeLane(lane: LogLane): Promise<void> {
    this.#lanes.delete(lane);
    return Promise.resolve();
  }

  async fetch(
    node: number,
    partitions: readonly PartitionFetch[],
    options: FetchOptions,
  ): Promise<PartitionRead[]> {
    const doing = `fetching from broker ${node}`;
    const label = options.lane.label;
    await this.#request(doing, label);
    const layout = this.#layout;
    if (!layout) throw new FanoutError('unavailable', 'the topic layout is not known yet');
    this.#fetches.set(label, (this.#fetches.get(label) ?? 0) + 1);
    if (options.maxWaitMs > 0) await this.#longPoll(node, layout, partitions, options, doing);
    // A held broker answers once released, with what it holds then.
    await this.#request(doing, label);
    return this.#answer(node, layout, partitions, options);
  }

  /** Resolves when a fetch would answer with records or an error, or after maxWaitMs. */
  async #longPoll(
    node: number,
    layout: TopicLayout,
    partitions: readonly PartitionFetch[],
    options: FetchOptions,
    doing: string,
  ): Promise<void> {
    if (!isEmpty(this.#answer(node, layout, partitions, options))) return;
    const waited = { out: false };
    let wake: Wake = () => undefined;
    const timer = setTimeout(() => {
      waited.out = true;
      wake();
    }, options.maxWaitMs);
    try {
      while (!waited.out && isEmpty(this.#answer(node, layout, partitions, options))) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          this.#wakes.add(wake);
        });
        this.#wakes.delete(wake);
        this.#throwIfDown(doing);
      }
    } finally {
      clearTimeout(timer);
      this.#wakes.delete(wake);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const hold of [...this.#holds]) hold.release();
    this.#wakeAll();
    await Promise.resolve();
  }

  // ---- what tests do to the log ---------------------------------------------

  /** The layout the topic has now (what the next `refreshLayout` answers). */
  get currentLayout(): TopicLayout {
    return this.#currentLayout();
  }

  /**
   * Appends records to a partition as one batch (one produce request);
   * returns their offsets. Wakes fetches waiting at the head.
   */
  append(partition: number, records: readonly MemoryRecord[]): number[] {
    const state = this.#partition(partition);
    const baseOffset = state.highWatermark;
    const now = Date.now();
    const stored: LogRecord[] = records.map((record, index) =>
      this.#record(record, baseOffset + index, now),
    );
    if (stored.length === 0) return [];
    const bytes = stored.reduce(
      (sum, record) => sum + recordOverheadBytes + record.value.byteLength + headerBytes(record),
      batchOverheadBytes,
    );
    state.batches.push({ baseOffset, records: stored, bytes });
    state.highWatermark += stored.length;
    this.#wakeAll();
    return stored.map((record) => record.offset);
  }

  /** Appends events to the partitions of their channels, as the ingest does. */
  publish(events: readonly MemoryEvent[]): { partition: number; offset: number }[] {
    const count = this.#incarnation.partitions.length;
    return events.map((event) => {
      const partition = partitionForChannel(event.channel, count);
      const [offset] = this.append(partition, [event]);
      return { partition, offset: offset ?? -1 };
    });
  }

  /**
   * Retention (or DeleteRecords): the partition's log now starts at
   * `logStartOffset`, which may not pass the high watermark.
   */
  truncate(partition: number, logStartOffset: number): void {
    const state = this.#partition(partition);
    if (logStartOffset > state.highWatermark) {
      throw new RangeError(
        `partition ${partition}: log start ${logStartOffset} is beyond the high watermark ${state.highWatermark}`,
      );
    }
    if (logStartOffset <= state.logStartOffset) return;
    state.logStartOffset = logStartOffset;
    while (state.batches.length > 0) {
      const first = state.batches[0];
      if (!first || first.baseOffset + first.records.length > logStartOffset) break;
      state.batches.shift();
    }
    this.#wakeAll();
  }

  /** Deletes and creates the topic again: a new topic id (a new epoch), empty partitions. */
  recreate(partitions = this.#incarnation.partitions.length): TopicLayout {
    this.#incarnation = this.#incarnate(partitions);
    this.#wakeAll();
    return this.#currentLayout();
  }

  /** Adds `count` partitions to the topic (CreatePartitions). */
  addPartitions(count: number): TopicLayout {
    for (let i = 0; i < count; i++) this.#incarnation.partitions.push(new MemoryPartition());
    this.#wakeAll();
    return this.#currentLayout();
  }

  /**
   * While down, every request throws `kafka_unavailable` (as when no broker
   * answers), fetches waiting at the head included.
   */
  unavailable(down: boolean): void {
    this.#down = down;
    if (down) this.#wakeAll();
  }

  /**
   * Holds requests (a stalled broker) until the returned function is called:
   * every request, or with `lanePrefix` only the fetches of lanes whose label
   * starts with it (`live`, `replay`). A held fetch that was waiting at the
   * head answers after the release, with the records there are then.
   */
  hold(lanePrefix?: string): () => void {
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const hold: Hold = {
      lanePrefix,
      released,
      release: () => {
        this.#holds.delete(hold);
        release();
      },
    };
    this.#holds.add(hold);
    return hold.release;
  }

  /** Fetches made on lanes of this label so far. */
  fetchCount(label: string): number {
    return this.#fetches.get(label) ?? 0;
  }

  // ---- inside -------------------------------------------------------------

  #incarnate(partitions: number): Incarnation {
    const incarnation = this.#incarnations++;
    const hex = createHash('sha256')
      .update(`${this.topic}#${incarnation}`)
      .digest('hex')
      .slice(0, 32);
    const topicId = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
    return {
      topicId,
      epoch: topicIdToEpoch(topicId),
      partitions: Array.from({ length: partitions }, () => new MemoryPartition()),
    };
  }

  #currentLayout(): TopicLayout {
    const { topicId, epoch, partitions } = this.#incarnation;
    return {
      epoch,
      topicId,
      partitions: partitions.length,
      leaders: partitions.map((_, partition) => this.#leaderOf(partition)),
    };
  }

  #leaderOf(partition: number): number {
    return this.#nodes[partition % this.#nodes.length] ?? -1;
  }

  #partition(partition: number): MemoryPartition {
    const state = this.#incarnation.partitions[partition];
    if (!state) throw new RangeError(`partition ${partition} does not exist`);
    return state;
  }

  #record(record: MemoryRecord, offset: number, now: number): LogRecord {
    if ('value' in record) {
      return {
        offset,
        timestamp: record.timestamp ?? now,
        value: record.value,
        headers: record.headers ?? [],
      };
    }
    const time = record.timestamp ?? now;
    const value = encodeEvent({
      id: record.id ?? `m${this.#nextId++}`,
      channel: record.channel,
      type: record.type ?? '',
      data: typeof record.data === 'string' ? Buffer.from(record.data) : (record.data ?? null),
      contentType: record.contentType ?? '',
      time: { seconds: Math.floor(time / 1000), nanos: (time % 1000) * 1_000_000 },
      headers: { ...record.headers },
      producer: record.producer ?? '',
      ...(record.state === undefined ? {} : { state: stateOperationEnum[record.state] }),
      ...(record.arrayKey === undefined ? {} : { arrayKey: record.arrayKey }),
      ...(record.traceparent === undefined
        ? {}
        : { trace: { traceparent: record.traceparent, tracestate: record.tracestate ?? '' } }),
    });
    const headers: [Buffer, Buffer][] = [
      [Buffer.from('fanout-producer'), Buffer.from(record.producer ?? '')],
    ];
    if (record.traceparent !== undefined) {
      headers.push([Buffer.from('traceparent'), Buffer.from(record.traceparent)]);
      if (record.tracestate !== undefined) {
        headers.push([Buffer.from('tracestate'), Buffer.from(record.tracestate)]);
      }
    }
    return {
      offset,
      timestamp: time,
      value: Buffer.from(value.buffer, value.byteOffset, value.byteLength),
      headers,
    };
  }

  /** Waits while held, then throws when the log is down or closed. */
  async #request(doing: string, lane?: string): Promise<void> {
    for (;;) {
      const hold = [...this.#holds].find(
        (each) => each.lanePrefix === undefined || lane?.startsWith(each.lanePrefix) === true,
      );
      if (hold === undefined) break;
      await hold.released;
    }
    this.#throwIfDown(doing);
  }

  #throwIfDown(doing: string): void {
    if (this.#closed) throw logUnavailable(new Error('the client is closed'), doing);
    if (this.#down) throw logUnavailable(new Error('connection refused'), doing);
  }

  #wakeAll(): void {
    for (const wake of [...this.#wakes]) wake();
  }

  /** What the broker answers now to a fetch made with `layout`. */
  #answer(
    node: number,
    layout: TopicLayout,
    partitions: readonly PartitionFetch[],
    options: FetchOptions,
  ): PartitionRead[] {
    const incarnation = this.#incarnation;
    let responseBytes = 0;
    let anyRecords = false;
    return partitions.map(({ partition, offset }): PartitionRead => {
      const failed = (status: PartitionRead['status'], kafkaError: string): PartitionRead => ({
        partition,
        status,
        records: [],
        highWatermark: -1,
        logStartOffset: -1,
        kafkaError,
      });
      if (layout.topicId !== incarnation.topicId) {
        return failed('stale_metadata', 'UNKNOWN_TOPIC_ID');
      }
      const state = incarnation.partitions[partition];
      if (!state) return failed('stale_metadata', 'UNKNOWN_TOPIC_OR_PARTITION');
      if (this.#leaderOf(partition) !== node) {
        return failed('stale_metadata', 'NOT_LEADER_OR_FOLLOWER');
      }
      if (offset < state.logStartOffset || offset > state.highWatermark) {
        return failed('offset_out_of_range', 'OFFSET_OUT_OF_RANGE');
      }
      const records: LogRecord[] = [];
      let partitionBytes = 0;
      for (const batch of state.batches) {
        if (batch.baseOffset + batch.records.length <= offset) continue;
        // Whole batches, within both limits, except the response's first.
        const fits =
          partitionBytes + batch.bytes <= options.partitionMaxBytes &&
          responseBytes + batch.bytes <= options.maxBytes;
        if (!fits && anyRecords) break;
        partitionBytes += batch.bytes;
        responseBytes += batch.bytes;
        anyRecords = true;
        for (const record of batch.records) {
          if (record.offset >= offset && record.offset >= state.logStartOffset) {
            records.push(record);
          }
        }
      }
      return {
        partition,
        status: 'ok',
        records,
        highWatermark: state.highWatermark,
        logStartOffset: state.logStartOffset,
      };
    });
  }
}

function isEmpty(reads: readonly PartitionRead[]): boolean {
  return reads.every((read) => read.status === 'ok' && read.records.length === 0);
}

function headerBytes(record: LogRecord): number {
  let bytes = 0;
  for (const [name, value] of record.headers) {
    bytes += (name?.byteLength ?? 0) + (value?.byteLength ?? 0) + 2;
  }
  return bytes;
}
