export { prepareBatch, prepareEvent } from './event-validator.js';
export type { IncomingEvent, PreparedEvent, PublishLimits } from './event-validator.js';
export { EventWriter } from './event-writer.js';
export type { EventWriterOptions, WriteContext, WrittenEvent } from './event-writer.js';
export { IdempotencyWindow } from './idempotency-window.js';
export { startIngestApp } from './ingest-app.js';
export type { IngestApp, IngestAppOptions } from './ingest-app.js';
export { createIngestMetrics } from './ingest-metrics.js';
export type { IngestMetrics } from './ingest-metrics.js';
export { createKafka } from './kafka-client.js';
export { connectRecordProducer } from './record-producer.js';
export type {
  OutgoingRecord,
  RecordHeaders,
  RecordProducer,
  RecordProducerOptions,
} from './record-producer.js';
