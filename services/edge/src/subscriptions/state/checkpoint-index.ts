/**
 * Where the newest checkpoint of each channel of one checkpoint partition
 * is: channel → offset of its newest record, and the offset of the newest
 * partition mark. Built by reading the partition once from its start (it is
 * compacted: about one record per channel), kept current by reading what
 * was added since before every lookup (one fetch when little was), about
 * 100 bytes per channel. A checkpoint itself is then fetched by its offset.
 */
import { FanoutError } from '@fanout/shared';
import type { EventLog, LogLane, LogRecord } from '../../log/event-log.js';
import { partitionMarkKey } from './checkpoint-record.js';

const fetchMaxBytes = 4 * 1024 * 1024;

export interface IndexedCheckpoint {
  /** Offset of the channel's newest checkpoint record (-1: none). */
  readonly record: number;
  /** Offset of the newest partition mark (-1: none). */
  readonly mark: number;
}

export class CheckpointIndex {
  readonly partition: number;
  readonly #log: EventLog;
  readonly #lane: LogLane;
  /** Next offset to read (-1: not read yet). */
  #head = -1;
  readonly #channels = new Map<string, number>();
  #mark = -1;
  #catchingUp: Promise<void> | undefined;

  constructor(log: EventLog, lane: LogLane, partition: number) {
    this.#log = log;
    this.#lane = lane;
    this.partition = partition;
  }

  get size(): number {
    return this.#channels.size;
  }

  /** Reads what the partition gained since the last call; callers share one read. */
  catchUp(): Promise<void> {
    this.#catchingUp ??= this.#read().finally(() => {
      this.#catchingUp = undefined;
    });
    return this.#catchingUp;
  }

  /** Where the newest checkpoint of `channel` and the newest mark are (after `catchUp`). */
  find(channel: string): IndexedCheckpoint {
    return { record: this.#channels.get(channel) ?? -1, mark: this.#mark };
  }

  /** The record at `offset`, or `undefined` when compaction removed it meanwhile. */
  async fetch(offset: number): Promise<LogRecord | undefined> {
    const [read] = await this.#fetchFrom(offset);
    if (read?.status !== 'ok') return undefined;
    const record = read.records[0];
    return record?.offset === offset ? record : undefined;
  }

  async #fetchFrom(offset: number): ReturnType<EventLog['fetch']> {
    let layout = this.#log.layout ?? (await this.#log.refreshLayout());
    for (let attempt = 0; ; attempt++) {
      const leader = layout.leaders[this.partition] ?? -1;
      if (this.partition >= layout.partitions) {
        throw new FanoutError('unavailable', `checkpoint partition ${this.partition} is missing`);
      }
      const reads = await this.#log.fetch(leader, [{ partition: this.partition, offset }], {
        lane: this.#lane,
        maxWaitMs: 0,
        maxBytes: fetchMaxBytes,
        partitionMaxBytes: fetchMaxBytes,
      });
      if (reads[0]?.status !== 'stale_metadata' || attempt > 0) return reads;
      layout = await this.#log.refreshLayout();
    }
  }

  async #read(): Promise<void> {
    const offsets = (await this.#log.offsets([this.partition])).get(this.partition);
    if (offsets === undefined || offsets.highWatermark < 0) return;
    if (this.#head < offsets.logStartOffset) this.#head = offsets.logStartOffset;
    while (this.#head < offsets.highWatermark) {
      const [read] = await this.#fetchFrom(this.#head);
      if (read === undefined) return;
      if (read.status === 'offset_out_of_range') {
        this.#head = Math.max(this.#head, read.logStartOffset);
        if (read.logStartOffset < 0) return;
        continue;
      }
      if (read.status !== 'ok') {
        throw new FanoutError(
          'kafka_unavailable',
          `the checkpoint partition ${this.partition} cannot be read (${read.kafkaError ?? read.status})`,
        );
      }
      if (read.records.length === 0) return;
      for (const record of read.records) {
        const key = record.key;
        if (key === undefined) continue;
        if (key.equals(partitionMarkKey)) this.#mark = record.offset;
        else this.#channels.set(key.toString('utf8'), record.offset);
      }
      this.#head = (read.records.at(-1)?.offset ?? this.#head) + 1;
    }
  }
}
