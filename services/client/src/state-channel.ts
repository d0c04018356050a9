/**
 * One state channel as the client keeps it (`client.state(channel)`, or
 * `client.resource(url)` for an on-demand live resource): the
 * current JSON document, its position, and every update — the snapshot,
 * each change (position, patch, previous and new document), the changes the
 * edge's fold refused — to callbacks and async iterators. Patches are
 * applied with the shared state model (fast-json-patch, decision 041). A
 * patch whose `base` is not the position held, or that does not apply, is a
 * gap: the channel keeps its last consistent document and asks for a fresh
 * snapshot, so it never shows a state that skipped a change. Across
 * reconnects it resumes after its position: the edge answers the patches
 * after it, or a snapshot marked `reset`.
 */
import { comparePositions, FanoutError, parsePosition } from '@fanout/shared/portable-core';
import type {
  JsonPatchOperation,
  JsonValue,
  StateDeltaKind,
  StateDocument,
} from '@fanout/shared/portable-state';
import { AsyncQueue } from './async-queue.js';
import type {
  StatePatchMessage,
  StateRefusedMessage,
  StateSnapshotMessage,
} from './state-frames.js';
import { applyStatePatchMessage } from './state-patch.js';

export interface StateOptions {
  /**
   * How the edge sends each change over WebSocket: RFC 6902 operations
   * (`json-patch`, the default), an RFC 7396 merge patch where one can say
   * it (`merge-patch`), or the whole document (`full`). SSE and long-poll
   * send JSON Patch whatever this says.
   */
  readonly delta?: StateDeltaKind;
  readonly onUpdate?: (update: StateUpdate) => void;
  /** The channel ended with an error (refused by the edge, or a terminal close). */
  readonly onError?: (error: FanoutError) => void;
}

/** What a patch said, as received. */
export type StatePatchBody =
  | { readonly delta: 'json-patch'; readonly ops: readonly JsonPatchOperation[] }
  | { readonly delta: 'merge-patch'; readonly patch: JsonValue }
  | { readonly delta: 'full'; readonly document: StateDocument };

/**
 * One update of a state channel:
 * - `snapshot`: the whole document — the first one, or a fresh start
 *   (`reset`: the edge could not serve the position held, or the client
 *   refetched after a gap; `reason` says why);
 * - `change`: one change, `previous` → `value`;
 * - `refused`: a change of the log the edge's fold refused; the document
 *   stays as it was.
 * `value` is `undefined` when the channel has no document (`exists` false).
 */
export type StateUpdate =
  | {
      readonly type: 'snapshot';
      readonly channel: string;
      readonly position: string;
      readonly value: StateDocument;
      readonly exists: boolean;
      readonly previous: StateDocument;
      readonly reset: boolean;
      readonly reason?: string;
    }
  | {
      readonly type: 'change';
      readonly channel: string;
      readonly position: string;
      readonly value: StateDocument;
      readonly exists: boolean;
      readonly previous: StateDocument;
      readonly patch: StatePatchBody;
    }
  | {
      readonly type: 'refused';
      readonly channel: string;
      readonly position: string;
      readonly reason: string;
      readonly message: string;
    };

/**
 * `loading`: waiting for the first snapshot; `active`: the document is
 * current; `refetching`: a gap was found, a fresh snapshot is on its way
 * (`value` is the last consistent document meanwhile); `ended`.
 */
export type StateChannelState = 'loading' | 'active' | 'refetching' | 'ended';

/** `a` is after `b`; positions of another epoch or partition are not comparable (undefined). */
function isAfter(a: string, b: string): boolean | undefined {
  try {
    return comparePositions(parsePosition(a), parsePosition(b)) > 0;
  } catch {
    return undefined;
  }
}

function bodyOf(patch: StatePatchMessage, document: StateDocument): StatePatchBody {
  switch (patch.delta) {
    case 'json-patch':
      return { delta: 'json-patch', ops: patch.patch as unknown as JsonPatchOperation[] };
    case 'merge-patch':
      return { delta: 'merge-patch', patch: patch.patch };
    case 'full':
      return { delta: 'full', document };
  }
}

