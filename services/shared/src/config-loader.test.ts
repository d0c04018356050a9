import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { configFields, envName } from './config-fields.js';
import { loadConfig, type LoadConfigOptions } from './config-loader.js';
import { configJsonSchema } from './config-schema.js';
import { isFanoutError } from './fanout-error.js';

function problemsOf(options: LoadConfigOptions): string {
  try {
    loadConfig(options);
  } catch (error) {
    assert.ok(isFanoutError(error));
    assert.equal(error.code, 'config_invalid');
    return error.message;
  }
  assert.fail('expected the configuration to be rejected');
}

const dir = mkdtempSync(join(tmpdir(), 'fanout-config-'));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});
let files = 0;
function configFile(content: unknown): string {
  const file = join(dir, `config-${++files}.json`);
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

describe('configuration', () => {
  it('is valid with defaults alone, and deeply frozen', () => {
    const config = loadConfig({ env: {} });
    assert.deepEqual(config.kafka.brokers, ['127.0.0.1:9092']);
    assert.equal(config.kafka.topic, 'fanout.events');
    assert.equal(config.kafka.partitions, 12);
    assert.equal(config.ingest.host, '127.0.0.1');
    assert.equal(config.ingest.grpcPort, 50051);
    assert.equal(config.ingest.maxEventBytes, 1024 * 1024);
    assert.equal(config.edge.port, 8081);
    assert.equal(config.telemetry.metricsPort, 9464);
    assert.equal(config.telemetry.tracing.exporter, 'none');
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.kafka));
    assert.ok(Object.isFrozen(config.kafka.brokers));
    assert.ok(Object.isFrozen(config.telemetry.tracing));
    assert.throws(() => {
      (config.edge as { port: number }).port = 1;
    }, TypeError);
  });

  it('documents and defaults every key, with unique environment variables', () => {
    const names = configFields.map((field) => field.env);
    assert.equal(new Set(names).size, names.length);
    for (const field of configFields) {
      assert.ok(field.description.length > 10, `${field.path} has no description`);
      assert.notEqual(field.defaultValue, undefined, `${field.path} has no default`);
      assert.notEqual(field.type, '', `${field.path} has no type`);
    }
    assert.equal(envName(['kafka', 'clientId']), 'FANOUT_KAFKA_CLIENT_ID');
    assert.equal(
      envName(['telemetry', 'tracing', 'sampleRatio']),
      'FANOUT_TELEMETRY_TRACING_SAMPLE_RATIO',
    );
    const port = configFields.find((field) => field.path === 'edge.port');
    assert.equal(port?.type, 'integer, 0–65535');
  });

  it('reads environment variables by type', () => {
    const config = loadConfig({
      env: {
        FANOUT_KAFKA_BROKERS: 'a:1, b:2,[::1]:9092',
        FANOUT_EDGE_PORT: '9000',
        FANOUT_KAFKA_SSL: 'true',
        FANOUT_LOG_LEVEL: 'debug',
        FANOUT_TELEMETRY_TRACING_SAMPLE_RATIO: '0.25',
        FANOUT_INGEST_ALLOWED_CONTENT_TYPES: 'application/json,text/plain',
        PATH: '/bin',
        FANOUT_TEST_KAFKA: 'container',
      },
    });
    assert.deepEqual(config.kafka.brokers, ['a:1', 'b:2', '[::1]:9092']);
    assert.equal(config.edge.port, 9000);
    assert.equal(config.kafka.ssl, true);
    assert.equal(config.log.level, 'debug');
    assert.equal(config.telemetry.tracing.sampleRatio, 0.25);
    assert.deepEqual(config.ingest.allowedContentTypes, ['application/json', 'text/plain']);
  });

  it('names every bad value with its variable and what it got', () => {
    const message = problemsOf({
      env: {
        FANOUT_EDGE_PORT: '70000',
        FANOUT_KAFKA_BROKERS: 'no-port,ok:9092,bad:0',
        FANOUT_KAFKA_SSL: 'yes',
        FANOUT_LOG_LEVEL: 'loud',
        FANOUT_KAFKA_PARTITIONS: '1e3',
        FANOUT_INGEST_MAX_EVENT_BYTES: '0x10',
        FANOUT_EDGE_MAX_CONNECTIONS: '-5',
        FANOUT_TELEMETRY_TRACING_SAMPLE_RATIO: '2',
        FANOUT_TELEMETRY_TRACING_ENDPOINT: 'collector:4318',
        FANOUT_INGEST_ALLOWED_CONTENT_TYPES: 'a,,b',
      },
    });
    assert.match(message, /FANOUT_EDGE_PORT: .* \(got "70000"\)/);
    assert.match(message, /FANOUT_KAFKA_BROKERS: item 1 must be host:port.* \(got "no-port"\)/);
    assert.match(message, /FANOUT_KAFKA_BROKERS: item 3 must be host:port.* \(got "bad:0"\)/);
    assert.match(message, /FANOUT_KAFKA_SSL: must be true or false \(got "yes"\)/);
    assert.match(message, /FANOUT_LOG_LEVEL: .*\(got "loud"\)/);
    assert.match(message, /FANOUT_KAFKA_PARTITIONS: must be a decimal number \(got "1e3"\)/);
    assert.match(message, /FANOUT_INGEST_MAX_EVENT_BYTES: must be a decimal number \(got "0x10"\)/);
    assert.match(message, /FANOUT_EDGE_MAX_CONNECTIONS: .*\(got "-5"\)/);
    assert.match(message, /FANOUT_TELEMETRY_TRACING_SAMPLE_RATIO: .*\(got "2"\)/);
    assert.match(message, /FANOUT_TELEMETRY_TRACING_ENDPOINT: must be an http\(s\) URL/);
    assert.match(message, /FANOUT_INGEST_ALLOWED_CONTENT_TYPES: must not have empty items/);
    assert.match(message, /^invalid configuration \(11 problems\):/);
  });

  it('rejects unknown FANOUT_ variables with a suggestion', () => {
    assert.match(
      problemsOf({ env: { FANOUT_KAFKA_BROKER: 'a:1' } }),
      /FANOUT_KAFKA_BROKER: unknown setting \(did you mean FANOUT_KAFKA_BROKERS\?\)/,
    );
    assert.match(problemsOf({ env: { FANOUT_WHATEVER_ELSE: '1' } }), /unknown setting$/m);
  });

  it('checks values that depend on each other', () => {
    const message = problemsOf({ env: { FANOUT_KAFKA_SASL_MECHANISM: 'scram-sha-512' } });
    assert.match(
      message,
      /kafka\.saslUsername \(FANOUT_KAFKA_SASL_USERNAME\): must be set when saslMechanism is scram-sha-512/,
    );
    assert.match(message, /kafka\.saslPassword \(FANOUT_KAFKA_SASL_PASSWORD\): must be set/);
    assert.match(
      problemsOf({ env: { FANOUT_INGEST_GRPC_PORT: '7000', FANOUT_INGEST_HTTP_PORT: '7000' } }),
      /FANOUT_INGEST_HTTP_PORT: must differ from grpcPort \(7000\)/,
    );
    const ephemeral = loadConfig({
      env: { FANOUT_INGEST_GRPC_PORT: '0', FANOUT_INGEST_HTTP_PORT: '0' },
    });
    assert.equal(ephemeral.ingest.httpPort, 0);
  });

  it('never prints secrets', () => {
    const message = problemsOf({
      env: { FANOUT_KAFKA_SASL_PASSWORD: 'hunter2', FANOUT_EDGE_PORT: 'x' },
    });
    assert.doesNotMatch(message, /hunter2/);
  });

  it('layers defaults, file, environment, then arguments', () => {
    const file = configFile({ kafka: { topic: 'from-file', partitions: 3, clientId: 'file' } });
    const config = loadConfig({
      env: {
        FANOUT_CONFIG_FILE: file,
        FANOUT_KAFKA_PARTITIONS: '6',
        FANOUT_KAFKA_CLIENT_ID: 'env',
      },
      argv: ['--kafka.clientId=argv', '--edge.port', '9100', '--kafka.ssl'],
    });
    assert.equal(config.kafka.topic, 'from-file');
    assert.equal(config.kafka.partitions, 6);
    assert.equal(config.kafka.clientId, 'argv');
    assert.equal(config.edge.port, 9100);
    assert.equal(config.kafka.ssl, true);
    assert.equal(config.kafka.replicationFactor, 1, 'untouched keys keep their defaults');
  });

  it('takes the file from --config over FANOUT_CONFIG_FILE', () => {
    const fromEnv = configFile({ kafka: { topic: 'env-file' } });
    const fromArgv = configFile({ kafka: { topic: 'argv-file' } });
    const config = loadConfig({
      env: { FANOUT_CONFIG_FILE: fromEnv },
      argv: ['--config', fromArgv],
    });
    assert.equal(config.kafka.topic, 'argv-file');
  });

  it('names bad file values by key, with what it got', () => {
    const file = configFile({ edge: { port: 'eighty' }, kafka: { brokers: ['ok:1', 'nope'] } });
    const message = problemsOf({ env: { FANOUT_CONFIG_FILE: file } });
    assert.match(message, /edge\.port: .*expected number.* \(got "eighty"\)/);
    assert.match(message, /kafka\.brokers: item 2 must be host:port.* \(got "nope"\)/);
  });

  it('rejects unknown keys in the file and unknown arguments', () => {
    const file = configFile({ kafka: { topik: 'x' }, extra: true });
    const message = problemsOf({ env: { FANOUT_CONFIG_FILE: file } });
    assert.match(message, /kafka\.topik: unknown key .*\(did you mean kafka\.topic\?\)/);
    assert.match(message, /extra: unknown key/);
    assert.match(
      problemsOf({ env: {}, argv: ['--edge.prot=1', 'stray'] }),
      /--edge\.prot: unknown argument \(did you mean --edge\.port\?\)[\s\S]*stray: unexpected argument/,
    );
    assert.match(problemsOf({ env: {}, argv: ['--edge.port'] }), /--edge\.port: needs a value/);
  });

  it('reports a missing or malformed file', () => {
    assert.match(
      problemsOf({ env: { FANOUT_CONFIG_FILE: join(dir, 'absent.json') } }),
      /FANOUT_CONFIG_FILE: cannot read the file/,
    );
    assert.match(
      problemsOf({ env: { FANOUT_CONFIG_FILE: configFile('{ nope') } }),
      /FANOUT_CONFIG_FILE: not valid JSON/,
    );
    assert.match(
      problemsOf({ env: { FANOUT_CONFIG_FILE: configFile([1, 2]) } }),
      /must hold a JSON object/,
    );
  });

  it('exports a JSON Schema with every section and key', () => {
    const schema = configJsonSchema();
    const properties = schema['properties'] as Record<string, { properties: object }>;
    assert.deepEqual(Object.keys(properties).sort(), [
      'auth',
      'bridge',
      'cluster',
      'edge',
      'ingest',
      'kafka',
      'log',
      'state',
      'telemetry',
    ]);
    for (const field of configFields) {
      let node: unknown = schema;
      for (const segment of field.segments) {
        node = (node as { properties: Record<string, unknown> }).properties[segment];
        assert.ok(node !== undefined, `${field.path} is missing from the JSON Schema`);
      }
    }
  });
});
