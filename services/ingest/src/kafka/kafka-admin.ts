/**
 * The `@platformatic/kafka` admin client ingest sets up its topic with
 * (topic-setup.ts), over the same connection settings as every other Kafka
 * connection of the services (`kafkaConnectionOptions`: timeouts, TLS with
 * SNI, SASL PLAIN and SCRAM). Events are written by the producer of
 * record-producer.ts.
 */
import { Admin } from '@platformatic/kafka';
import { kafkaConnectionOptions, parseBrokerAddress, type FanoutConfig } from '@fanout/shared';

/** Bounded retries of a failed admin request: 100 ms, doubling, at most 2 s apart. */
const adminRetries = 3;
function adminRetryDelayMs(attempt: number): number {
  return Math.min(100 * 2 ** Math.max(0, attempt - 1), 2000);
}

export function createKafkaAdmin(config: FanoutConfig['kafka'], clientId: string): Admin {
  return new Admin({
    ...kafkaConnectionOptions(config),
    clientId: `${config.clientId}-${clientId}`,
    bootstrapBrokers: config.brokers.map(parseBrokerAddress),
    timeout: config.requestTimeoutMs,
    retries: adminRetries,
    retryDelay: (_client, _operation, attempt) => adminRetryDelayMs(attempt),
    autocreateTopics: false,
  });
}
