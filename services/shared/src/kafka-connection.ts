/**
 * How every fanout service connects to Kafka, from the `kafka.*` settings:
 * broker addresses, timeouts, TLS with the broker's host name as SNI, and
 * SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512). Every Kafka connection of the
 * services is a `@platformatic/kafka` client and takes its options from
 * here: ingest's producer and topic set-up (admin), the topic id lookup
 * (kafka-topic-id.ts) and the edge's partition reader.
 */
import { isIP } from 'node:net';
import type { Broker, ConnectionOptions } from '@platformatic/kafka';
import type { FanoutConfig } from './config-schema.js';

/** `host:port` or `[v6 address]:port` as a broker address (the brackets removed). */
export function parseBrokerAddress(text: string): Broker {
  const at = text.lastIndexOf(':');
  const host = text.slice(0, at).replace(/^\[(.*)\]$/, '$1');
  return { host, port: Number(text.slice(at + 1)) };
}

/**
 * The TLS server name (SNI) to send to a broker at `host`: the host name
 * itself, or none for an IP address, which is not a valid server name
 * (RFC 6066). Brokers behind a TLS router or a Kubernetes ingress are found
 * by it; without it such a listener answers with a certificate for another
 * name, and certificate verification fails.
 */
export function tlsServerNameOf(host: string): string | undefined {
  return isIP(host) === 0 ? host : undefined;
}

const saslMechanisms = {
  plain: 'PLAIN',
  'scram-sha-256': 'SCRAM-SHA-256',
  'scram-sha-512': 'SCRAM-SHA-512',
} as const;

/**
 * Connection settings of `@platformatic/kafka`: the configured timeouts,
 * TLS (trusting Node.js' CA store, which `NODE_EXTRA_CA_CERTS` extends) with
 * SNI when every broker is named by host name, and SASL.
 */
export function kafkaConnectionOptions(config: FanoutConfig['kafka']): ConnectionOptions {
  const options: ConnectionOptions = {
    connectTimeout: config.connectionTimeoutMs,
    requestTimeout: config.requestTimeoutMs,
  };
  if (config.ssl) {
    options.tls = {};
    // `true` sends the host of each connection, which for brokers found in
    // the metadata is the host they advertise; with a broker addressed by
    // IP, send none (the client has no per-broker choice).
    const named = config.brokers.every(
      (broker) => tlsServerNameOf(parseBrokerAddress(broker).host) !== undefined,
    );
    if (named) options.tlsServerName = true;
  }
  if (config.saslMechanism !== 'none') {
    options.sasl = {
      mechanism: saslMechanisms[config.saslMechanism],
      username: config.saslUsername,
      password: config.saslPassword,
    };
  }
  return options;
}
