export {
  chooseKafkaEnvironmentKind,
  ContainerKafkaEnvironment,
  containerRuntimeAvailable,
  kafkaContainerImage,
  LocalKafkaEnvironment,
  startKafkaEnvironment,
} from './kafka-environment.js';
export type { KafkaEnvironment, KafkaEnvironmentKind } from './kafka-environment.js';
export { stopOwnKafka, testKafka, uniqueName } from './test-kafka.js';
export type { TestKafka } from './test-kafka.js';
