/**
 * The publish operation, transport-neutral: validate the whole batch, write
 * it, count it. The gRPC and HTTP servers are thin adapters around this.
 */
import { toFanoutError, type FanoutError } from '@fanout/shared';
import { prepareBatch, type IncomingEvent, type PublishLimits } from './event-validator.js';
import type { EventWriter, WriteContext, WrittenEvent } from './event-writer.js';
import type { IngestMetrics } from './ingest-metrics.js';

export type Transport = 'grpc' | 'grpc_stream' | 'http';

export class PublishService {
  constructor(
    private readonly writer: EventWriter,
    private readonly limits: PublishLimits,
    private readonly metrics: IngestMetrics,
  ) {}

  get ready(): boolean {
    return this.writer.isAvailable;
  }

  /** Publishes a batch; throws a FanoutError (nothing written on validation errors). */
  async publish(
    events: readonly IncomingEvent[],
    context: WriteContext,
    transport: Transport,
  ): Promise<WrittenEvent[]> {
    this.metrics.batchEvents.observe({ transport }, events.length);
    try {
      const prepared = prepareBatch(events, this.limits);
      const written = await this.writer.write(prepared, context);
      let bytes = 0;
      for (const [index, result] of written.entries()) {
        bytes += prepared[index]?.data.byteLength ?? 0;
        this.metrics.events.inc({ transport, outcome: result.duplicate ? 'duplicate' : 'written' });
      }
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
