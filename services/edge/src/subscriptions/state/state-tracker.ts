/**
 * The state of one channel held by the edge: an internal subscriber of the
 * hub on the channel, so it gets the channel's records through the hub's
 * catch-up → live seam, from the start of the partition's log (position
 * -1). Every record with `Event.state` set is folded with `applyStateChange`
 * under the configured `state` limits; the channel's other events are not
 * part of the state. It holds the document's canonical JSON, the position
 * of the last change applied, and the last changes as patches (`PatchRing`,
 * bounded by count and by bytes) for readers that resume. The document as
 * values, which the fold and the diff need, exists only while a change is
 * folded: each change parses it from the JSON (a parse costs less than the
 * canonical stringify every fold does), and once the change reached the
 * readers its step keeps only its encoded patch. A channel, changing or
 * not, costs about its JSON, its patches and a small fixed part.
 *
 * Readers (`StateListener`) join in one synchronous step with the snapshot
 * they are given, so they receive exactly the changes after its position.
 * A change the fold refuses is never skipped silently: readers are told
 * (`state_change_refused` with its position) and the document stays.
 *
 * History that retention deleted is never guessed: when the log starts
 * after offset 0 and no put or delete of the channel has been folded since,
 * the document is unknown and the tracker answers `state_unavailable`
 * until a put or delete re-bases it.
 *
 * With checkpoints (`options.checkpoints`, docs/decisions/045-state-checkpoints.md)
 * the tracker starts from its channel's newest usable checkpoint instead:
 * the document at the checkpoint's offset, folding only the records after
 * what the checkpoint covers, so a fresh edge does not read the channel's
 * whole history. The snapshot position is then the checkpoint's offset until
 * a later change is folded, and every later change reaches readers exactly
 * once through the same hub seam.
 *
 * Patches are diffed with the `arrayKey` of the last put folded
 * (docs/decisions/047): a put's own key for its step, the same key for the
 * merges after it; a delete clears it. A checkpoint keeps the key, so a
 * tracker started from one diffs as one that read the whole history; a
 * tracker started from the middle of the log diffs index by index until the
 * next put.
 */
import {
  applyStateChange,
  FanoutError,
  parseArrayKey,
  formatPositionOf,
  parsePosition,
  partitionForChannel,
  toFanoutError,
  type ArrayKeyTokens,
  type ErrorCode,
  type Logger,
  type PositionValue,
  type StateDeltaKind,
  type StateDocument,
  type StateLimits,
} from '@fanout/shared';
import { anonymousClient, type ClientIdentity } from '../../admission/client-auth.js';
import type { EdgeEvent } from '../../log/edge-event.js';
import type { EdgeMetrics } from '../../edge-metrics.js';
import { kafkaUnavailable } from '../../log/kafka-wait.js';
import type { ChannelHub } from '../channel-hub.js';
import type { LiveDelivery, Subscriber } from '../subscriber.js';
import { Subscription, type ResetHandler, type ResetInfo } from '../subscription.js';
import type { CheckpointSource } from './checkpoint-source.js';
import { PatchRing } from './patch-ring.js';
import { statePatchOps } from './state-patch.js';
import { RefusedChange, StateStep } from './state-step.js';

/** A reader of a tracker: told every change after its snapshot, in order. */
export interface StateListener {
  /** A change was applied. */
  changed(step: StateStep): void;
  /** A change could not be folded; the document stays as it was. */
  refused(change: RefusedChange): void;
  /** The tracker stopped (Kafka, the log moved on, eviction): the reader ends with `error`. */
  ended(error: FanoutError): void;
}

/** The document at a position. */
export interface StateSnapshot {
  readonly channel: string;
  /** The document; `undefined` when absent (never set, or deleted). */
  readonly document: StateDocument;
  /** Its canonical JSON; `undefined` when absent. */
  readonly json: string | undefined;
  /**
   * The position of the last change applied; when none was, the position
   * before the partition's first record (`<epoch>:<partition>:-1`).
   */
  readonly position: string;
  readonly offset: number;
}

/**
 * Where a tracker starts folding: the document at an offset. Without a
 * checkpoint it is the start of the log (offset -1, no document). A
 * tracker holds its document as JSON only, so that is all a start gives.
 */
export interface StateStart {
  /** Offset of the last change in `document` (-1: none). */
  readonly offset: number;
  /**
   * Fold the records after this offset (>= `offset`; default `offset`): a
   * checkpoint says the channel had no change between the two.
   */
  readonly readFrom?: number;
  /** The document at `offset`, as canonical JSON (undefined: none). */
  readonly json: string | undefined;
  /** The arrayKey of the last put in the document (a checkpoint keeps it); none by default. */
  readonly arrayKey?: string;
}

