import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '@fanout/shared';
import { ProduceAcks } from '@platformatic/kafka';
import { producerOptions } from './record-producer.js';

const kafkaConfig = (env: Record<string, string> = {}) =>
  loadConfig({ env: { FANOUT_KAFKA_BROKERS: 'kafka-0.kafka:9092,[::1]:9093', ...env } }).kafka;

describe('record producer settings', () => {
  it('is an idempotent acks=all producer with bounded retries', () => {
    const options = producerOptions({
      kafka: kafkaConfig({ FANOUT_KAFKA_COMPRESSION: 'gzip', FANOUT_KAFKA_CLIENT_ID: 'app' }),
      topic: 'events',
      clientId: 'ingest',
      ackTimeoutMs: 7000,
    });
    assert.equal(options.idempotent, true);
    assert.equal(options.acks, ProduceAcks.ALL);
    assert.equal(options.compression, undefined, 'the produce pipeline compresses, not the client');
    assert.equal(options.clientId, 'app-ingest');
    assert.equal(options.timeout, 7000);
    assert.equal(options.retries, 2);
    assert.equal(options.autocreateTopics, false);
    assert.deepEqual(options.bootstrapBrokers, [
      { host: 'kafka-0.kafka', port: 9092 },
      { host: '::1', port: 9093 },
    ]);
  });

  it('connects with the kafka.* connection settings (TLS with SNI for host names)', () => {
    const options = producerOptions({
      kafka: kafkaConfig({
        FANOUT_KAFKA_BROKERS: 'kafka-0.kafka:9093',
        FANOUT_KAFKA_SSL: 'true',
        FANOUT_KAFKA_REQUEST_TIMEOUT_MS: '4000',
      }),
      topic: 'events',
      clientId: 'ingest',
      ackTimeoutMs: 7000,
    });
    assert.deepEqual(options.tls, {});
    assert.equal(options.tlsServerName, true);
    assert.equal(options.requestTimeout, 4000);
  });
});
