/**
 * A subscription: what one client follows (channels and patterns within a
 * namespace, optionally narrowed to event types) and, per partition, the
 * offset of the last event it has been given (its cursor). The hub moves
 * each subscription from catch-up to live one partition at a time; its
 * `Subscriber` (subscriber.ts) is the transport that carries the events.
 */
import { patternMatches } from '@fanout/shared';
import type { EdgeEvent } from '../log/edge-event.js';
import { formatStreamCursor } from './stream-cursor.js';
import type { Subscriber } from './subscriber.js';

export interface ResetInfo {
  readonly code: ResetCode;
  readonly partition: number;
  /** The position asked for (text form). */
  readonly requested: string;
  /** The oldest position that can be resumed from (text form). */
  readonly earliest: string;
}

/** Why a subscription cannot resume from its position: refetch, then subscribe again. */
export type ResetCode =
  'position_too_old' | 'position_epoch_mismatch' | 'position_partition_mismatch';

/**
 * Called by the hub when a subscription's position cannot be served any
 * more; given the subscription, so that one function can serve all the
 * subscriptions of a session (none of them holds a closure of its own).
 */
export type ResetHandler = (reset: ResetInfo, subscription: Subscription) => void;

/**
 * Longest a closed client (WebSocket or SSE) keeps its connection for the
 * client to read on to its final frame or event, after which it is ended.
 */
export const closeLingerMs = 30_000;

export interface SubscriptionSpec {
  readonly channels: readonly string[];
  readonly patterns: readonly string[];
  /** Event types to deliver; empty delivers all. */
  readonly types: readonly string[];
}

let nextId = 1;

export class Subscription {
  readonly id = nextId++;
  readonly channels: ReadonlySet<string>;
  readonly patterns: readonly string[];
  readonly types: ReadonlySet<string> | undefined;
  readonly subscriber: Subscriber;
  /** Last offset given to the client, per partition followed. */
  readonly cursors = new Map<number, number>();
  /** Partitions whose live events reach the client. */
  readonly live = new Set<number>();
  /**
   * The uWS topic it joined once every partition was live (topic delivery);
   * until then live partitions are delivered directly.
   */
  topic: string | undefined;
  /** Partitions the hub holds a reference to. */
  readonly acquired = new Set<number>();
  epoch = '';
  active = true;
  /** Free-form label of the subscription as the client named it. */
  readonly label: string;

  /** Called by the hub when the position cannot be served any more. */
  readonly #onReset: ResetHandler;

  constructor(
    spec: SubscriptionSpec,
    subscriber: Subscriber,
    label: string,
    onReset: ResetHandler,
  ) {
    this.channels = new Set(spec.channels);
    this.patterns = spec.patterns;
    this.types = spec.types.length > 0 ? new Set(spec.types) : undefined;
    this.subscriber = subscriber;
    this.label = label;
    this.#onReset = onReset;
  }

  get isPatternOnly(): boolean {
    return this.channels.size === 0;
  }

  matches(event: EdgeEvent): boolean {
    if (this.types !== undefined && !this.types.has(event.type)) return false;
    if (this.channels.has(event.channel)) return true;
    for (const pattern of this.patterns) {
      if (patternMatches(pattern, event.channel)) return true;
    }
    return false;
  }

  /** The hub cannot serve the subscription's position any more. */
  reset(reset: ResetInfo): void {
    this.#onReset(reset, this);
  }

  /** The stream cursor `<epoch>:<p>:<o>[,<p>:<o>...]`, partitions ascending. */
  cursorText(): string {
    return formatStreamCursor({ epoch: this.epoch, offsets: this.cursors });
  }
}
