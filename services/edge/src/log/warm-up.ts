/**
 * The edge's warm-up at start, before it declares itself ready: every
 * partition it serves (all of the topic, or with cluster membership the ones
 * it owns) is started — offsets listed, its leader's connection open, the
 * live fetch loop running — and its replay buffer filled with its newest
 * events. The first live events then do not pay for connections and
 * metadata, and clients resuming after an edge restart from positions they
 * saw shortly before are served from memory instead of each reading Kafka.
 *
 * Bounded: after `timeoutMs` the edge is ready anyway (the readiness rules
 * stay those of Kafka's reachability) and logs which partitions were not
 * warmed; their clients are served the usual way, from shared cold reads.
 */
import type { Logger } from '@fanout/shared';

export interface WarmablePartitions {
  /** Starts reading `partition` and fills its ring with up to `events` events; answers the ring's size. */
  warm(partition: number, events: number, timeoutMs: number): Promise<number>;
}

export interface WarmUpResult {
  readonly partitions: number;
  readonly warmed: number;
  readonly events: number;
  readonly ms: number;
  /** Partitions not warmed in time (or not readable), with why. */
  readonly failed: readonly { readonly partition: number; readonly reason: string }[];
}

export async function warmUp(options: {
  readonly hub: WarmablePartitions;
  readonly partitions: readonly number[];
  readonly events: number;
  readonly timeoutMs: number;
  readonly logger: Logger;
}): Promise<WarmUpResult> {
  const began = performance.now();
  const { partitions, logger } = options;
  const outcomes = await Promise.allSettled(
    partitions.map((partition) => options.hub.warm(partition, options.events, options.timeoutMs)),
  );
  let events = 0;
  const failed: { partition: number; reason: string }[] = [];
  outcomes.forEach((outcome, index) => {
    const partition = partitions[index] ?? -1;
    if (outcome.status === 'fulfilled') events += outcome.value;
    else {
      const reason: unknown = outcome.reason;
      failed.push({ partition, reason: reason instanceof Error ? reason.message : String(reason) });
    }
  });
  const result: WarmUpResult = {
    partitions: partitions.length,
    warmed: partitions.length - failed.length,
    events,
    ms: Math.round(performance.now() - began),
    failed,
  };
  if (failed.length === 0) {
    logger.info(
      { partitions: result.partitions, events, ms: result.ms },
      'partitions warmed: read and their newest events in memory',
    );
  } else {
    logger.warn(
      {
        partitions: result.partitions,
        warmed: result.warmed,
        events,
        ms: result.ms,
        failed: failed.slice(0, 16),
      },
      'warm-up incomplete within edge.warmupTimeoutMs; ready anyway, the other partitions start on demand',
    );
  }
  return result;
}