export interface StateTrackerOptions {
  readonly hub: ChannelHub;
  readonly limits: StateLimits;
  /** Changes held as patches for readers that resume. */
  readonly patchRing: number;
  /** The held patches add up to at most this × the document's JSON (default: no bound but the count). */
  readonly patchRingRatio?: number;
  /** Longest wait for Kafka on behalf of one request. */
  readonly kafkaWaitMs: number;
  readonly metrics: EdgeMetrics;
  readonly logger: Logger;
  /** Where trackers without a given start look for a checkpoint. */
  readonly checkpoints?: CheckpointSource;
}

/** Where a tracker's fold started. */
export type StateStartKind = 'log' | 'checkpoint' | 'given';

/** What a reader joining a tracker is given first. */
export type StateOpening =
  | { readonly kind: 'snapshot'; readonly snapshot: StateSnapshot; readonly reset: boolean }
  | { readonly kind: 'patches'; readonly steps: readonly StateStep[] };

let nextTrackerKey = 1;

/** The parsed arrayKey of a put, or undefined for none (or one an ingest should have refused). */
function arrayKeyTokens(arrayKey: string): ArrayKeyTokens | undefined {
  if (arrayKey === '') return undefined;
  const parsed = parseArrayKey(arrayKey);
  return 'tokens' in parsed ? parsed.tokens : undefined;
}

export class StateTracker implements Subscriber {
  readonly key = `state-${nextTrackerKey++}`;
  /** Its deliveries come from the hub directly; delivery traces count them as SSE. */
  readonly transport = 'sse';
  readonly live: LiveDelivery = { kind: 'direct' };
  readonly channel: string;
  closed = false;
  epoch = '';
  partition = -1;
  /** Requests being answered from it: it is not evicted meanwhile. */
  pins = 0;
  readonly #options: StateTrackerOptions;
  #subscription: Subscription | undefined;
  /** The document's canonical JSON; `undefined` when absent. Its values are parsed per change. */
  #json: string | undefined;
  /** The arrayKey of the last put folded (parsed), which its step and later merges diff with. */
  #arrayKey: ArrayKeyTokens | undefined;
  /** Offset of the last change applied, or where folding started. */
  #offset = -1;
  /** False while the history before the log's start is unknown (see the module comment). */
  #baseKnown = true;
  #ring: PatchRing;
  /** Made when the first reader joins (most held trackers have none). */
  #listeners: Set<StateListener> | undefined;
  #changeWaiters: Set<() => void> | undefined;
  #failure: FanoutError | undefined;
  readonly #started: Promise<void>;
  /** Where the fold started (a checkpoint, the log, a start given by the caller). */
  startedFrom: StateStartKind = 'log';
  /** The offset after which the fold started reading the partition. */
  readFrom = -1;
  #startMeasured = false;
  /** Called once when it stops on its own (a failure, not an eviction). */
  onStopped: ((tracker: StateTracker) => void) | undefined;

