/**
 * The checkpointer of one partition (docs/decisions/045-state-checkpoints.md):
 * run by the edge that is the partition's primary owner, it folds every state
 * change of the partition, whoever reads the channels, and writes a channel's
 * checkpoint to the checkpoint topic after `everyChanges` changes, or within
 * `everyMs` of its last unwritten change. Every `everyMs` it then writes the
 * partition mark: everything up to the mark's offset is in the checkpoints.
 *
 * A new owner (failover, rebalance, restart) continues from the checkpoint
 * partition: the documents of its records, the fold resumed after the mark.
 * When retention deleted records after the mark, channels whose checkpoint
 * does not cover them are unknown until a put or delete (as in a tracker),
 * and get no checkpoint until then. The history is then lost for this
 * epoch's partition: every later mark says so (`lostBelow`), so a later
 * owner treats a channel without a covering checkpoint as unknown too,
 * never as absent (a reset, never a silent gap). Two writers for a while (a
 * placement change) write the same content for the same offsets: harmless.
 *
 * Memory is bounded by `maxChannels` documents: past it, the channels
 * changed least recently are written (when they have unwritten changes)
 * and dropped. The next change of a dropped channel reloads its document
 * from its newest checkpoint, which covers the partition up to the drop, so
 * the fold stays exact; what stays in memory per dropped channel is the
 * offset of its checkpoint record (a `CheckpointIndex` of the partition).
 */
import {
  applyStateChange,
  formatPositionOf,
  type Logger,
  type StateDocument,
  type StateLimits,
} from '@fanout/shared';
import type { EdgeMetrics } from '../../edge-metrics.js';
import type { CheckpointLog, CheckpointWrite } from '../../log/checkpoint-log.js';
import { EdgeEvent } from '../../log/edge-event.js';
import type { EventLog, LogLane } from '../../log/event-log.js';
import { CheckpointIndex } from './checkpoint-index.js';
import {
  CheckpointDecodeError,
  decodeCheckpoint,
  encodeCheckpoint,
  partitionMarkKey,
} from './checkpoint-record.js';

export interface PartitionCheckpointerOptions {
  readonly partition: number;
  /** The events topic (the edge's log). */
  readonly events: EventLog;
  readonly checkpoints: CheckpointLog;
  readonly limits: StateLimits;
  readonly everyChanges: number;
  readonly everyMs: number;
  /** Documents held at most; the least recently changed are dropped past it. */
  readonly maxChannels: number;
  readonly metrics: EdgeMetrics;
  readonly logger: Logger;
}

interface Channel {
  document: StateDocument;
  json: string | undefined;
  /** Offset of its last change folded. */
  offset: number;
  /** Changes not yet in a checkpoint. */
  pending: number;
  /** False while its history is lost and no put or delete was folded. */
  known: boolean;
  /** The arrayKey of its last put folded (docs/decisions/047), kept in its checkpoint. */
  arrayKey: string | undefined;
}

const fetchMaxBytes = 4 * 1024 * 1024;
const fetchWaitMs = 500;
const retryMs = 1000;
/** A write not acknowledged by then restarts the checkpointer from the checkpoints. */
const writeTimeoutMs = 10_000;

export class PartitionCheckpointer {
  readonly partition: number;
  readonly #options: PartitionCheckpointerOptions;
  readonly #channels = new Map<string, Channel>();
  #epoch = '';
  /** Next events offset to fold. */
  #head = 0;
  /** Channels not in the map are unknown (history lost) rather than absent. */
  #unknownByDefault = false;
  /**
   * The events log start when history was found lost in this epoch (0:
   * never): written in every mark, and a checkpoint not covering up to it
   * is not a known document.
   */
  #lostBelow = 0;
  /** Channels may be in the checkpoint topic and not in memory (dropped or not loaded). */
  #dropped = false;
  #index: CheckpointIndex | undefined;
  #lastMark = -1;
  #nextMarkAt = 0;
  #closed = false;
  #eventsLane: LogLane | undefined;
  #checkpointLane: LogLane | undefined;
  readonly #running: Promise<void>;

