/**
 * The publish operation, transport-neutral: authenticate the publisher,
 * validate the whole batch, check the publisher may publish to every channel
 * and is within its rate, write, count. The gRPC and HTTP servers are thin
 * adapters around this. Nothing of a rejected batch is written.
 */
import { FanoutError, toFanoutError, type ErrorCode } from '@fanout/shared';
import {
  prepareBatch,
  prepareEvent,
  type IncomingEvent,
  type PreparedEvent,
  type PublishLimits,
} from './event-validator.js';
import { prepareStateChange, type IncomingStateChange, type StateLimits } from './state-change.js';
import type {
  EventWriter,
  WriteContext,
  WriteOutcome,
  WrittenEvent,
} from '../kafka/event-writer.js';
import type { IngestMetrics } from '../ingest-metrics.js';
import type {
  PublisherAuth,
  PublisherCredentials,
  PublisherIdentity,
} from '../admission/publisher-auth.js';
import type { PublisherRateLimiter } from '../admission/publisher-rate-limiter.js';

export type Transport = 'grpc' | 'grpc_stream' | 'http';

/** Errors that end a whole PublishStream rather than answering one event. */
const callErrors: ReadonlySet<string> = new Set([
  'unauthenticated',
  'token_expired',
  'permission_denied',
]);

export interface PublishCall {
  readonly credentials: PublisherCredentials;
  /** The publisher, when the transport authenticated the call before reading it. */
  readonly identity?: PublisherIdentity | undefined;
  /** Absolute deadline, epoch milliseconds. */
  readonly deadline: number;
  readonly traceparent?: string;
  readonly tracestate?: string;
}

/** Whether a failure is the caller's (`rejected`) or the service's (`failed`). */
function failureOutcome(code: ErrorCode): 'rejected' | 'failed' {
  return code === 'kafka_unavailable' || code === 'deadline_exceeded' ? 'failed' : 'rejected';
}

/** What the writer stores of a call: the publisher's name (the envelope's `producer`), its deadline and trace context. */
function writeContext(producer: string, call: PublishCall): WriteContext {
  return {
    producer,
    deadline: call.deadline,
    ...(call.traceparent ? { traceparent: call.traceparent } : {}),
    ...(call.tracestate ? { tracestate: call.tracestate } : {}),
  };
}

export class PublishService {
  constructor(
    private readonly writer: EventWriter,
    private readonly limits: PublishLimits,
    private readonly auth: PublisherAuth,
    private readonly rateLimiter: PublisherRateLimiter,
    private readonly metrics: IngestMetrics,
    private readonly stateLimits: StateLimits,
  ) {}

  get ready(): boolean {
    return this.writer.isAvailable;
  }

  /**
   * Authenticates a call before its body is read; a failure is counted as
   * a failed call of `transport` and thrown.
   */
  async authenticate(
    credentials: PublisherCredentials,
    transport: Transport,
  ): Promise<PublisherIdentity> {
    try {
      return await this.auth.authenticate(credentials);
    } catch (error) {
      throw this.failed(error, 0, transport);
    }
  }

  /** Counts a call refused before its events were read (too large, over the memory budget). */
  refused(error: unknown, transport: Transport): FanoutError {
    return this.failed(error, 0, transport);
  }

  /** Publishes a batch; throws a FanoutError. */
  async publish(
    events: readonly IncomingEvent[],
    call: PublishCall,
    transport: Transport,
  ): Promise<WrittenEvent[]> {
    this.metrics.batchEvents.observe({ transport }, events.length);
    try {
      const identity = call.identity ?? (await this.auth.authenticate(call.credentials));
      const prepared = prepareBatch(events, this.limits);
      this.auth.authorize(identity, prepared);
      this.rateLimiter.take(identity.name, prepared.length);
      const written = await this.writer.write(prepared, writeContext(identity.name, call));
      this.countOutcomes(written, prepared, transport);
      return written;
    } catch (error) {
      throw this.failed(error, events.length, transport);
    }
  }

