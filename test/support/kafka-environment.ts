/**
 * A real Apache Kafka broker for tests, behind one interface with two
 * implementations (`local-kafka-environment.ts`, `container-kafka-environment.ts`);
 * `start-kafka-environment.ts` chooses between them.
 */

export type KafkaEnvironmentKind = 'local' | 'container';

export interface KafkaEnvironment {
  /** Bootstrap servers, `host:port`. */
  readonly brokers: string[];
  readonly kind: KafkaEnvironmentKind;
  /** Stops the broker and removes its data; safe to call more than once. */
  stop(): Promise<void>;
}
