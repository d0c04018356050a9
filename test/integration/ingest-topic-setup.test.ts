/**
 * Ingest's topic set-up on a real broker, through the same admin client the
 * service builds: an absent topic is created with the configured shape and
 * its leaders placed, a topic of another shape is used as it is with a
 * warning, an absent topic is an error when creating is not allowed, and
 * two ingests starting at once agree on one topic.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { createKafkaAdmin, ensureTopic } from '@fanout/ingest';
import { createLogger, fetchTopicId, loadConfig, type FanoutConfig } from '@fanout/shared';
import { testKafka, uniqueName, type TestKafka } from '../support/index.js';

interface LogLine {
  readonly level: string;
  readonly msg: string;
  readonly [key: string]: unknown;
}

function capturingLogger(): { logger: ReturnType<typeof createLogger>; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const text of chunk.toString('utf8').split('\n')) {
        if (text !== '') lines.push(JSON.parse(text) as LogLine);
      }
      callback();
    },
  });
  return { logger: createLogger({ service: 'topic-setup-test', destination }), lines };
}

describe('ingest topic set-up', () => {
  let kafka: TestKafka;
  let config: FanoutConfig['kafka'];
  const made: string[] = [];

  before(async () => {
    kafka = await testKafka();
    config = loadConfig({ env: { FANOUT_KAFKA_BROKERS: kafka.brokers.join(',') } }).kafka;
  });

  after(async () => {
    if (made.length > 0) await kafka.admin.deleteTopics({ topics: made }).catch(() => {});
    await kafka.close();
  });

  async function setUp(
    topic: string,
    partitions: number,
    create: boolean,
  ): Promise<{ state: Awaited<ReturnType<typeof ensureTopic>>; lines: LogLine[] }> {
    const { logger, lines } = capturingLogger();
    const admin = createKafkaAdmin(config, 'topic-setup-test');
    try {
      const state = await ensureTopic({
        admin,
        kafka: config,
        wanted: { topic, partitions, replicationFactor: 1 },
        logger,
        create,
      });
      return { state, lines };
    } finally {
      await admin.close();
    }
  }

  it('creates an absent topic with the configured shape, its leaders placed', async () => {
    const topic = uniqueName('created');
    made.push(topic);
    const { state, lines } = await setUp(topic, 3, true);
    assert.equal(state.topic, topic);
    assert.equal(state.partitions, 3);
    assert.equal(state.replicationFactor, 1);
    assert.equal(state.mismatch, false);
    assert.equal(state.epoch, await fetchTopicId({ kafka: config, topic }));
    const creating = lines.find((line) => line.msg === 'creating topic');
    assert.deepEqual(
      { topic: creating?.['topic'], partitions: creating?.['partitions'], level: creating?.level },
      { topic, partitions: 3, level: 'info' },
    );
    // Seen by an independent client: three partitions, each with a leader.
    const metadata = await kafka.admin.fetchTopicMetadata({ topics: [topic] });
    const partitions = metadata.topics[0]?.partitions ?? [];
    assert.equal(partitions.length, 3);
    assert.ok(partitions.every((partition) => partition.leader >= 0));
  });

  it('uses a topic of another shape as it is, with a warning, and changes nothing', async () => {
    const topic = await kafka.createTopic({ name: 'other-shape', partitions: 2 });
    const { state, lines } = await setUp(topic, 4, true);
    assert.equal(state.partitions, 2);
    assert.equal(state.mismatch, true);
    assert.equal(state.epoch, await fetchTopicId({ kafka: config, topic }));
    const warning = lines.find((line) => line.level === 'warn');
    assert.equal(
      warning?.msg,
      'topic exists with a different shape than configured; using it as it is',
    );
    assert.deepEqual(warning['configured'], { partitions: 4, replicationFactor: 1 });
    assert.deepEqual(warning['actual'], { partitions: 2, replicationFactor: 1 });
    assert.ok(!lines.some((line) => line.msg === 'creating topic'));
    const metadata = await kafka.admin.fetchTopicMetadata({ topics: [topic] });
    assert.equal(metadata.topics[0]?.partitions.length, 2);
  });

  it('reports an absent topic when it may not create it', async () => {
    const topic = uniqueName('absent');
    await assert.rejects(setUp(topic, 1, false), {
      message: `topic ${topic} does not exist`,
    });
    assert.ok(!(await kafka.admin.listTopics()).includes(topic));
  });

  it('lets two ingests starting at once agree on one topic', async () => {
    const topic = uniqueName('concurrent');
    made.push(topic);
    const [first, second] = await Promise.all([setUp(topic, 2, true), setUp(topic, 2, true)]);
    assert.equal(first.state.epoch, second.state.epoch);
    assert.equal(first.state.partitions, 2);
    assert.equal(second.state.partitions, 2);
  });
});