  /**
   * Writes one change of a channel's state document: one event with its
   * `state` set, through the same authorization, rate limit, idempotency
   * and writer as a publish; throws a FanoutError.
   */
  async changeState(
    change: IncomingStateChange,
    call: PublishCall,
    transport: Transport,
  ): Promise<WrittenEvent> {
    const operation = change.operation;
    this.metrics.batchEvents.observe({ transport }, 1);
    let written: WrittenEvent | undefined;
    try {
      const identity = call.identity ?? (await this.auth.authenticate(call.credentials));
      const prepared = [prepareStateChange(change, this.stateLimits, this.limits)];
      this.auth.authorize(identity, prepared);
      this.rateLimiter.take(identity.name, 1);
      [written] = await this.writer.write(prepared, writeContext(identity.name, call));
      if (written === undefined) throw new FanoutError('internal', 'the writer answered no result');
      this.countOutcomes([written], prepared, transport);
    } catch (error) {
      const failure = this.failed(error, 1, transport);
      const outcome = failureOutcome(failure.code);
      this.metrics.stateChanges.inc({ transport, operation, outcome });
      throw failure;
    }
    const outcome = written.duplicate ? 'duplicate' : 'written';
    this.metrics.stateChanges.inc({ transport, operation, outcome });
    return written;
  }

  /**
   * Publishes events that stand alone (a PublishStream's, gathered as they
   * arrive): each is validated and answered on its own, with its position
   * or its error. The publisher is authenticated and authorized once for all;
   * an authentication or permission error rejects the whole call (the stream
   * ends with it), and no event of the call is written.
   */
  async publishEach(
    events: readonly IncomingEvent[],
    call: PublishCall,
    transport: Transport,
  ): Promise<WriteOutcome[]> {
    this.metrics.batchEvents.observe({ transport }, events.length);
    const outcomes = new Array<WriteOutcome>(events.length);
    const prepared: PreparedEvent[] = [];
    const indexes: number[] = [];
    try {
      const identity = await this.auth.authenticate(call.credentials);
      let index = 0;
      for (const event of events) {
        try {
          prepared.push(prepareEvent(event, this.limits, 'event'));
          indexes.push(index);
        } catch (error) {
          outcomes[index] = this.failed(error, 1, transport, true);
        }
        index++;
      }
      if (prepared.length === 0) return outcomes;
      this.auth.authorize(identity, prepared);
      let written: WriteOutcome[];
      try {
        this.rateLimiter.take(identity.name, prepared.length);
        written = await this.writer.writeEach(prepared, writeContext(identity.name, call));
      } catch (error) {
        const failure = this.failed(error, prepared.length, transport, true);
        for (const index of indexes) outcomes[index] = failure;
        return outcomes;
      }
      this.countOutcomes(written, prepared, transport);
      let i = 0;
      for (const outcome of written) outcomes[indexes[i++] ?? 0] = outcome;
      return outcomes;
    } catch (error) {
      // Authentication, authorization or another error before writing: nothing was written.
      let unanswered = 0;
      for (let index = 0; index < events.length; index++) {
        if (outcomes[index] === undefined) unanswered++;
      }
      const failure = toFanoutError(error);
      const endsCall = callErrors.has(failure.code);
      this.failed(failure, unanswered, transport, !endsCall);
      if (endsCall) throw failure;
      for (let index = 0; index < events.length; index++) outcomes[index] ??= failure;
      return outcomes;
    }
  }

  /**
   * Counts what the writer answered for `prepared`: events written (and
   * their data bytes), duplicates answered from the idempotency window, and
   * failed events one by one (only `writeEach` answers those).
   */
  private countOutcomes(
    outcomes: readonly WriteOutcome[],
    prepared: readonly PreparedEvent[],
    transport: Transport,
  ): void {
    let bytes = 0;
    let written = 0;
    let duplicates = 0;
    let index = 0;
    for (const outcome of outcomes) {
      if (outcome instanceof FanoutError) this.failed(outcome, 1, transport, true);
      else if (outcome.duplicate) duplicates++;
      else {
        written++;
        bytes += prepared[index]?.data.byteLength ?? 0;
      }
      index++;
    }
    if (written > 0) this.metrics.events.inc({ transport, outcome: 'written' }, written);
    if (duplicates > 0) this.metrics.events.inc({ transport, outcome: 'duplicate' }, duplicates);
    this.metrics.bytes.inc({ transport }, bytes);
  }

  /** Counts a failure of `count` events: one error for a call, or one per event of a stream. */
  private failed(
    error: unknown,
    count: number,
    transport: Transport,
    perEvent = false,
  ): FanoutError {
    const fanoutError = toFanoutError(error);
    this.metrics.events.inc({ transport, outcome: failureOutcome(fanoutError.code) }, count);
    this.metrics.errors.inc({ transport, code: fanoutError.code }, perEvent ? count : 1);
    return fanoutError;
  }
}
