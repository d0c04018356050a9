/**
 * A subscription: what one client follows (channels and patterns within a
 * namespace, optionally narrowed to event types) and, per partition, the
 * offset of the last event it has been given (its cursor). Transports
 * implement `DeliveryTarget`; the hub moves each subscription from catch-up
 * to live one partition at a time.
 */
import { patternMatches } from '@fanout/shared';
import type { EdgeEvent } from '../edge-event.js';
import { formatStreamCursor } from './stream-cursor.js';

export interface ResetInfo {
  readonly code: ResetCode;
  readonly partition: number;
  /** The position asked for (text form). */
  readonly requested: string;
  /** The oldest position that can be resumed from (text form). */
  readonly earliest: string;
}

/** A client connection (or request) as the hub sees it. */
/** Why a subscription cannot resume from its position: refetch, then subscribe again. */
export type ResetCode =
  'position_too_old' | 'position_epoch_mismatch' | 'position_partition_mismatch';

/**
 * Longest a closed client (WebSocket or SSE) keeps its connection for the
 * client to read on to its final frame or event, after which it is ended.
 */
export const closeLingerMs = 30_000;

export interface DeliveryTarget {
  readonly closed: boolean;
  /** Bytes written to the client and not yet sent. */
  bufferedBytes(): number;
  /** Resolves when the buffered bytes fell under the limit, or the target closed. */
  drained(): Promise<void>;
  /** One event during catch-up, or live when the target is not topic-based. */
  deliver(event: EdgeEvent, subscription: Subscription): void;
  /**
   * Runs `deliveries` (a run of `deliver` calls) so their frames leave in as
   * few writes as the transport allows: corked on a WebSocket, where each
   * uncorked send is a system call of its own.
   */
  batch<T>(deliveries: () => T): T;
  /** The partition is caught up: from now on live events of it reach the client. */
  goLive(subscription: Subscription, partition: number): void;
  /** The subscription's position cannot be served any more. */
  reset(subscription: Subscription, reset: ResetInfo): void;
}

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
  readonly target: DeliveryTarget;
  /** Last offset given to the client, per partition followed. */
  readonly cursors = new Map<number, number>();
  /** Partitions whose live events reach the client. */
  readonly live = new Set<number>();
  /** Partitions the hub holds a reference to. */
  readonly acquired = new Set<number>();
  epoch = '';
  active = true;
  /** Free-form label of the subscription as the client named it. */
  readonly label: string;

  constructor(spec: SubscriptionSpec, target: DeliveryTarget, label: string) {
    this.channels = new Set(spec.channels);
    this.patterns = spec.patterns;
    this.types = spec.types.length > 0 ? new Set(spec.types) : undefined;
    this.target = target;
    this.label = label;
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

  /** The stream cursor `<epoch>:<p>:<o>[,<p>:<o>...]`, partitions ascending. */
  cursorText(): string {
    return formatStreamCursor({ epoch: this.epoch, offsets: this.cursors });
  }
}
