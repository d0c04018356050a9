/**
 * The state trackers an edge holds, at most `edge.state.maxChannels`: a
 * request for a channel without one starts it; when the limit is reached the
 * least recently used tracker that no reader or request uses is evicted (its
 * hub subscription removed), and when every tracker is in use the new
 * channel is answered `state_unavailable`. A tracker that stopped (Kafka,
 * the log moved on) is dropped, so the next request starts afresh. With
 * checkpoints, a new tracker starts from its channel's newest checkpoint.
 * A tracker holds its document as canonical JSON and its patches, changing
 * or not (state-tracker.ts).
 */
import { FanoutError, type Logger, type StateLimits } from '@fanout/shared';
import type { EdgeMetrics } from '../../edge-metrics.js';
import type { ChannelHub } from '../channel-hub.js';
import type { CheckpointSource } from './checkpoint-source.js';
import { StateTracker } from './state-tracker.js';

export interface StateTrackersOptions {
  readonly hub: ChannelHub;
  readonly limits: StateLimits;
  readonly maxChannels: number;
  readonly patchRing: number;
  /** The patches held per channel add up to at most this × its document (edge.state.patchRingRatio). */
  readonly patchRingRatio?: number;
  readonly kafkaWaitMs: number;
  readonly metrics: EdgeMetrics;
  readonly logger: Logger;
  /** Where new trackers look for a checkpoint of their channel (edge.state.checkpoints). */
  readonly checkpoints?: CheckpointSource;
}

export class StateTrackers {
  readonly #options: StateTrackersOptions;
  /** By channel, least recently used first. */
  readonly #trackers = new Map<string, StateTracker>();
  /** One for every tracker: drops a tracker that stopped on its own. */
  readonly #onStopped = (stopped: StateTracker): void => {
    this.#drop(stopped);
  };

  constructor(options: StateTrackersOptions) {
    this.#options = options;
  }

  get size(): number {
    return this.#trackers.size;
  }

  /** The tracker of `channel` if one is held (for tests and metrics). */
  peek(channel: string): StateTracker | undefined {
    return this.#trackers.get(channel);
  }

  /**
   * The tracker of `channel`, started when there is none, pinned for the
   * caller (who calls `tracker.pins--` when its request is answered or its
   * reader joined).
   */
  acquire(channel: string): StateTracker {
    let tracker = this.#trackers.get(channel);
    if (tracker !== undefined && !tracker.closed) {
      this.#trackers.delete(channel);
      this.#trackers.set(channel, tracker);
      tracker.pins++;
      return tracker;
    }
    if (tracker !== undefined) this.#drop(tracker);
    this.#makeRoom();
    tracker = new StateTracker(channel, this.#options);
    tracker.onStopped = this.#onStopped;
    this.#trackers.set(channel, tracker);
    this.#options.metrics.stateTrackers.set(this.#trackers.size);
    tracker.pins++;
    return tracker;
  }

  /** Evicts least recently used trackers without readers until one more fits. */
  #makeRoom(): void {
    const max = this.#options.maxChannels;
    if (this.#trackers.size < max) return;
    for (const tracker of [...this.#trackers.values()]) {
      if (this.#trackers.size < max) return;
      if (tracker.inUse && !tracker.closed) continue;
      this.#drop(tracker);
      if (!tracker.closed) {
        tracker.stop(new FanoutError('state_unavailable', 'the state tracker was evicted'));
        this.#options.metrics.stateEvictions.inc();
      }
    }
    if (this.#trackers.size >= max) {
      throw new FanoutError(
        'state_unavailable',
        `this edge holds ${max} state channels with readers (edge.state.maxChannels); retry later or elsewhere`,
        { details: { reason: 'max_channels', retryAfterMs: 1000 } },
      );
    }
  }

  #drop(tracker: StateTracker): void {
    if (this.#trackers.get(tracker.channel) === tracker) this.#trackers.delete(tracker.channel);
    this.#options.metrics.stateTrackers.set(this.#trackers.size);
  }

  /** Stops every tracker (the edge is shutting down). */
  close(): void {
    for (const tracker of [...this.#trackers.values()]) {
      this.#drop(tracker);
      tracker.stop(new FanoutError('draining', 'this edge is shutting down'));
    }
  }
}
