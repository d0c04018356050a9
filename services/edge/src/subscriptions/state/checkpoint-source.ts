/**
 * Where a state tracker starts: the newest checkpoint of its channel, when
 * one is usable, instead of the start of the partition's log (see
 * docs/decisions/045-state-checkpoints.md). Usable means: it decodes (a
 * corrupt record or one of an unknown version is ignored, counted and
 * logged), it is of the events topic's epoch (a checkpoint of a recreated
 * topic is ignored), its last change is below the high watermark this edge
 * reads (one ahead of the log is ignored), its document passes the state
 * limits like a PUT would (larger than `state.maxDocumentBytes` or deeper
 * than `state.maxDepth`: ignored), and the log still holds every record
 * after what it covers. A checkpoint below the log start is valid: history
 * that retention deleted is not needed any more. Any failure to read
 * checkpoints only means the tracker folds from the log start as before.
 */
import { applyStateChange, formatPositionOf, type Logger, type StateLimits } from '@fanout/shared';
import type { EdgeMetrics } from '../../edge-metrics.js';
import type { EventLog, LogLane, PartitionOffsets } from '../../log/event-log.js';
import { CheckpointIndex } from './checkpoint-index.js';
import {
  CheckpointDecodeError,
  decodeCheckpoint,
  type CheckpointRecord,
} from './checkpoint-record.js';
import type { StateStart } from './state-tracker.js';

export type CheckpointIgnoredReason =
  | 'corrupt'
  | 'unknown_version'
  | 'epoch'
  | 'ahead'
  | 'too_large'
  | 'invalid'
  | 'behind_log_start'
  | 'unreadable';

/** How long a checkpoint topic that cannot be read is not asked again. */
const unreadableBackoffMs = 5000;

export interface CheckpointSourceOptions {
  /** The checkpoint topic. */
  readonly log: EventLog;
  readonly limits: StateLimits;
  readonly metrics: EdgeMetrics;
  readonly logger: Logger;
}

export interface CheckpointQuery {
  readonly channel: string;
  /** The events topic's epoch and the channel's partition. */
  readonly epoch: string;
  readonly partition: number;
  /** The events partition's offsets now. */
  readonly offsets: PartitionOffsets;
}

export class CheckpointSource {
  readonly #options: CheckpointSourceOptions;
  readonly #indexes = new Map<number, CheckpointIndex>();
  #lane: LogLane | undefined;
  #unreadableUntil = 0;

  constructor(options: CheckpointSourceOptions) {
    this.#options = options;
  }

  /** Channels indexed, all partitions (for metrics and the memory figures). */
  get indexedChannels(): number {
    let count = 0;
    for (const index of this.#indexes.values()) count += index.size;
    return count;
  }

  /** The start of a tracker from a checkpoint, or `undefined` (fold from the log start). */
  async startFor(query: CheckpointQuery): Promise<StateStart | undefined> {
    if (Date.now() < this.#unreadableUntil) return undefined;
    try {
      return await this.#startFor(query);
    } catch (error) {
      this.#unreadableUntil = Date.now() + unreadableBackoffMs;
      this.#ignored('unreadable', query, error);
      return undefined;
    }
  }

  async #startFor(query: CheckpointQuery): Promise<StateStart | undefined> {
    const { log } = this.#options;
    let index = this.#indexes.get(query.partition);
    if (index === undefined) {
      this.#lane ??= log.openLane('checkpoints');
      index = new CheckpointIndex(log, this.#lane, query.partition);
      this.#indexes.set(query.partition, index);
    }
    await index.catchUp();
    const found = index.find(query.channel);
    if (found.record < 0) return undefined;
    const checkpoint = await this.#decode(index, found.record, query);
    if (checkpoint?.kind !== 'channel') {
      if (checkpoint !== undefined) this.#ignored('corrupt', query, 'a mark under a channel key');
      return undefined;
    }
    const { highWatermark, logStartOffset } = query.offsets;
    if (checkpoint.offset >= highWatermark) {
      this.#ignored('ahead', query, `offset ${checkpoint.offset} >= ${highWatermark}`);
      return undefined;
    }
    const position = formatPositionOf(query.epoch, query.partition, checkpoint.offset);
    let json: string | undefined;
    if (checkpoint.json !== undefined) {
      const checked = applyStateChange(
        undefined,
        { op: 'put', data: checkpoint.json, position },
        this.#options.limits,
      );
      if (!checked.ok) {
        this.#ignored(
          checked.refusal.reason === 'too-large' ? 'too_large' : 'invalid',
          query,
          checked.refusal.message,
        );
        return undefined;
      }
      json = checked.json;
    }
    let readFrom = checkpoint.through < highWatermark ? checkpoint.through : checkpoint.offset;
    if (readFrom + 1 < logStartOffset && found.mark > found.record) {
      // Retention deleted what follows the record's own cover; a later mark
      // says the channel had no change up to its offset either, unless the
      // mark says history was lost before the record's cover reached it.
      const mark = await this.#decode(index, found.mark, query);
      if (mark?.kind === 'mark' && mark.through < highWatermark && readFrom + 1 >= mark.lostBelow) {
        readFrom = Math.max(readFrom, mark.through);
      }
    }
    if (readFrom + 1 < logStartOffset) {
      this.#ignored(
        'behind_log_start',
        query,
        `covers up to ${readFrom}, log starts at ${logStartOffset}`,
      );
      return undefined;
    }
    this.#options.metrics.stateCheckpointsRead.inc();
    return {
      offset: checkpoint.offset,
      readFrom,
      json,
      ...(checkpoint.arrayKey === undefined ? {} : { arrayKey: checkpoint.arrayKey }),
    };
  }

  /** The record at `offset` when it decodes and is of the query's epoch. */
  async #decode(
    index: CheckpointIndex,
    offset: number,
    query: CheckpointQuery,
  ): Promise<CheckpointRecord | undefined> {
    const record = await index.fetch(offset);
    if (record === undefined) return undefined;
    let decoded: CheckpointRecord;
    try {
      decoded = decodeCheckpoint(record.value);
    } catch (error) {
      if (!(error instanceof CheckpointDecodeError)) throw error;
      this.#ignored(error.reason, query, error.message);
      return undefined;
    }
    if (decoded.epoch !== query.epoch) {
      this.#ignored('epoch', query, `epoch ${decoded.epoch}, the topic's is ${query.epoch}`);
      return undefined;
    }
    return decoded;
  }

  #ignored(reason: CheckpointIgnoredReason, query: CheckpointQuery, detail: unknown): void {
    this.#options.metrics.stateCheckpointsIgnored.inc({ reason });
    this.#options.logger.warn(
      {
        channel: query.channel,
        partition: query.partition,
        reason,
        ...(detail instanceof Error ? { err: detail } : { detail }),
      },
      'state checkpoint not used; folding from the log',
    );
  }
}
