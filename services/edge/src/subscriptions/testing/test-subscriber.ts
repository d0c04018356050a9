/**
 * A subscriber for tests of the hub and the subscription core, standing in
 * for a transport: it delivers directly (as SSE does) unless a test gives it
 * a topic delivery, advances the subscription's cursor for each event it is
 * given (as every transport does) and hands the event to `received`.
 * Every answer a test did not ask for throws, so an unexpected reset,
 * refusal or close fails the test where it happens; a test overrides the
 * answers it follows.
 */
import type { ErrorCode, FanoutError } from '@fanout/shared';
import { anonymousClient, type ClientIdentity } from '../../admission/client-auth.js';
import type { EdgeEvent } from '../../log/edge-event.js';
import type { LiveDelivery, SubscribedState, Subscriber, TransportName } from '../subscriber.js';
import type { ResetInfo, Subscription } from '../subscription.js';

export class TestSubscriber implements Subscriber {
  readonly key: string;
  readonly transport: TransportName;
  readonly live: LiveDelivery = { kind: 'direct' };
  closed = false;

  constructor(key: string, transport: TransportName = 'sse') {
    this.key = key;
    this.transport = transport;
  }

  /** One event this subscriber was given (nothing by default). */
  protected received(_event: EdgeEvent): void {
    // A test that follows events records them here.
  }

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
    this.received(event);
    subscription.cursors.set(event.partition, event.offset);
  }

  batch<T>(deliveries: () => T): T {
    return deliveries();
  }

  subscribed(_requestId: number, _states: readonly SubscribedState[]): void {
    throw new Error('unexpected subscribed');
  }

  reset(_requestId: number, _subscription: Subscription, _reset: ResetInfo): void {
    throw new Error('unexpected reset');
  }

  refused(_requestId: number, label: string, error: FanoutError): void {
    throw new Error(`unexpected refusal of ${label}: ${error.message}`);
  }

  close(code: ErrorCode, message: string, _hint?: string): void {
    throw new Error(`unexpected close ${code}: ${message}`);
  }
}
