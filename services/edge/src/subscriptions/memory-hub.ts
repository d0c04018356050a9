/**
 * A partition reader and a hub over a fresh in-memory event log
 * (`MemoryEventLog`), started: the edge's delivery path without Kafka or
 * uWS. The twin tests of the hub, the subscription core and the state
 * trackers run on it; the publisher of uWS topics is the caller's.
 */
import type { Logger } from '@fanout/shared';
import { MemoryEventLog, type MemoryEventLogOptions } from '../log/memory-event-log.js';
import { PartitionReader } from '../log/partition-reader.js';
import { ChannelHub, type HubObserver, type TopicPublisher } from './channel-hub.js';

export interface MemoryHubOptions extends MemoryEventLogOptions {
  readonly logger: Logger;
  /** Events the reader keeps per partition (default 1000). */
  readonly ringCapacity?: number;
  /** The uWS publisher (default: publishes nowhere). */
  readonly publish?: TopicPublisher;
  readonly replayFetchMaxBytes?: number;
  readonly batchMaxBytes?: number;
  readonly kafkaWaitMs?: number;
  readonly observer?: HubObserver;
}

export interface MemoryHub {
  readonly log: MemoryEventLog;
  readonly reader: PartitionReader;
  readonly hub: ChannelHub;
  /** Stops the reader and the log. */
  readonly close: () => Promise<void>;
}

export async function startMemoryHub(options: MemoryHubOptions): Promise<MemoryHub> {
  const log = new MemoryEventLog({
    ...(options.topic === undefined ? {} : { topic: options.topic }),
    ...(options.partitions === undefined ? {} : { partitions: options.partitions }),
    ...(options.nodes === undefined ? {} : { nodes: options.nodes }),
  });
  const { logger } = options;
  // The reader is built before the hub it feeds.
  const sink: { hub?: ChannelHub } = {};
  const reader = new PartitionReader({
    log,
    logger,
    ringCapacity: options.ringCapacity ?? 1000,
    maxWaitMs: 60_000,
    fetchMaxBytes: 1024 * 1024,
    partitionMaxBytes: 1024 * 1024,
    lingerMs: 60_000,
    sink: {
      onEvents: (partition, events) => sink.hub?.onEvents(partition, events),
      onGap: (partition, logStart) => sink.hub?.onGap(partition, logStart),
      onEpochChange: (epoch) => sink.hub?.onEpochChange(epoch),
      onHealth: (healthy) => sink.hub?.onHealth(healthy),
    },
  });
  const hub = new ChannelHub({
    reader,
    log,
    logger,
    publish: options.publish ?? (() => undefined),
    replayFetchMaxBytes: options.replayFetchMaxBytes ?? 1024 * 1024,
    ...(options.batchMaxBytes === undefined ? {} : { batchMaxBytes: options.batchMaxBytes }),
    replayPauseBytes: 1024 * 1024,
    kafkaWaitMs: options.kafkaWaitMs ?? 10_000,
    ...(options.observer === undefined ? {} : { observer: options.observer }),
  });
  sink.hub = hub;
  await reader.start();
  return {
    log,
    reader,
    hub,
    close: async () => {
      const closing = reader.close();
      await log.close();
      await closing;
    },
  };
}
