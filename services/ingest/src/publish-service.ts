/**
 * The publish operation, transport-neutral: authenticate the producer,
 * validate the whole batch, check the producer may publish to every channel
 * and is within its rate, write, count. The gRPC and HTTP servers are thin
 * adapters around this. Nothing of a rejected batch is written.
 */
import { toFanoutError, type FanoutError } from '@fanout/shared';
import { prepareBatch, type IncomingEvent, type PublishLimits } from './event-validator.js';
import type { EventWriter, WrittenEvent } from './event-writer.js';
import type { IngestMetrics } from './ingest-metrics.js';
import type { ProducerAuth, ProducerCredentials } from './producer-auth.js';
import type { ProducerRateLimiter } from './producer-rate-limiter.js';

export type Transport = 'grpc' | 'grpc_stream' | 'http';

export interface PublishCall {
  readonly credentials: ProducerCredentials;
  /** Absolute deadline, epoch milliseconds. */
  readonly deadline: number;
  readonly traceparent?: string;
  readonly tracestate?: string;
}

export class PublishService {
  constructor(
    private readonly writer: EventWriter,
    private readonly limits: PublishLimits,
    private readonly auth: ProducerAuth,
    private readonly rateLimiter: ProducerRateLimiter,
    private readonly metrics: IngestMetrics,
  ) {}

  get ready(): boolean {
    return this.writer.isAvailable;
  }

  /** Publishes a batch; throws a FanoutError. */
  async publish(
    events: readonly IncomingEvent[],
    call: PublishCall,
    transport: Transport,
  ): Promise<WrittenEvent[]> {
    this.metrics.batchEvents.observe({ transport }, events.length);
    try {
      const identity = await this.auth.authenticate(call.credentials);
      const prepared = prepareBatch(events, this.limits);
      this.auth.authorize(identity, prepared);
      this.rateLimiter.take(identity.name, prepared.length);
      const written = await this.writer.write(prepared, {
        producer: identity.name,
        deadline: call.deadline,
        ...(call.traceparent ? { traceparent: call.traceparent } : {}),
        ...(call.tracestate ? { tracestate: call.tracestate } : {}),
      });
      let bytes = 0;
      let duplicates = 0;
      for (let index = 0; index < written.length; index++) {
        bytes += prepared[index]?.data.byteLength ?? 0;
        if (written[index]?.duplicate === true) duplicates++;
      }
      if (written.length > duplicates) {
        this.metrics.events.inc({ transport, outcome: 'written' }, written.length - duplicates);
      }
      if (duplicates > 0) this.metrics.events.inc({ transport, outcome: 'duplicate' }, duplicates);
      this.metrics.bytes.inc({ transport }, bytes);
      return written;
    } catch (error) {
      throw this.failed(error, events.length, transport);
    }
  }

  private failed(error: unknown, count: number, transport: Transport): FanoutError {
    const fanoutError = toFanoutError(error);
    const rejected =
      fanoutError.code !== 'kafka_unavailable' && fanoutError.code !== 'deadline_exceeded';
    this.metrics.events.inc({ transport, outcome: rejected ? 'rejected' : 'failed' }, count);
    this.metrics.errors.inc({ transport, code: fanoutError.code });
    return fanoutError;
  }
}
