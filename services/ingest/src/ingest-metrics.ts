/**
 * Prometheus metrics of the ingest service, declared once.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface IngestMetrics {
  readonly events: Counter<'transport' | 'outcome'>;
  readonly stateChanges: Counter<'transport' | 'operation' | 'outcome'>;
  readonly bytes: Counter<'transport'>;
  readonly errors: Counter<'transport' | 'code'>;
  readonly batchEvents: Histogram<'transport'>;
  readonly kafkaBatchEvents: Histogram;
  readonly ackLatency: Histogram;
  readonly inFlight: Gauge;
  readonly kafkaConnected: Gauge;
  readonly duplicates: Counter;
  readonly kafkaRetries: Counter;
  readonly kafkaProbes: Counter<'outcome'>;
  readonly pendingBytes: Gauge;
}

export function createIngestMetrics(registry: Registry): IngestMetrics {
  const registers = [registry];
  return {
    events: new Counter({
      name: 'fanout_ingest_events_total',
      help: 'Events received, by transport (grpc, grpc_stream, http) and outcome (written, duplicate, rejected, failed).',
      labelNames: ['transport', 'outcome'],
      registers,
    }),
    stateChanges: new Counter({
      name: 'fanout_ingest_state_changes_total',
      help: 'State changes received (each also counts as an event), by transport (grpc, http), operation (put, merge, delete) and outcome (written, duplicate, rejected, failed).',
      labelNames: ['transport', 'operation', 'outcome'],
      registers,
    }),
    bytes: new Counter({
      name: 'fanout_ingest_event_bytes_total',
      help: 'Bytes of event data written to Kafka.',
      labelNames: ['transport'],
      registers,
    }),
    errors: new Counter({
      name: 'fanout_ingest_errors_total',
      help: 'Failed publish calls (or stream events) by error catalog code.',
      labelNames: ['transport', 'code'],
      registers,
    }),
    batchEvents: new Histogram({
      name: 'fanout_ingest_request_events',
      help: 'Events per publish request.',
      labelNames: ['transport'],
      buckets: [1, 2, 5, 10, 50, 100, 500, 1000, 5000],
      registers,
    }),
    kafkaBatchEvents: new Histogram({
      name: 'fanout_ingest_kafka_batch_events',
      help: 'Events per produce request sent to Kafka (after merging concurrent publishes).',
      buckets: [1, 5, 10, 50, 100, 500, 1000, 5000, 20000],
      registers,
    }),
    ackLatency: new Histogram({
      name: 'fanout_ingest_kafka_ack_seconds',
      help: 'Time from accepting an event to Kafka acknowledging it (acks=all).',
      buckets: [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    inFlight: new Gauge({
      name: 'fanout_ingest_in_flight_events',
      help: 'Events accepted and not yet acknowledged by Kafka.',
      registers,
    }),
    kafkaConnected: new Gauge({
      name: 'fanout_ingest_kafka_connected',
      help: '1 when the producer can reach Kafka, 0 when publishes fail fast.',
      registers,
    }),
    duplicates: new Counter({
      name: 'fanout_ingest_idempotent_hits_total',
      help: 'Publishes answered from the idempotency window instead of being written again.',
      registers,
    }),
    kafkaRetries: new Counter({
      name: 'fanout_ingest_kafka_retries_total',
      help: 'Partition batches sent to Kafka again after a retriable error (leader moved, timeout, connection lost).',
      registers,
    }),
    kafkaProbes: new Counter({
      name: 'fanout_ingest_kafka_probes_total',
      help: 'Readiness probes of the broker (metadata round trips while no produce was acknowledged), by outcome (ok, failed).',
      labelNames: ['outcome'],
      registers,
    }),
    pendingBytes: new Gauge({
      name: 'fanout_ingest_pending_request_bytes',
      help: 'Estimated bytes of publish requests being read, decoded or waiting for Kafka (the budget of ingest.maxPendingBytes).',
      registers,
    }),
  };
}
