/**
 * Runs a `PartitionCheckpointer` for each partition this edge is the primary
 * owner of in the cluster placement (every partition when the edge runs
 * alone, `cluster.membership: none`), and follows placement changes: a
 * partition that moved away stops, one that arrived starts from the
 * checkpoints its previous owner wrote. Creates the checkpoint topic
 * (compacted, the events topic's partition count) when it does not exist.
 */
import { ownersOf, type Logger, type StateLimits } from '@fanout/shared';
import type { ClusterRouting } from '../../cluster/cluster-routing.js';
import type { EdgeMetrics } from '../../edge-metrics.js';
import type { CheckpointLog } from '../../log/checkpoint-log.js';
import type { EventLog } from '../../log/event-log.js';
import { PartitionCheckpointer } from './checkpoint-partition.js';

export interface CheckpointWriterOptions {
  readonly events: EventLog;
  readonly checkpoints: CheckpointLog;
  readonly routing: ClusterRouting;
  readonly replicationFactor: number;
  readonly limits: StateLimits;
  readonly everyChanges: number;
  readonly everyMs: number;
  readonly maxChannels: number;
  readonly metrics: EdgeMetrics;
  readonly logger: Logger;
}

/** How often ownership is looked at again. */
const placementCheckMs = 2000;

export class CheckpointWriter {
  readonly #options: CheckpointWriterOptions;
  readonly #running = new Map<number, PartitionCheckpointer>();
  #topicReady = false;
  #timer: NodeJS.Timeout | undefined;
  #ticking: Promise<void> | undefined;
  #closed = false;

  constructor(options: CheckpointWriterOptions) {
    this.#options = options;
  }

  /** The partitions checkpointed now. */
  get partitions(): readonly number[] {
    return [...this.#running.keys()].sort((a, b) => a - b);
  }

  start(): void {
    const tick = (): void => {
      this.#ticking = this.#tick()
        .catch((error: unknown) => {
          this.#options.logger.warn({ err: error }, 'state checkpoints cannot be written yet');
        })
        .finally(() => {
          this.#ticking = undefined;
          if (!this.#closed) this.#timer = setTimeout(tick, placementCheckMs);
        });
    };
    tick();
  }

  async #tick(): Promise<void> {
    const { events, routing } = this.#options;
    const layout = events.layout;
    if (layout === undefined) return;
    if (!this.#topicReady) {
      await this.#options.checkpoints.ensureTopic(
        layout.partitions,
        this.#options.replicationFactor,
      );
      this.#topicReady = true;
    }
    const wanted = new Set<number>();
    const placement = routing.clustered ? routing.placement(layout.partitions) : undefined;
    for (let partition = 0; partition < layout.partitions; partition++) {
      if (placement === undefined || ownersOf(placement, partition)[0] === routing.self.id) {
        wanted.add(partition);
      }
    }
    for (const [partition, checkpointer] of this.#running) {
      if (wanted.has(partition)) continue;
      this.#running.delete(partition);
      await checkpointer.close();
    }
    for (const partition of wanted) {
      if (this.#running.has(partition) || this.#closed) continue;
      this.#running.set(
        partition,
        new PartitionCheckpointer({
          partition,
          events,
          checkpoints: this.#options.checkpoints,
          limits: this.#options.limits,
          everyChanges: this.#options.everyChanges,
          everyMs: this.#options.everyMs,
          maxChannels: this.#options.maxChannels,
          metrics: this.#options.metrics,
          logger: this.#options.logger,
        }),
      );
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#ticking;
    await Promise.all([...this.#running.values()].map((checkpointer) => checkpointer.close()));
    this.#running.clear();
  }
}
