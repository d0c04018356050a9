/**
 * The epoch of a position is the Kafka topic ID: a UUID the broker assigns
 * when a topic is created, which changes when the topic is deleted and
 * created again. A position from an older incarnation of the topic therefore
 * never matches, and is answered with a reset instead of being misread.
 *
 * Topic IDs travel in Metadata v10 and later, which `@platformatic/kafka`
 * speaks. The id is read with a short-lived `@platformatic/kafka` client over
 * the same connection settings as every other Kafka connection of the
 * services (`kafkaConnectionOptions`: timeouts, TLS with SNI, SASL PLAIN and
 * SCRAM).
 */
import { Admin, UserError } from '@platformatic/kafka';
import type { FanoutConfig } from './config-schema.js';
import { kafkaConnectionOptions, parseBrokerAddress } from './kafka-connection.js';

export interface TopicIdOptions {
  /** The `kafka.*` settings: brokers, TLS, SASL and timeouts. */
  readonly kafka: FanoutConfig['kafka'];
  /** The topic (default: `kafka.topic`). */
  readonly topic?: string;
  /** Appended to `kafka.clientId` (default `topic-id`). */
  readonly clientId?: string;
}

const uuidText = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

/**
 * base64url of the topic id's 16 bytes (given as Kafka's UUID text, with or
 * without dashes): 22 characters, a valid epoch.
 */
export function topicIdToEpoch(topicId: string): string {
  if (!uuidText.test(topicId)) throw new Error(`not a topic id: "${topicId}"`);
  return Buffer.from(topicId.replaceAll('-', ''), 'hex').toString('base64url');
}

/** `@platformatic/kafka` answers a Metadata request for an absent topic this way. */
function isUnknownTopic(error: unknown, topic: string): boolean {
  return error instanceof UserError && error.message === `Unknown topic ${topic}.`;
}

/**
 * Reads the topic's ID as a position epoch. Resolves `undefined` when the
 * topic does not exist; rejects when no broker answers, authentication fails,
 * or the broker has no topic ids (Kafka before 2.8).
 */
export async function fetchTopicId(options: TopicIdOptions): Promise<string | undefined> {
  const { kafka } = options;
  const topic = options.topic ?? kafka.topic;
  const admin = new Admin({
    ...kafkaConnectionOptions(kafka),
    clientId: `${kafka.clientId}-${options.clientId ?? 'topic-id'}`,
    bootstrapBrokers: kafka.brokers.map(parseBrokerAddress),
    autocreateTopics: false,
  });
  try {
    const metadata = await admin.metadata({ topics: [topic], forceUpdate: true });
    const id = metadata.topics.get(topic)?.id;
    if (id === undefined) return undefined;
    if (/^[0-]*$/.test(id)) throw new Error('the broker returned no topic id');
    return topicIdToEpoch(id);
  } catch (error) {
    if (isUnknownTopic(error, topic)) return undefined;
    throw new Error(`cannot read the id of topic ${topic}: ${messageOf(error)}`, { cause: error });
  } finally {
    await admin.close().catch(() => {});
  }
}

/** The message of an error and of what it aggregates (which broker failed, and why). */
function messageOf(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const nested = error instanceof AggregateError ? (error.errors as unknown[]) : [];
  const cause = error.cause === undefined ? [] : [error.cause];
  const details = [...nested, ...cause].map(messageOf).filter((text) => text !== '');
  return details.length === 0 ? error.message : `${error.message} (${details.join('; ')})`;
}
