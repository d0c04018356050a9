/**
 * Positions: where an event sits in the log. Text form
 * `<epoch>:<partition>:<offset>` (for example `k7Hq2a:3:1042`), used in JSON
 * frames, SSE `id:` fields and HTTP query parameters. The offset is the
 * event's Kafka offset; `-1` stands before the first offset of a partition
 * (the position of a subscription to a partition that was empty). Resuming
 * "after" a position delivers every event with a greater offset. Parsing is
 * strict: anything else is a `position_invalid` error, never a guess.
 * Browser-safe.
 */
import { FanoutError } from './fanout-error.js';

export interface PositionValue {
  readonly epoch: string;
  readonly partition: number;
  readonly offset: number;
}

const epochPattern = /^[A-Za-z0-9_-]{1,64}$/;
const decimal = /^(0|[1-9][0-9]*)$/;
/** Offsets also take -1: before the partition's first event. */
const offsetDecimal = /^(-1|0|[1-9][0-9]*)$/;
/** Kafka partitions are int32. */
const maxPartition = 2_147_483_647;

export function isValidEpoch(epoch: string): boolean {
  return epochPattern.test(epoch);
}

export function formatPosition(position: PositionValue): string {
  return formatPositionOf(position.epoch, position.partition, position.offset);
}

/** The text form from its parts, without building a PositionValue (used per event). */
export function formatPositionOf(epoch: string, partition: number, offset: number): string {
  return `${epoch}:${partition}:${offset}`;
}

function invalid(text: string, why: string): FanoutError {
  const shown = text.length > 80 ? `${text.slice(0, 80)}…` : text;
  return new FanoutError('position_invalid', `position "${shown}" is invalid: ${why}`, {
    details: { position: shown },
  });
}

/** Parses the text form; throws FanoutError('position_invalid') naming what is wrong. */
export function parsePosition(text: string): PositionValue {
  const parts = text.split(':');
  if (parts.length !== 3) {
    throw invalid(text, 'expected <epoch>:<partition>:<offset>');
  }
  const [epoch = '', partitionText = '', offsetText = ''] = parts;
  if (!isValidEpoch(epoch)) {
    throw invalid(text, 'the epoch must be 1-64 characters of [A-Za-z0-9_-]');
  }
  if (!decimal.test(partitionText) || Number(partitionText) > maxPartition) {
    throw invalid(text, 'the partition must be an integer from 0 to 2147483647');
  }
  if (!offsetDecimal.test(offsetText) || !Number.isSafeInteger(Number(offsetText))) {
    throw invalid(text, 'the offset must be an integer from -1 to 2^53-1');
  }
  return { epoch, partition: Number(partitionText), offset: Number(offsetText) };
}

/** Orders positions of one partition and epoch; throws if they are not comparable. */
export function comparePositions(a: PositionValue, b: PositionValue): number {
  if (a.epoch !== b.epoch || a.partition !== b.partition) {
    throw new RangeError(
      `positions ${formatPosition(a)} and ${formatPosition(b)} are in different logs`,
    );
  }
  return a.offset - b.offset;
}