  constructor(options: PartitionCheckpointerOptions) {
    this.partition = options.partition;
    this.#options = options;
    this.#running = this.#run();
  }

  /** Channels held (their documents are in memory). */
  get channels(): number {
    return this.#channels.size;
  }

  /** The next events offset to fold (for tests). */
  get head(): number {
    return this.#head;
  }

  async #run(): Promise<void> {
    while (!this.#closed) {
      try {
        await this.#load();
        await this.#follow();
      } catch (error) {
        if (this.#isClosed()) return;
        this.#options.logger.warn(
          { err: error, partition: this.partition },
          'state checkpointer stopped; starting again from the checkpoints',
        );
        await delay(retryMs);
      }
    }
  }

  /** Reads the checkpoint partition: documents and where to resume. */
  async #load(): Promise<void> {
    const { events, checkpoints, partition, metrics } = this.#options;
    metrics.stateCheckpointerChannels.dec(this.#channels.size);
    this.#channels.clear();
    this.#dropped = false;
    this.#index = undefined;
    const layout = await events.refreshLayout();
    this.#epoch = layout.epoch;
    const read = checkpoints.read;
    const readLayout = await read.refreshLayout();
    this.#checkpointLane ??= read.openLane(`checkpointer ${partition}`);
    const range = (await read.offsets([partition])).get(partition);
    let mark = -1;
    let lostBelow = 0;
    const covered = new Map<string, number>();
    let at = range?.logStartOffset ?? 0;
    const end = range?.highWatermark ?? 0;
    while (at < end && !this.#isClosed()) {
      const [answer] = await read.fetch(
        readLayout.leaders[partition] ?? -1,
        [{ partition, offset: at }],
        {
          lane: this.#checkpointLane,
          maxWaitMs: 0,
          maxBytes: fetchMaxBytes,
          partitionMaxBytes: fetchMaxBytes,
        },
      );
      if (answer?.status !== 'ok')
        throw new Error(`checkpoint partition read: ${answer?.status ?? 'none'}`);
      if (answer.records.length === 0) break;
      for (const record of answer.records) {
        at = record.offset + 1;
        if (record.key === undefined) continue;
        let decoded;
        try {
          decoded = decodeCheckpoint(record.value);
        } catch (error) {
          if (!(error instanceof CheckpointDecodeError)) throw error;
          metrics.stateCheckpointsIgnored.inc({ reason: error.reason });
          continue;
        }
        if (decoded.epoch !== this.#epoch) continue;
        if (decoded.kind === 'mark') {
          if (record.key.equals(partitionMarkKey) && decoded.through >= mark) {
            mark = decoded.through;
            lostBelow = decoded.lostBelow;
          }
          continue;
        }
        const channel = record.key.toString('utf8');
        let document: StateDocument;
        try {
          document =
            decoded.json === undefined ? undefined : (JSON.parse(decoded.json) as StateDocument);
        } catch {
          metrics.stateCheckpointsIgnored.inc({ reason: 'invalid' });
          continue;
        }
        this.#channels.delete(channel);
        this.#channels.set(channel, {
          document,
          json: decoded.json,
          offset: decoded.offset,
          pending: 0,
          known: true,
          arrayKey: decoded.arrayKey,
        });
        covered.set(channel, decoded.through);
        if (this.#channels.size > this.#options.maxChannels) {
          // The oldest stay in the topic only; reloaded on their next change.
          const [oldest] = this.#channels.keys();
          if (oldest !== undefined) {
            this.#channels.delete(oldest);
            covered.delete(oldest);
          }
          this.#dropped = true;
        }
      }
    }
    const logStart = (await events.offsets([partition])).get(partition)?.logStartOffset ?? 0;
    this.#head = mark + 1;
    this.#lastMark = mark;
    this.#lostBelow = lostBelow;
    if (this.#head < logStart) {
      // Retention deleted records the checkpoints do not cover.
      this.#head = logStart;
      this.#lostBelow = logStart;
    }
    this.#unknownByDefault = this.#lostBelow > 0;
    if (this.#unknownByDefault) {
      for (const [channel, entry] of this.#channels) {
        if (!this.#covers(covered.get(channel) ?? -1)) entry.known = false;
      }
    }
    metrics.stateCheckpointerChannels.inc(this.#channels.size);
    this.#nextMarkAt = Date.now() + this.#options.everyMs;
    this.#options.logger.info(
      { partition, channels: this.#channels.size, from: this.#head, mark },
      'state checkpointer started',
    );
  }

  /** Folds the partition as it grows, writing checkpoints. */
  async #follow(): Promise<void> {
    const { events, partition } = this.#options;
    this.#eventsLane ??= events.openLane(`checkpointer ${partition}`);
    while (!this.#closed) {
      const layout = events.layout ?? (await events.refreshLayout());
      if (layout.epoch !== this.#epoch) return; // recreated: load again
      const [read] = await events.fetch(
        layout.leaders[partition] ?? -1,
        [{ partition, offset: this.#head }],
        {
          lane: this.#eventsLane,
          maxWaitMs: fetchWaitMs,
          maxBytes: fetchMaxBytes,
          partitionMaxBytes: fetchMaxBytes,
        },
      );
      if (read === undefined) continue;
      if (read.status === 'stale_metadata') {
        await events.refreshLayout();
        continue;
      }
      if (read.status !== 'ok') {
        throw new Error(`events partition ${partition} read: ${read.kafkaError ?? read.status}`);
      }
      const due = new Set<string>();
      for (const record of read.records) {
        if (record.offset < this.#head) continue;
        this.#head = record.offset + 1;
        let event: EdgeEvent;
        try {
          event = new EdgeEvent(this.#epoch, partition, record);
        } catch {
          continue;
        }
        if (event.state === undefined || event.state === null) continue;
        const held = this.#channels.get(event.channel) ?? (await this.#enter(event.channel));
        const entry = this.#fold(held, event);
        if (entry !== undefined && entry.pending >= this.#options.everyChanges)
          due.add(event.channel);
      }
      if (due.size > 0) await this.#write([...due], false);
      await this.#bound();
      if (Date.now() >= this.#nextMarkAt) {
        const pending = [...this.#channels]
          .filter(([, entry]) => entry.pending > 0)
          .map(([name]) => name);
        await this.#write(pending, this.#head - 1 > this.#lastMark);
        this.#nextMarkAt = Date.now() + this.#options.everyMs;
      }
    }
  }

  /** Whether a checkpoint written with `through` is a known document (history lost below #lostBelow). */
  #covers(through: number): boolean {
    return this.#lostBelow <= 0 || through + 1 >= this.#lostBelow;
  }

  /** A channel not in memory: from its newest checkpoint when it was dropped, else new. */
  async #enter(channel: string): Promise<Channel> {
    const { metrics } = this.#options;
    let entry: Channel | undefined;
    if (this.#dropped) entry = await this.#reload(channel);
    entry ??= {
      document: undefined,
      json: undefined,
      offset: -1,
      pending: 0,
      known: !this.#unknownByDefault,
      arrayKey: undefined,
    };
    this.#channels.set(channel, entry);
    metrics.stateCheckpointerChannels.inc();
    return entry;
  }

  /** The channel's newest checkpoint of this epoch, or undefined when it has none. */
  async #reload(channel: string): Promise<Channel | undefined> {
    const { checkpoints, partition, metrics } = this.#options;
    this.#checkpointLane ??= checkpoints.read.openLane(`checkpointer ${partition}`);
    this.#index ??= new CheckpointIndex(checkpoints.read, this.#checkpointLane, partition);
    await this.#index.catchUp();
    const found = this.#index.find(channel).record;
    if (found < 0) return undefined;
    const record = await this.#index.fetch(found);
    if (record === undefined) throw new Error(`checkpoint of ${channel} at ${found} is gone`);
    const decoded = decodeCheckpoint(record.value);
    if (decoded.kind !== 'channel' || decoded.epoch !== this.#epoch) return undefined;
    metrics.stateCheckpointerReloads.inc();
    return {
      document:
        decoded.json === undefined ? undefined : (JSON.parse(decoded.json) as StateDocument),
      json: decoded.json,
      offset: decoded.offset,
      pending: 0,
      known: this.#covers(decoded.through),
      arrayKey: decoded.arrayKey,
    };
  }

  /** Drops the least recently changed channels past maxChannels, writing their unwritten changes first. */
  async #bound(): Promise<void> {
    const { maxChannels, metrics } = this.#options;
    if (this.#channels.size <= maxChannels) return;
    // Down to 90 % so that a partition just over the bound does not write on every change.
    const excess = this.#channels.size - Math.floor(maxChannels * 0.9);
    const names: string[] = [];
    for (const name of this.#channels.keys()) {
      if (names.length >= excess) break;
      names.push(name);
    }
    await this.#write(names, false);
    for (const name of names) this.#channels.delete(name);
    this.#dropped = true;
    metrics.stateCheckpointerChannels.dec(names.length);
    metrics.stateCheckpointerEvictions.inc(names.length);
  }

  #fold(entry: Channel, event: EdgeEvent): Channel | undefined {
    const { metrics, limits } = this.#options;
    const operation = event.state;
    if (operation === undefined || operation === null) return undefined;
    // Most recently changed last: the first ones are dropped first.
    this.#channels.delete(event.channel);
    this.#channels.set(event.channel, entry);
    if (!entry.known && operation === 'merge') return undefined;
    const result = applyStateChange(
      entry.document,
      {
        op: operation,
        data: event.data,
        position: formatPositionOf(this.#epoch, this.partition, event.offset),
      },
      limits,
    );
    if (!result.ok) return undefined;
    metrics.stateCheckpointerFolds.inc();
    entry.document = result.document;
    entry.json = result.json;
    entry.offset = event.offset;
    if (operation === 'put') entry.arrayKey = event.arrayKey === '' ? undefined : event.arrayKey;
    else if (operation === 'delete') entry.arrayKey = undefined;
    entry.known = true;
    entry.pending++;
    return entry;
  }

  /** Writes the checkpoints of `names` (and then the mark) with `through` = the fold's head. */
  async #write(names: readonly string[], mark: boolean): Promise<void> {
    const through = this.#head - 1;
    const records: CheckpointWrite[] = [];
    const written: Channel[] = [];
    for (const name of names) {
      const entry = this.#channels.get(name);
      if (entry === undefined || !entry.known || entry.pending === 0) continue;
      written.push(entry);
      records.push({
        partition: this.partition,
        key: Buffer.from(name, 'utf8'),
        value: encodeCheckpoint({
          kind: 'channel',
          epoch: this.#epoch,
          offset: entry.offset,
          through,
          json: entry.json,
          ...(entry.arrayKey === undefined ? {} : { arrayKey: entry.arrayKey }),
        }),
      });
    }
    if (mark) {
      records.push({
        partition: this.partition,
        key: partitionMarkKey,
        value: encodeCheckpoint({
          kind: 'mark',
          epoch: this.#epoch,
          through,
          lostBelow: this.#lostBelow,
        }),
      });
    }
    if (records.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.#options.checkpoints.write(records),
        new Promise((_resolve, reject) => {
          timer = setTimeout(() => {
            reject(new Error(`checkpoint write not acknowledged within ${writeTimeoutMs} ms`));
          }, writeTimeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
    for (const entry of written) entry.pending = 0;
    if (mark) this.#lastMark = through;
    this.#options.metrics.stateCheckpointsWritten.inc(records.length);
    let bytes = 0;
    for (const record of records) bytes += record.key.length + record.value.length;
    this.#options.metrics.stateCheckpointBytesWritten.inc(bytes);
  }

  /** Whether it was closed (read again after an await). */
  #isClosed(): boolean {
    return this.#closed;
  }

  /** Stops after the fetch in flight. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#running;
    this.#options.metrics.stateCheckpointerChannels.dec(this.#channels.size);
    this.#channels.clear();
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
