/**
 * A channel's events without a subscription (GET and long-poll): the
 * recent events, or those after a position, at most `limit`; with `wait`, a
 * read after a position that finds nothing waits up to that long for the
 * next event of the channel. Positions are checked as for a subscription:
 * another epoch or partition, too old, or ahead of the log is an error.
 */
import {
  assertValidChannel,
  FanoutError,
  formatPositionOf,
  partitionForChannel,
  type FanoutConfig,
} from '@fanout/shared';
import type { ClientAuth, ClientIdentity } from '../admission/client-auth.js';
import type { EdgeEvent } from '../log/edge-event.js';
import type { EdgeMetrics } from '../edge-metrics.js';
import { withKafkaDeadline } from '../log/kafka-wait.js';
import type { PartitionReader } from '../log/partition-reader.js';
import type { ChannelHub } from './channel-hub.js';
import { cursorOffsetIn, type StreamCursor } from './stream-cursor.js';

export interface ChannelReadOptions {
  readonly hub: ChannelHub;
  readonly reader: PartitionReader;
  readonly auth: ClientAuth;
  readonly config: FanoutConfig['edge'];
  readonly metrics: EdgeMetrics;
}

export interface ChannelReadRequest {
  readonly channel: string;
  /** Read after this position; absent: the recent events. */
  readonly after?: StreamCursor;
  /** `after` as the client wrote it, for messages. */
  readonly afterText: string;
  readonly limit: number;
  /** Seconds to wait for an event after `after` when there is none yet. */
  readonly wait: number;
}

export interface ChannelReadResult {
  readonly events: readonly EdgeEvent[];
  /** The position the next read continues after. */
  readonly position: string;
}

/** Whether `identity` may read `channel` (a valid channel name): throws when not. */
export function authorizeRead(
  options: Pick<ChannelReadOptions, 'auth'>,
  identity: ClientIdentity,
  channel: string,
): void {
  assertValidChannel(channel);
  options.auth.authorize(identity, channel);
}

/**
 * Reads the channel (authorized by `authorizeRead`); `undefined` when the
 * client went away while it waited.
 */
export async function readChannel(
  options: ChannelReadOptions,
  request: ChannelReadRequest,
  aborted: () => boolean,
  signal: AbortSignal,
): Promise<ChannelReadResult | undefined> {
  const { hub, reader, config, metrics } = options;
  const { channel, after, afterText, limit, wait } = request;
  // Kafka is waited for at most kafkaWaitMs, then kafka_unavailable (503).
  const deadline = Date.now() + config.kafkaWaitMs;
  const layout = await hub.layout(config.kafkaWaitMs);
  const partition = partitionForChannel(channel, layout.partitions);
  const tail = await reader.acquire(partition, Math.max(1, deadline - Date.now()));
  try {
    let from: number;
    if (after) {
      if (after.offsets.size !== 1) {
        throw new FanoutError(
          'position_invalid',
          `after must be one position (of partition ${partition}, the partition of ${channel}), not a cursor`,
        );
      }
      const earliest = formatPositionOf(layout.epoch, partition, tail.logStartOffset - 1);
      const offset = cursorOffsetIn(after, layout.epoch, partition);
      if (offset === 'position_epoch_mismatch') {
        throw new FanoutError(
          'position_epoch_mismatch',
          `position ${afterText} belongs to another epoch of the topic (now ${layout.epoch}); refetch the channel`,
          { details: { earliest } },
        );
      }
      if (offset === 'position_partition_mismatch') {
        throw new FanoutError(
          'position_partition_mismatch',
          `position ${afterText} is not of partition ${partition}, where ${channel} is (the topic's partition count changed?); refetch the channel`,
          { details: { earliest } },
        );
      }
      if (offset >= tail.head) {
        const known = (
          await withKafkaDeadline(
            hub.offsetsOf(partition),
            Math.max(1, deadline - Date.now()),
            `the offsets of partition ${partition}`,
          )
        ).highWatermark;
        if (offset >= known) {
          throw new FanoutError(
            'position_ahead',
            `position ${afterText} is beyond the end of the log (last offset ${known - 1})`,
          );
        }
      }
      if (offset + 1 < tail.logStartOffset) {
        throw new FanoutError(
          'position_too_old',
          `position ${afterText} is older than the log holds; refetch the channel`,
          {
            details: {
              earliest: formatPositionOf(layout.epoch, partition, tail.logStartOffset - 1),
            },
          },
        );
      }
      from = offset;
    } else {
      from = Math.max(tail.logStartOffset, tail.head - config.recentScanEvents) - 1;
    }
    let result = await hub.readChannel(partition, channel, from, after ? limit : 1_000_000);
    if (result === 'too_old') {
      throw new FanoutError(
        'position_too_old',
        `position ${afterText} is older than the log holds; refetch the channel`,
        {
          details: {
            earliest: formatPositionOf(layout.epoch, partition, tail.logStartOffset - 1),
          },
        },
      );
    }
    if (after && result.events.length === 0 && wait > 0) {
      // Woken by any event of the channel on the partition, which may be
      // one at or before `after` that the live read had not reached yet:
      // wait again until something newer exists or the time is up.
      const waitDeadline = Date.now() + wait * 1000;
      metrics.connections.inc({ transport: 'poll' });
      try {
        while (result.events.length === 0) {
          const left = waitDeadline - Date.now();
          if (left <= 0) break;
          await hub.waitForChannel(partition, channel, left, signal);
          if (aborted()) return undefined;
          result = await hub.readChannel(partition, channel, result.last, limit);
          if (result === 'too_old') {
            throw new FanoutError('position_too_old', 'the log moved on');
          }
        }
      } finally {
        metrics.connections.dec({ transport: 'poll' });
      }
    }
    const events = after ? result.events : result.events.slice(-limit);
    return { events, position: formatPositionOf(layout.epoch, partition, result.last) };
  } finally {
    reader.release(partition);
  }
}
