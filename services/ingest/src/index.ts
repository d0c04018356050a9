export { prepareBatch, prepareEvent } from './publishing/event-validator.js';
export type { IncomingEvent, PreparedEvent, PublishLimits } from './publishing/event-validator.js';
export { EventWriter } from './kafka/event-writer.js';
export type { EventWriterOptions, WriteContext, WrittenEvent } from './kafka/event-writer.js';
export { IdempotencyWindow } from './publishing/idempotency-window.js';
export { startIngestApp } from './ingest-app.js';
export type { IngestApp, IngestAppOptions } from './ingest-app.js';
export { createIngestMetrics } from './ingest-metrics.js';
export type { IngestMetrics } from './ingest-metrics.js';
export { createKafkaAdmin } from './kafka/kafka-admin.js';
export { connectRecordProducer } from './kafka/record-producer.js';
export { describeTopic, ensureTopic } from './kafka/topic-setup.js';
export type { TopicSetupOptions, TopicShape, TopicState } from './kafka/topic-setup.js';
export { encodeRecordHeaders, type EncodedHeaders } from './kafka/produce-request.js';
export type {
  OutgoingRecord,
  RecordProducer,
  RecordProducerOptions,
} from './kafka/record-producer.js';
