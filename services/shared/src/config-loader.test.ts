import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { configFields, envName } from './config-fields.js';
import { loadConfig } from './config-loader.js';
import { configJsonSchema } from './config-schema.js';
import { isFanoutError } from './fanout-error.js';

function problemsOf(env: NodeJS.ProcessEnv): string {
  try {
    loadConfig({ env });
  } catch (error) {
    assert.ok(isFanoutError(error));
    assert.equal(error.code, 'config_invalid');
    return error.message;
  }
  assert.fail('expected the configuration to be rejected');
}

describe('configuration', () => {
  it('is valid with defaults alone, and frozen', () => {
    const config = loadConfig({ env: {} });
    assert.deepEqual(config.kafka.brokers, ['127.0.0.1:9092']);
    assert.equal(config.edge.port, 8081);
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.kafka.brokers));
  });

  it('documents and defaults every key, with unique environment variables', () => {
    const names = configFields.map((field) => field.env);
    assert.equal(new Set(names).size, names.length);
    for (const field of configFields) {
      assert.ok(field.description.length > 10, `${field.path} has no description`);
      assert.notEqual(field.defaultValue, undefined, `${field.path} has no default`);
    }
    assert.equal(envName(['telemetry', 'sampleRatio']), 'FANOUT_TELEMETRY_SAMPLE_RATIO');
  });

  it('reads environment variables by type', () => {
    const config = loadConfig({
      env: {
        FANOUT_KAFKA_BROKERS: 'a:1, b:2',
        FANOUT_EDGE_PORT: '9000',
        FANOUT_KAFKA_SSL: 'true',
        FANOUT_LOG_LEVEL: 'debug',
        PATH: '/bin',
      },
    });
    assert.deepEqual(config.kafka.brokers, ['a:1', 'b:2']);
    assert.equal(config.edge.port, 9000);
    assert.equal(config.kafka.ssl, true);
    assert.equal(config.log.level, 'debug');
  });

  it('names every bad value with its variable and what it got', () => {
    const message = problemsOf({
      FANOUT_EDGE_PORT: '70000',
      FANOUT_KAFKA_BROKERS: 'no-port',
      FANOUT_KAFKA_SSL: 'yes',
      FANOUT_LOG_LEVEL: 'loud',
    });
    assert.match(message, /FANOUT_EDGE_PORT: .* \(got "70000"\)/);
    assert.match(message, /FANOUT_KAFKA_BROKERS: must be host:port/);
    assert.match(message, /FANOUT_KAFKA_SSL: must be true or false \(got "yes"\)/);
    assert.match(message, /FANOUT_LOG_LEVEL: .*\(got "loud"\)/);
  });

  it('rejects unknown FANOUT_ variables with a suggestion', () => {
    assert.match(
      problemsOf({ FANOUT_KAFKA_BROKER: 'a:1' }),
      /FANOUT_KAFKA_BROKER: unknown setting \(did you mean FANOUT_KAFKA_BROKERS\?\)/,
    );
  });

  it('never prints secrets', () => {
    const message = problemsOf({ FANOUT_KAFKA_SASL_PASSWORD: 'hunter2', FANOUT_EDGE_PORT: 'x' });
    assert.doesNotMatch(message, /hunter2/);
  });

  it('layers defaults, file, then environment', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fanout-config-'));
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({ kafka: { topic: 'from-file', partitions: 3 } }));
    const config = loadConfig({
      env: { FANOUT_CONFIG_FILE: file, FANOUT_KAFKA_PARTITIONS: '6' },
    });
    assert.equal(config.kafka.topic, 'from-file');
    assert.equal(config.kafka.partitions, 6);
  });

  it('rejects unknown keys in the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fanout-config-'));
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({ kafka: { topik: 'x' } }));
    assert.match(problemsOf({ FANOUT_CONFIG_FILE: file }), /unknown key "kafka.topik"/);
  });

  it('exports a JSON Schema with every section', () => {
    const schema = configJsonSchema();
    const properties = schema['properties'] as Record<string, unknown>;
    assert.deepEqual(Object.keys(properties).sort(), [
      'edge',
      'ingest',
      'kafka',
      'log',
      'telemetry',
    ]);
  });
});
