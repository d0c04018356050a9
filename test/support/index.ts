export {
  chooseKafkaEnvironmentKind,
  ContainerKafkaEnvironment,
  containerRuntimeAvailable,
  kafkaContainerImage,
  LocalKafkaEnvironment,
  startKafkaEnvironment,
} from './kafka-environment.js';
export type {
  KafkaEnvironment,
  KafkaEnvironmentKind,
  LocalKafkaOptions,
} from './kafka-environment.js';
export { readTopic, stopOwnKafka, testKafka, uniqueName } from './test-kafka.js';
export type { TestKafka, TopicRecord } from './test-kafka.js';
export { ingestClient, startIngest } from './ingest-harness.js';
export type { IngestClient, IngestHarness } from './ingest-harness.js';
