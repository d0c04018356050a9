/**
 * The edge bundle (`services/edge/dist/bundle/edge.js`, decision 050, built by
 * `npm run build` and the test runner with deploy/tools/edge-bundle.mjs): its
 * ajv transform keeps @platformatic/kafka's validators working while
 * compiling each only when first called, and the bundle itself starts as a
 * process, reports its start-up steps, becomes ready and serves events from
 * Kafka (replayed from before its start, and live).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { encodeEvent, partitionForChannel } from '@fanout/shared';
import type { Producer } from 'kafkajs';
import { SseClient } from '../support/edge-test-clients.js';
import { startEdgeProcess, testKafka, type EdgeProcess, type TestKafka } from '../support/index.js';
import { repoRoot } from '../support/repo-paths.js';

interface BundleTool {
  lazyAjvCompile(source: string): { code: string; replaced: number };
}

const toolUrl = pathToFileURL(join(repoRoot, 'deploy', 'tools', 'edge-bundle.mjs')).href;
const bundle = 'services/edge/dist/bundle/edge.js';

describe('edge bundle: lazy ajv validators', () => {
  let tool: BundleTool;
  let dir: string;

  before(async () => {
    tool = (await import(toolUrl)) as BundleTool;
    dir = mkdtempSync(join(tmpdir(), 'fanout-lazy-ajv-'));
  });

  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('rewrites every ajv.compile( of the kafka client option modules', () => {
    for (const client of ['base', 'admin', 'consumer', 'producer']) {
      const file = join(
        repoRoot,
        'node_modules/@platformatic/kafka/dist/clients',
        client,
        'options.js',
      );
      const source = readFileSync(file, 'utf8');
      const calls = source.match(/\bajv\.compile\(/g)?.length ?? 0;
      const { code, replaced } = tool.lazyAjvCompile(source);
      assert.ok(calls > 0, `${client}/options.js compiles validators`);
      assert.equal(replaced, calls, client);
      assert.equal(code.match(/\bajv\.compile\(/g)?.length, 1, 'only the helper compiles');
    }
  });

  it('compiles a validator on its first call, validates like ajv and exposes its errors', async () => {
    const ajvUrl = pathToFileURL(join(repoRoot, 'node_modules/ajv/dist/2020.js')).href;
    const source = [
      `import { Ajv2020 } from ${JSON.stringify(ajvUrl)};`,
      'export const ajv = new Ajv2020({ allErrors: true, strict: true });',
      'export const compiled = [];',
      'const compile = ajv.compile.bind(ajv);',
      'ajv.compile = (schema) => { compiled.push(schema); return compile(schema); };',
      "export const portValidator = ajv.compile({ type: 'object', properties: { port: { type: 'integer', minimum: 1 } }, required: ['port'] });",
      "export const nameValidator = ajv.compile({ type: 'string' });",
    ].join('\n');
    const { code, replaced } = tool.lazyAjvCompile(source);
    assert.equal(replaced, 2, 'both validators');
    const file = join(dir, 'options.mjs');
    writeFileSync(file, code);
    type Validate = ((data: unknown) => boolean) & { errors: unknown };
    const loaded = (await import(pathToFileURL(file).href)) as {
      ajv: { opts: { validateSchema?: unknown } };
      compiled: unknown[];
      portValidator: Validate;
      nameValidator: Validate;
    };
    assert.equal(loaded.compiled.length, 0, 'nothing compiled at import');
    const checkSchemas = loaded.ajv.opts.validateSchema;
    assert.equal(loaded.portValidator.errors, null);
    assert.equal(loaded.portValidator({ port: 0 }), false);
    assert.equal(loaded.compiled.length, 1, 'compiled at its first call, only this one');
    const errors = loaded.portValidator.errors as unknown as {
      instancePath: string;
      keyword: string;
    }[];
    assert.deepEqual(
      errors.map((e) => [e.instancePath, e.keyword]),
      [['/port', 'minimum']],
    );
    assert.equal(loaded.portValidator({ port: 9092 }), true);
    assert.equal(loaded.portValidator.errors, null, 'errors cleared by a valid call');
    assert.equal(loaded.compiled.length, 1, 'compiled once');
    assert.equal(loaded.nameValidator(3), false);
    assert.equal(loaded.compiled.length, 2);
    assert.equal(loaded.ajv.opts.validateSchema, checkSchemas, 'the instance option restored');
  });

  it('leaves the meta-schema check of the kafka schemas to the unbundled import', async () => {
    // Importing the package compiles every option validator with the
    // meta-schema check on (ajv's default): a schema it rejects throws here.
    const kafka = (await import('@platformatic/kafka')) as Record<string, unknown>;
    assert.equal(typeof kafka['Consumer'], 'function');
  });
});

describe('edge bundle: the process', { skip: !existsSync(join(repoRoot, bundle)) }, () => {
  let kafka: TestKafka;
  let producer: Producer;
  let edge: EdgeProcess | undefined;
  const partitions = 2;
  let topic: string;

  before(async () => {
    kafka = await testKafka();
    topic = await kafka.createTopic({ name: 'edge-bundle', partitions });
    producer = kafka.kafka.producer({ idempotent: true });
    await producer.connect();
  });

  after(async () => {
    await edge?.kill('SIGTERM');
    await producer?.disconnect();
    await kafka?.close();
  });

  async function publish(channel: string, id: string): Promise<void> {
    const value = encodeEvent({
      id,
      channel,
      type: 'test',
      contentType: 'application/json',
      data: Buffer.from(JSON.stringify({ id })),
      time: { seconds: Math.floor(Date.now() / 1000), nanos: 0 },
      producer: 'edge-bundle-test',
    });
    await producer.send({
      topic,
      acks: -1,
      messages: [
        {
          key: channel,
          value: Buffer.from(value.buffer, value.byteOffset, value.byteLength),
          partition: partitionForChannel(channel, partitions),
        },
      ],
    });
  }

  it('starts, reports its start-up steps, is ready and serves replayed and live events', async () => {
    const channel = 'bundle.ticks';
    await publish(channel, 'before-start');
    edge = await startEdgeProcess({ brokers: kafka.brokers, topic, script: bundle });
    const steps = edge.startupMs;
    for (const step of ['modules', 'building', 'kafka', 'warmed', 'listening']) {
      assert.equal(typeof steps[step], 'number', `startupMs.${step}`);
    }
    assert.ok(
      (steps['modules'] ?? Infinity) <= (steps['building'] ?? -1) &&
        (steps['building'] ?? Infinity) <= (steps['kafka'] ?? -1) &&
        (steps['kafka'] ?? Infinity) <= (steps['warmed'] ?? -1) &&
        (steps['warmed'] ?? Infinity) <= (steps['listening'] ?? -1),
      `steps in order: ${JSON.stringify(steps)}`,
    );
    const ready = await fetch(`${edge.metricsBase}/readyz`);
    assert.equal(ready.status, 200, await ready.text());
    const stream = await SseClient.open(
      `${edge.httpBase}/v1/channels/${channel}?watch=true&rewind=1`,
    );
    try {
      assert.equal(stream.status, 200);
      const replayed = await stream.take(1, (event) => event.data.includes('before-start'));
      assert.equal(replayed.length, 1);
      await publish(channel, 'after-start');
      const live = await stream.take(1, (event) => event.data.includes('after-start'));
      assert.equal(live.length, 1);
    } finally {
      await stream.close();
    }
    const metrics = await (await fetch(`${edge.metricsBase}/metrics`)).text();
    assert.match(metrics, /^fanout_edge_kafka_connected(\{[^}]*\})? 1$/m);
  });
});
