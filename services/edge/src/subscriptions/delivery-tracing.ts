/**
 * OpenTelemetry spans for live delivery, continuing the producer's trace.
 *
 * Ingest writes the W3C trace context of its publish span into every event
 * (`Event.trace`). For each live event whose producer trace was sampled the
 * edge starts one CONSUMER span `fanout deliver`, child of that context, and
 * ends it when the event has been handed to every subscriber of this edge
 * (uWS topics and SSE streams), with the number of deliveries. Events of
 * unsampled traces cost one string check and no span: sampling stays the
 * producer's decision (parent-based), as the telemetry settings describe.
 */
import {
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  trace,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import type { EdgeEvent } from '../log/edge-event.js';

/** `00-<trace id>-<span id>-<flags>` with the sampled flag set. */
function sampled(traceparent: string): boolean {
  if (traceparent.length !== 55) return false;
  const flags = Number.parseInt(traceparent.slice(53), 16);
  return (flags & 1) === 1;
}

interface Delivery {
  readonly span: Span;
  ws: number;
  sse: number;
}

/** The spans of one batch of live events; only sampled events have one. */
export class TracedBatch {
  readonly #deliveries: Map<EdgeEvent, Delivery>;

  constructor(deliveries: Map<EdgeEvent, Delivery>) {
    this.#deliveries = deliveries;
  }

  /** Counts `count` deliveries of `event` over `transport`. */
  delivered(event: EdgeEvent, transport: 'ws' | 'sse', count: number): void {
    const delivery = this.#deliveries.get(event);
    if (delivery) delivery[transport] += count;
  }

  end(): void {
    const now = Date.now();
    for (const [event, delivery] of this.#deliveries) {
      delivery.span.setAttributes({
        'fanout.deliveries.ws': delivery.ws,
        'fanout.deliveries.sse': delivery.sse,
        'fanout.delivery_latency_ms': Math.max(0, now - event.timestamp),
      });
      delivery.span.end();
    }
  }
}

export class DeliveryTracing {
  readonly #topic: string;
  readonly #tracer: Tracer;

  constructor(topic: string, tracer: Tracer = trace.getTracer('fanout-edge')) {
    this.#topic = topic;
    this.#tracer = tracer;
  }

  /** Starts the spans of a batch's sampled events; undefined when none was sampled. */
  begin(events: readonly EdgeEvent[]): TracedBatch | undefined {
    let deliveries: Map<EdgeEvent, Delivery> | undefined;
    for (const event of events) {
      const traceparent = event.traceparent;
      if (!sampled(traceparent)) continue;
      const carrier: Record<string, string> = { traceparent };
      if (event.tracestate !== '') carrier['tracestate'] = event.tracestate;
      const parent = propagation.extract(ROOT_CONTEXT, carrier);
      const span = this.#tracer.startSpan(
        'fanout deliver',
        {
          kind: SpanKind.CONSUMER,
          attributes: {
            'messaging.system': 'kafka',
            'messaging.operation.type': 'process',
            'messaging.destination.name': this.#topic,
            'messaging.destination.partition.id': String(event.partition),
            'messaging.kafka.offset': event.offset,
            'fanout.channel': event.channel,
            'fanout.event.type': event.type,
            'fanout.position': event.position,
          },
        },
        parent,
      );
      deliveries ??= new Map();
      deliveries.set(event, { span, ws: 0, sse: 0 });
    }
    return deliveries ? new TracedBatch(deliveries) : undefined;
  }
}
