/**
 * The `Position` message of the binary protocol as a `PositionValue`, checked
 * by the same rules as the text form (`parsePosition`): a position that came
 * as protobuf is trusted no more than one that came as text. Browser-safe.
 */
import type { fanout } from '../generated/fanout.js';
import { FanoutError } from './fanout-error.js';
import { isValidEpoch, parsePosition, type PositionValue } from './position.js';

/**
 * Validates a decoded Position; throws FanoutError('position_invalid') naming
 * what is wrong. Absent fields take their protobuf defaults (partition and
 * offset 0, epoch empty, which is invalid).
 */
export function positionFromProto(message: fanout.v1.Position.$Properties): PositionValue {
  const epoch = message.epoch ?? '';
  if (!isValidEpoch(epoch)) {
    const shown = epoch.length > 80 ? `${epoch.slice(0, 80)}…` : epoch;
    throw new FanoutError(
      'position_invalid',
      `position epoch "${shown}" is invalid: the epoch must be 1-64 characters of [A-Za-z0-9_-]`,
      { details: { epoch: shown } },
    );
  }
  // One set of rules for both forms: a negative, fractional, too large or
  // non-number partition or offset prints as text that parsePosition rejects.
  const partition: unknown = message.partition ?? 0;
  const offset: unknown = message.offset ?? 0;
  return parsePosition(`${epoch}:${String(partition)}:${String(offset)}`);
}
