import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from './config-loader.js';
import { kafkaConnectionOptions, parseBrokerAddress, tlsServerNameOf } from './kafka-connection.js';

const kafkaConfig = (env: Record<string, string> = {}) =>
  loadConfig({ env: { FANOUT_KAFKA_BROKERS: 'kafka-0.kafka:9092', ...env } }).kafka;

describe('Kafka connection settings', () => {
  it('parses host:port and bracketed IPv6 broker addresses', () => {
    assert.deepEqual(parseBrokerAddress('kafka-0.kafka:9092'), {
      host: 'kafka-0.kafka',
      port: 9092,
    });
    assert.deepEqual(parseBrokerAddress('[::1]:9093'), { host: '::1', port: 9093 });
    assert.deepEqual(parseBrokerAddress('127.0.0.1:19092'), { host: '127.0.0.1', port: 19092 });
  });

  it('names the TLS server by host name, never by IP address', () => {
    assert.equal(tlsServerNameOf('kafka-0.kafka.svc'), 'kafka-0.kafka.svc');
    assert.equal(tlsServerNameOf('localhost'), 'localhost');
    assert.equal(tlsServerNameOf('127.0.0.1'), undefined);
    assert.equal(tlsServerNameOf('::1'), undefined);
  });

  it('maps the timeouts, and nothing else without TLS and SASL', () => {
    assert.deepEqual(
      kafkaConnectionOptions(
        kafkaConfig({
          FANOUT_KAFKA_CONNECTION_TIMEOUT_MS: '1500',
          FANOUT_KAFKA_REQUEST_TIMEOUT_MS: '4000',
        }),
      ),
      { connectTimeout: 1500, requestTimeout: 4000 },
    );
  });

  it('sends SNI over TLS when every broker is named by host name', () => {
    const named = kafkaConnectionOptions(
      kafkaConfig({
        FANOUT_KAFKA_SSL: 'true',
        FANOUT_KAFKA_BROKERS: 'kafka-0.kafka:9093,kafka-1.kafka:9093',
      }),
    );
    assert.deepEqual(named.tls, {});
    assert.equal(named.tlsServerName, true);
  });

  it('sends no SNI when a broker is addressed by IP, IPv6 in brackets included', () => {
    for (const brokers of ['127.0.0.1:9093', '[::1]:9092', 'kafka-0.kafka:9093,[::1]:9092']) {
      const options = kafkaConnectionOptions(
        kafkaConfig({ FANOUT_KAFKA_SSL: 'true', FANOUT_KAFKA_BROKERS: brokers }),
      );
      assert.deepEqual(options.tls, {}, brokers);
      assert.equal(options.tlsServerName, undefined, brokers);
    }
  });

  it('uses no TLS unless kafka.ssl is set', () => {
    const options = kafkaConnectionOptions(kafkaConfig());
    assert.equal(options.tls, undefined);
    assert.equal(options.tlsServerName, undefined);
  });

  it('maps every SASL mechanism with its credentials', () => {
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
    assert.equal(kafkaConnectionOptions(kafkaConfig()).sasl, undefined);
  });
});
