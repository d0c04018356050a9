/**
 * A kafkajs client from the configuration, logging through pino. Ingest
 * uses it to set up the topic (admin); events are written by the producer
 * of record-producer.ts.
 */
import { tlsServerNameOf, type FanoutConfig, type Logger } from '@fanout/shared';
import { connect as tcpConnect } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import kafkajs, { type ISocketFactory, type KafkaConfig, type SASLOptions } from 'kafkajs';

const { Kafka, logLevel } = kafkajs;

// We set the partition of every record ourselves (Kafka's default partitioner).
process.env['KAFKAJS_NO_PARTITIONER_WARNING'] ??= '1';
/** kafkajs notices that do not apply to how fanout uses it. */
const ignoredNotices = [
  // Retries are bounded on purpose: a failed producer is replaced by a new one (new producer id).
  'Limiting retries for the idempotent producer',
];

/**
 * kafkajs' own socket factory with Nagle's algorithm off (librdkafka turned
 * it off by default too): the writer batches by itself, and a small produce
 * request should not wait for the broker's delayed ACK.
 */
export const noDelaySocketFactory: ISocketFactory = (options) => socketOf(options);

/** `ssl` is as configured: TLS options, or nothing for plaintext. */
function socketOf({
  host,
  port,
  ssl,
  onConnect,
}: {
  host: string;
  port: number;
  ssl?: ConnectionOptions | undefined;
  onConnect: () => void;
}): ReturnType<ISocketFactory> {
  const servername = tlsServerNameOf(host);
  const socket = ssl
    ? tlsConnect(
        { host, port, ...(servername === undefined ? {} : { servername }), ...ssl },
        onConnect,
      )
    : tcpConnect({ host, port }, onConnect);
  socket.setNoDelay(true);
  socket.setKeepAlive(true, 60_000);
  return socket;
}

function saslOptions(config: FanoutConfig['kafka']): SASLOptions | undefined {
  switch (config.saslMechanism) {
    case 'none':
      return undefined;
    case 'plain':
      return { mechanism: 'plain', username: config.saslUsername, password: config.saslPassword };
    case 'scram-sha-256':
      return {
        mechanism: 'scram-sha-256',
        username: config.saslUsername,
        password: config.saslPassword,
      };
    case 'scram-sha-512':
      return {
        mechanism: 'scram-sha-512',
        username: config.saslUsername,
        password: config.saslPassword,
      };
  }
}

export function createKafka(
  config: FanoutConfig['kafka'],
  clientId: string,
  logger: Logger,
): InstanceType<typeof Kafka> {
  const sasl = saslOptions(config);
  const kafkaLogger = logger.child({ component: 'kafkajs' });
  const options: KafkaConfig = {
    clientId: `${config.clientId}-${clientId}`,
    brokers: [...config.brokers],
    ssl: config.ssl,
    socketFactory: noDelaySocketFactory,
    connectionTimeout: config.connectionTimeoutMs,
    requestTimeout: config.requestTimeoutMs,
    retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 2000 },
    logLevel: logLevel.WARN,
    logCreator: () => (entry) => {
      const { message, ...rest } = entry.log;
      if (ignoredNotices.some((notice) => message.startsWith(notice))) return;
      const level =
        entry.level === logLevel.ERROR ? 'warn' : entry.level === logLevel.WARN ? 'info' : 'debug';
      kafkaLogger[level]({ namespace: entry.namespace, ...rest }, message);
    },
    ...(sasl ? { sasl } : {}),
  };
  return new Kafka(options);
}