export class StateChannel implements AsyncIterable<StateUpdate> {
  #channel: string;
  /**
   * For `client.resource(url)`: the upstream URL it follows (the edge
   * computes and leases its channel); undefined for a state channel.
   */
  readonly resource: string | undefined;
  #statusChannel: string | undefined;
  readonly delta: StateDeltaKind;
  readonly #options: StateOptions;
  readonly #queues = new Set<AsyncQueue<StateUpdate>>();
  readonly #onGap: (channel: StateChannel) => void;
  readonly #onEnd: (channel: StateChannel) => void;
  readonly #ready: Promise<StateChannel>;
  #resolveReady: (channel: StateChannel) => void = () => {};
  #rejectReady: (error: FanoutError) => void = () => {};
  #state: StateChannelState = 'loading';
  #document: StateDocument;
  #position: string | undefined;
  /** The last position received (a refused change's included): where to resume. */
  #after: string | undefined;
  #gapReason: string | undefined;
  #gaps = 0;
  #error: FanoutError | undefined;

  /** @internal Created by `FanoutClient.state`. */
  constructor(
    channel: string,
    options: StateOptions,
    onGap: (channel: StateChannel) => void,
    onEnd: (channel: StateChannel) => void,
    resource?: string,
  ) {
    this.#channel = channel;
    this.resource = resource;
    this.delta = options.delta ?? 'json-patch';
    this.#options = options;
    this.#onGap = onGap;
    this.#onEnd = onEnd;
    this.#ready = new Promise((resolve, reject) => {
      this.#resolveReady = resolve;
      this.#rejectReady = reject;
    });
    // Not awaited by everyone: an ended channel must not be an unhandled rejection.
    this.#ready.catch(() => {});
  }

  /**
   * The state channel: as asked for, or for a resource the one the edge
   * named (empty until it did; `ready()` resolves after).
   */
  get channel(): string {
    return this.#channel;
  }

  /**
   * For a resource: the channel of its status events (`<channel>.status`,
   * follow it with `client.subscribe`), once the edge named it.
   */
  get statusChannel(): string | undefined {
    return this.#statusChannel;
  }

  /** @internal A resource's channels, as the edge that subscribed it named them. */
  bind(channel: string, statusChannel: string): void {
    this.#channel = channel;
    if (statusChannel !== '') this.#statusChannel = statusChannel;
  }

  /** The document; `undefined` before the first snapshot and when the channel has none. */
  get value(): StateDocument {
    return this.#document;
  }

  /** Whether the channel has a document (false before the first snapshot). */
  get exists(): boolean {
    return this.#document !== undefined;
  }

  /** The position of the document held (its ETag); store it with the value to compare later. */
  get position(): string | undefined {
    return this.#position;
  }

  get state(): StateChannelState {
    return this.#state;
  }

  /** Why the channel ended, if it ended with an error. */
  get error(): FanoutError | undefined {
    return this.#error;
  }

  /** Gaps found (a `base` that is not the position held, a patch that does not apply). */
  get gaps(): number {
    return this.#gaps;
  }

  /** Resolves once the first snapshot is in (`value` is then current); rejects if the channel ends first. */
  ready(): Promise<StateChannel> {
    return this.#ready;
  }

  /** Updates from now on, until the channel ends (an error ends it by throwing). */
  [Symbol.asyncIterator](): AsyncIterableIterator<StateUpdate> {
    const queue = new AsyncQueue<StateUpdate>(() => this.#queues.delete(queue));
    if (this.#state === 'ended') {
      if (this.#error) queue.fail(this.#error);
      else queue.end();
      return queue;
    }
    this.#queues.add(queue);
    return queue;
  }

  /** Stops following the channel; iterators finish. */
  close(): void {
    this.end();
  }

  /** @internal Where a (re)subscription continues after: none after a gap or before a snapshot. */
  get resumeAfter(): string | undefined {
    return this.#state === 'active' ? this.#after : undefined;
  }

  /** @internal Whether the channel still wants the edge. */
  get live(): boolean {
    return this.#state !== 'ended';
  }

  /** @internal A snapshot: the first, a reset, or the answer to a refetch. */
  snapshot(snapshot: StateSnapshotMessage): void {
    if (this.#state === 'ended') return;
    const first = this.#position === undefined;
    const reset = !first && (snapshot.reset || this.#state === 'refetching');
    const reason = snapshot.reset ? 'the edge could not serve the position held' : this.#gapReason;
    const previous = this.#document;
    this.#document = snapshot.state;
    this.#position = snapshot.position;
    this.#after = snapshot.position;
    this.#state = 'active';
    this.#gapReason = undefined;
    this.#emit({
      type: 'snapshot',
      channel: this.channel,
      position: snapshot.position,
      value: snapshot.state,
      exists: snapshot.state !== undefined,
      previous,
      reset,
      ...(reset && reason !== undefined ? { reason } : {}),
    });
    this.#resolveReady(this);
  }

  /** @internal One change; a gap asks for a fresh snapshot. */
  patch(patch: StatePatchMessage): void {
    // Before the snapshot, or while refetching: the snapshot to come covers it.
    if (this.#state !== 'active' || this.#position === undefined) return;
    const after = this.#after ?? this.#position;
    const isNew = isAfter(patch.position, after);
    if (isNew === false) return; // received before (a resume that overlapped)
    if (isNew === undefined) {
      this.#gap(`patch ${patch.position} is not in the log of ${this.#position}`);
      return;
    }
    if (patch.base !== undefined && patch.base !== this.#position) {
      this.#gap(`patch ${patch.position} applies to ${patch.base}, not ${this.#position}`);
      return;
    }
    const outcome = applyStatePatchMessage(this.#document, patch);
    if (!outcome.ok) {
      this.#gap(`patch ${patch.position} does not apply: ${outcome.message}`);
      return;
    }
    const previous = this.#document;
    this.#document = outcome.document;
    this.#position = patch.position;
    this.#after = patch.position;
    this.#emit({
      type: 'change',
      channel: this.channel,
      position: patch.position,
      value: outcome.document,
      exists: outcome.document !== undefined,
      previous,
      patch: bodyOf(patch, outcome.document),
    });
  }

  /** @internal A change the edge's fold refused. */
  refused(refused: StateRefusedMessage): void {
    if (this.#state !== 'active' || this.#after === undefined) return;
    if (isAfter(refused.position, this.#after) !== true) return;
    this.#after = refused.position;
    this.#emit({
      type: 'refused',
      channel: this.channel,
      position: refused.position,
      reason: refused.reason,
      message: refused.message,
    });
  }

  /** @internal The edge could not serve the position held (a Reset): fetch the document again. */
  gap(reason: string): void {
    if (this.#state === 'active') this.#gap(reason);
  }

  #gap(reason: string): void {
    this.#gaps++;
    this.#state = 'refetching';
    this.#gapReason = reason;
    this.#onGap(this);
  }

  #emit(update: StateUpdate): void {
    this.#options.onUpdate?.(update);
    for (const queue of this.#queues) queue.push(update);
  }

  /** @internal Ends with an error: callbacks, `ready()` and iterators hear it. */
  fail(error: FanoutError): void {
    if (this.#state === 'ended') return;
    this.#error = error;
    this.#state = 'ended';
    this.#options.onError?.(error);
    this.#rejectReady(error);
    for (const queue of this.#queues) queue.fail(error);
    this.#queues.clear();
    this.#onEnd(this);
  }

  /** @internal Ends without an error. */
  end(): void {
    if (this.#state === 'ended') return;
    this.#state = 'ended';
    this.#rejectReady(
      new FanoutError(
        'invalid_argument',
        `the state of ${this.resource ?? this.channel} was closed`,
      ),
    );
    for (const queue of this.#queues) queue.end();
    this.#queues.clear();
    this.#onEnd(this);
  }
}