  constructor(channel: string, options: StateTrackerOptions, start?: StateStart) {
    this.channel = channel;
    this.#options = options;
    this.#ring = new PatchRing(options.patchRing, start?.offset ?? -1, options.patchRingRatio);
    if (start) this.#apply(start, 'given');
    this.#started = this.#start(start);
    // Requests see the failure through `caughtUp`; the registry drops the tracker.
    this.#started.catch((error: unknown) => {
      this.#fail(toFanoutError(error));
    });
  }

  get listenerCount(): number {
    return this.#listeners?.size ?? 0;
  }

  /** Whether requests or readers use it (it is not evicted then). */
  get inUse(): boolean {
    return this.pins > 0 || this.listenerCount > 0;
  }

  /** The patches held for readers that resume: how many and what they weigh. */
  get patches(): { readonly count: number; readonly bytes: number } {
    return { count: this.#ring.size, bytes: this.#ring.bytes };
  }

  /** The document as values, parsed from its canonical JSON (which the fold accepted: it parses). */
  #parsedDocument(): StateDocument {
    return this.#json === undefined ? undefined : (JSON.parse(this.#json) as StateDocument);
  }

  /** Whether the document is known (see the module comment). */
  get baseKnown(): boolean {
    return this.#baseKnown;
  }

  get failure(): FanoutError | undefined {
    return this.#failure;
  }

  /** The offset of the last change applied (or where folding started). */
  get offset(): number {
    return this.#offset;
  }

  #apply(start: StateStart, kind: StateStartKind): void {
    this.#offset = start.offset;
    this.#json = start.json;
    this.#arrayKey = start.arrayKey === undefined ? undefined : arrayKeyTokens(start.arrayKey);
    this.#ring.rebase(start.offset);
    this.readFrom = Math.max(start.offset, start.readFrom ?? start.offset);
    this.startedFrom = kind;
  }

  async #start(given: StateStart | undefined): Promise<void> {
    const { hub, kafkaWaitMs, checkpoints } = this.#options;
    const deadline = Date.now() + kafkaWaitMs;
    const layout = await hub.layout(kafkaWaitMs);
    this.epoch = layout.epoch;
    this.partition = partitionForChannel(this.channel, layout.partitions);
    if (given === undefined && checkpoints !== undefined) {
      const offsets = await hub.latestOffsets(this.partition, Math.max(1, deadline - Date.now()));
      const start = await checkpoints.startFor({
        channel: this.channel,
        epoch: this.epoch,
        partition: this.partition,
        offsets,
      });
      if (this.closed) return;
      if (start !== undefined) this.#apply(start, 'checkpoint');
    }
    let since = this.readFrom;
    for (;;) {
      if (this.closed) return;
      const subscription = new Subscription(
        { channels: [this.channel], patterns: [], types: [] },
        this,
        this.channel,
        StateTracker.#resetHandler,
      );
      const prepared = await hub.prepare(subscription, {
        epoch: this.epoch,
        offsets: new Map([[this.partition, since]]),
      });
      const [reset] = prepared.resets;
      if (reset === undefined) {
        if (this.#stopped()) {
          hub.remove(subscription);
          return;
        }
        this.#subscription = subscription;
        hub.goLiveNow(subscription, prepared.resuming);
        for (const partition of prepared.resuming) {
          hub.catchUp(subscription, partition).catch((error: unknown) => {
            this.#fail(
              error instanceof FanoutError
                ? error
                : new FanoutError('state_unavailable', 'the fold of the channel failed', {
                    details: { reason: 'fold_failed' },
                    cause: error,
                  }),
            );
          });
        }
        return;
      }
      hub.remove(subscription);
      if (reset.code !== 'position_too_old' || Date.now() > deadline) {
        throw new FanoutError(
          'state_unavailable',
          `the log of ${this.channel} changed while its state was being read (${reset.code}); retry`,
          { details: { reason: reset.code } },
        );
      }
      // Retention deleted the start of the log: fold from its first record,
      // the document unknown until a put or delete.
      since = parsePosition(reset.earliest).offset;
      this.readFrom = since;
      this.startedFrom = 'log';
      this.#baseKnown = false;
      this.#json = undefined;
      this.#arrayKey = undefined;
      this.#offset = since;
      this.#ring.rebase(since);
    }
  }

  /** Whether it stopped (read again after an await). */
  #stopped(): boolean {
    return this.closed;
  }

  /**
   * One handler for every tracker's subscription: a closure of its own would
   * hold the whole start-up's context (its layout, offsets and prepared
   * subscription) as long as the tracker lives.
   */
  static readonly #resetHandler: ResetHandler = (reset, subscription) => {
    const tracker = subscription.subscriber;
    if (tracker instanceof StateTracker) tracker.#onReset(reset, subscription);
  };

  /** The hub cannot serve the tracker's position any more (retention, a recreated topic). */
  #onReset(reset: ResetInfo, subscription: Subscription): void {
    if (subscription !== this.#subscription) return;
    this.#fail(
      new FanoutError(
        'state_unavailable',
        `the log of ${this.channel} moved on (${reset.code}): read the state again`,
        { details: { reason: reset.code } },
      ),
    );
  }

  /** Stops with `error`: readers end with it, the registry drops the tracker. */
  #fail(error: FanoutError): void {
    if (this.closed) return;
    this.#failure = error;
    this.#options.logger.warn({ err: error, channel: this.channel }, 'state tracker stopped');
    this.stop(error);
    this.onStopped?.(this);
  }

  /** Leaves the hub; readers end with `error`. */
  stop(error: FanoutError): void {
    if (this.closed) return;
    this.closed = true;
    this.#failure ??= error;
    if (this.#subscription) this.#options.hub.remove(this.#subscription);
    const listeners = [...(this.#listeners ?? [])];
    this.#listeners = undefined;
    for (const listener of listeners) listener.ended(error);
    this.#wakeChangeWaiters();
  }

  /**
   * The last offset of the partition folded: every record of the channel at
   * or below it has been seen.
   */
  foldedThrough(): number {
    const subscription = this.#subscription;
    if (subscription === undefined) return -2;
    if (subscription.live.has(this.partition)) {
      return (this.#options.hub.headOf(this.partition) ?? 0) - 1;
    }
    return subscription.cursors.get(this.partition) ?? -2;
  }

  /**
   * Waits until the fold reached the partition's high watermark as it is
   * now (read-your-writes), until `deadline` (epoch ms): then
   * `kafka_unavailable`. Throws the tracker's failure when it stopped.
   */
  async caughtUp(deadline: number): Promise<void> {
    const { hub } = this.#options;
    const layout = await hub.layout(Math.max(1, deadline - Date.now()));
    const partition = partitionForChannel(this.channel, layout.partitions);
    const [, offsets] = await Promise.all([
      this.#started,
      hub.latestOffsets(partition, deadline - Date.now()),
    ]);
    for (;;) {
      if (this.#failure) throw this.#failure;
      if (this.closed) throw new FanoutError('state_unavailable', 'the state tracker stopped');
      if (this.foldedThrough() >= offsets.highWatermark - 1) {
        if (!this.#startMeasured) {
          this.#startMeasured = true;
          this.#options.metrics.stateStartRecords.observe(
            { from: this.startedFrom },
            Math.max(0, this.foldedThrough() - this.readFrom),
          );
        }
        return;
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw kafkaUnavailable(
          `the state of ${this.channel}: folded up to offset ${this.foldedThrough()} of partition ${this.partition}, not yet ${offsets.highWatermark - 1}`,
          this.#options.kafkaWaitMs,
        );
      }
      await hub.headMoved(this.partition, Math.min(left, 250));
    }
  }

  /** Throws `state_unavailable` when the document cannot be served (see the module comment). */
  assertServable(): void {
    if (this.#failure) throw this.#failure;
    if (!this.#baseKnown) {
      throw new FanoutError(
        'state_unavailable',
        `the log of partition ${this.partition} no longer holds the history of ${this.channel} and no put or delete of it has been seen since; the state is available again after the next put or delete`,
        {
          details: {
            reason: 'history_truncated',
            earliest: formatPositionOf(this.epoch, this.partition, this.#ring.base),
          },
        },
      );
    }
  }

  snapshot(): StateSnapshot {
    const json = this.#json;
    return {
      channel: this.channel,
      // Values only for whom reads them (tests); readers are sent the JSON.
      get document(): StateDocument {
        return json === undefined ? undefined : (JSON.parse(json) as StateDocument);
      },
      json,
      position: formatPositionOf(this.epoch, this.partition, this.#offset),
      offset: this.#offset,
    };
  }

  /**
   * The changes after `since` when the ring still holds all of them (and,
   * with `delta`, can send them as that kind); `undefined` when the reader
   * needs a snapshot (too old, or a position of another epoch or
   * partition). `position_ahead` for a position beyond what the fold has
   * read.
   */
  stepsAfter(
    since: PositionValue,
    sinceText: string,
    delta?: StateDeltaKind,
  ): StateStep[] | undefined {
    if (since.epoch !== this.epoch || since.partition !== this.partition) return undefined;
    if (since.offset > this.foldedThrough()) {
      throw new FanoutError(
        'position_ahead',
        `position ${sinceText} is beyond the end of the log (last offset ${this.foldedThrough()})`,
      );
    }
    return this.#ring.after(since.offset, delta);
  }

  /**
   * Joins `listener` in the same synchronous step as it is given where it
   * starts: the changes after `since` when the ring holds them, else a
   * snapshot (`reset` when `since` was given). Every later change reaches
   * it exactly once. A reader of WebSocket merge-patch or full deltas passes
   * its `delta`: patches are held as JSON Patch only once readers were told.
   */
  join(
    listener: StateListener,
    since?: { value: PositionValue; text: string },
    delta?: StateDeltaKind,
  ): StateOpening {
    this.assertServable();
    if (this.closed) throw new FanoutError('state_unavailable', 'the state tracker stopped');
    const steps = since === undefined ? undefined : this.stepsAfter(since.value, since.text, delta);
    (this.#listeners ??= new Set()).add(listener);
    if (steps !== undefined) return { kind: 'patches', steps };
    return { kind: 'snapshot', snapshot: this.snapshot(), reset: since !== undefined };
  }

  leave(listener: StateListener): void {
    this.#listeners?.delete(listener);
    if (this.#listeners?.size === 0) this.#listeners = undefined;
  }

  /**
   * Resolves when a change after `offset` was applied, after `timeoutMs`,
   * when `signal` aborts, or when the tracker stops.
   */
  changedAfter(offset: number, timeoutMs: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.#changeWaiters?.delete(check);
        if (this.#changeWaiters?.size === 0) this.#changeWaiters = undefined;
        resolve();
      };
      const check = (): void => {
        if (this.closed || this.#offset > offset) done();
      };
      const timer = setTimeout(done, Math.max(0, timeoutMs));
      signal.addEventListener('abort', done, { once: true });
      (this.#changeWaiters ??= new Set()).add(check);
      check();
    });
  }

  #wakeChangeWaiters(): void {
    if (this.#changeWaiters === undefined) return;
    for (const check of [...this.#changeWaiters]) check();
  }

  // ---- the fold ---------------------------------------------------------------

  #fold(event: EdgeEvent): void {
    const { metrics, limits } = this.#options;
    const operation = event.state;
    if (operation === undefined) return;
    if (operation === null) {
      this.#refuse(
        new RefusedChange(
          event.offset,
          event.position,
          'unknown-operation',
          'a state operation this edge does not know (a newer ingest wrote it)',
        ),
      );
      return;
    }
    if (!this.#baseKnown && operation === 'merge') return;
    // A put does not read the document, but its patch is a diff from it.
    const previous = this.#parsedDocument();
    const result = applyStateChange(
      previous,
      { op: operation, data: event.data, position: event.position },
      limits,
    );
    if (!result.ok) {
      const { refusal } = result;
      this.#refuse(
        new RefusedChange(event.offset, refusal.position, refusal.reason, refusal.message),
      );
      return;
    }
    metrics.stateFolds.inc();
    if (operation === 'put') this.#arrayKey = arrayKeyTokens(event.arrayKey);
    else if (operation === 'delete') this.#arrayKey = undefined;
    if (this.#baseKnown && result.json === this.#json) {
      // The same document again (a bridge re-publishing an unchanged resource after a
      // failover, a put repeated by a producer): no step and no patch for readers. The state
      // keeps the position of the change that made it, so patch bases stay a chain.
      return;
    }
    const previousOffset = this.#offset;
    this.#json = result.json;
    this.#offset = event.offset;
    if (!this.#baseKnown) {
      // A put or delete: the document is known from here on.
      this.#baseKnown = true;
      this.#ring.rebase(event.offset);
      this.#wakeChangeWaiters();
      return;
    }
    const step = new StateStep(
      event.offset,
      event.position,
      formatPositionOf(this.epoch, this.partition, previousOffset),
      statePatchOps(previous, result.document, result.json, this.#arrayKey),
      { previous, next: result.document, nextJson: result.json },
    );
    this.#ring.push(step, result.json?.length ?? 0);
    if (this.#listeners !== undefined) {
      // Readers encode the step as they are told (WebSocket merge-patch and full deltas
      // from its documents, once per kind and format).
      for (const listener of this.#listeners) listener.changed(step);
    }
    // Then it keeps its encoded patch only: the values of neither document stay.
    this.#ring.releaseNewest();
    this.#wakeChangeWaiters();
  }

  #refuse(change: RefusedChange): void {
    this.#options.metrics.stateRefusals.inc({ reason: change.reason });
    this.#options.logger.warn(
      { channel: this.channel, position: change.position, reason: change.reason },
      `state change refused: ${change.message}`,
    );
    if (this.#listeners === undefined) return;
    for (const listener of this.#listeners) listener.refused(change);
  }

  // ---- Subscriber (the hub's side) ---------------------------------------------

  currentIdentity(): ClientIdentity {
    return anonymousClient;
  }

  bufferedBytes(): number {
    return 0;
  }

  drained(): Promise<void> {
    return Promise.resolve();
  }

  deliver(event: EdgeEvent, subscription: Subscription): void {
    subscription.cursors.set(event.partition, event.offset);
    if (subscription !== this.#subscription || this.closed) return;
    this.#fold(event);
  }

  batch<T>(deliveries: () => T): T {
    return deliveries();
  }

  subscribed(): void {
    // The tracker prepares its subscription with the hub itself.
  }

  reset(): void {
    // Resets reach the subscription's handler (`#onReset`).
  }

  refused(_requestId: number, _label: string, error: FanoutError): void {
    this.#fail(error);
  }

  close(code: ErrorCode, message: string): void {
    this.#fail(new FanoutError(code, message));
  }
}
