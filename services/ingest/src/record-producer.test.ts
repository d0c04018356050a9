import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '@fanout/shared';
import { ProduceAcks } from '@platformatic/kafka';
import { kafkaConnectionOptions, parseBrokerAddress, producerOptions } from './record-producer.js';

const kafkaConfig = (env: Record<string, string> = {}) =>
  loadConfig({ env: { FANOUT_KAFKA_BROKERS: 'kafka-0.kafka:9092,[::1]:9093', ...env } }).kafka;

describe('record producer settings', () => {
  it('parses host:port and bracketed IPv6 broker addresses', () => {
    assert.deepEqual(parseBrokerAddress('kafka-0.kafka:9092'), {
      host: 'kafka-0.kafka',
      port: 9092,
    });
    assert.deepEqual(parseBrokerAddress('[::1]:9093'), { host: '::1', port: 9093 });
    assert.deepEqual(parseBrokerAddress('127.0.0.1:19092'), { host: '127.0.0.1', port: 19092 });
  });

  it('is an idempotent acks=all producer with bounded retries and the configured compression', () => {
    const options = producerOptions({
      kafka: kafkaConfig({ FANOUT_KAFKA_COMPRESSION: 'gzip', FANOUT_KAFKA_CLIENT_ID: 'app' }),
      topic: 'events',
      clientId: 'ingest',
      ackTimeoutMs: 7000,
    });
    assert.equal(options.idempotent, true);
    assert.equal(options.acks, ProduceAcks.ALL);
    assert.equal(options.compression, 'gzip');
    assert.equal(options.clientId, 'app-ingest');
    assert.equal(options.timeout, 7000);
    assert.equal(options.retries, 2);
    assert.equal(options.autocreateTopics, false);
    assert.deepEqual(options.bootstrapBrokers, [
      { host: 'kafka-0.kafka', port: 9092 },
      { host: '::1', port: 9093 },
    ]);
  });

  it('maps timeouts, TLS and every SASL mechanism from the kafka settings', () => {
    const plain = kafkaConnectionOptions(
      kafkaConfig({
        FANOUT_KAFKA_CONNECTION_TIMEOUT_MS: '1500',
        FANOUT_KAFKA_REQUEST_TIMEOUT_MS: '4000',
      }),
    );
    assert.deepEqual(plain, { connectTimeout: 1500, requestTimeout: 4000 });

    const withIp = kafkaConnectionOptions(kafkaConfig({ FANOUT_KAFKA_SSL: 'true' }));
    assert.deepEqual(withIp.tls, {});
    assert.equal(withIp.tlsServerName, undefined, 'no SNI when a broker is addressed by IP');
    const named = kafkaConnectionOptions(
      kafkaConfig({ FANOUT_KAFKA_SSL: 'true', FANOUT_KAFKA_BROKERS: 'kafka-0.kafka:9093' }),
    );
    assert.equal(named.tlsServerName, true);

    for (const [mechanism, expected] of [
      ['plain', 'PLAIN'],
      ['scram-sha-256', 'SCRAM-SHA-256'],
      ['scram-sha-512', 'SCRAM-SHA-512'],
    ] as const) {
      const options = kafkaConnectionOptions(
        kafkaConfig({
          FANOUT_KAFKA_SASL_MECHANISM: mechanism,
          FANOUT_KAFKA_SASL_USERNAME: 'user',
          FANOUT_KAFKA_SASL_PASSWORD: 'secret',
        }),
      );
      assert.deepEqual(options.sasl, { mechanism: expected, username: 'user', password: 'secret' });
    }
  });
});
