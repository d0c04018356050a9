/**
 * Kafka with SASL (`kafka.saslMechanism`): a broker of its own from
 * deploy/kafka/local-kafka.mjs with a SASL_PLAINTEXT listener that takes
 * PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 for one user, next to its usual
 * PLAINTEXT listener (which this test only uses to check what the services
 * did). For each mechanism, an ingest and an edge, real processes, reach the
 * broker only through the SASL listener: the ingest creates its topic and
 * reads the topic id (the position epoch), events published through it are
 * read through the edge. Then SASL over TLS: a TLS listener (as a TLS router
 * in front of Kafka would be) before the SASL listener. Wrong credentials
 * stop the ingest at start-up with the broker's reason.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fetchTopicId, loadConfig, parseBrokerAddress, topicIdToEpoch } from '@fanout/shared';
import kafkajs from 'kafkajs';
import { startBrokerProxy, type BrokerProxy } from '../support/cluster-broker-proxy.js';
import {
  createTestCertificateAuthority,
  LocalKafkaEnvironment,
  publishAndReadBack,
  startEdgeProcess,
  startIngestProcess,
  uniqueName,
  type EdgeProcess,
  type IngestProcess,
  type TestCertificateAuthority,
} from '../support/index.js';

const username = 'fanout-test';
const password = randomBytes(12).toString('hex');
const partitions = 2;
const mechanisms = ['plain', 'scram-sha-256', 'scram-sha-512'] as const;
type Mechanism = (typeof mechanisms)[number];

describe('Kafka with SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512), with and without TLS', () => {
  let broker: LocalKafkaEnvironment;
  let saslBroker: string;
  let dir: string;
  let ca: TestCertificateAuthority;
  const proxies: BrokerProxy[] = [];
  const running: { ingest?: IngestProcess; edge?: EdgeProcess } = {};

  const saslEnv = (mechanism: Mechanism, secret = password): Record<string, string> => ({
    FANOUT_KAFKA_SASL_MECHANISM: mechanism,
    FANOUT_KAFKA_SASL_USERNAME: username,
    FANOUT_KAFKA_SASL_PASSWORD: secret,
  });

  /** The topic's id as an epoch, read by kafkajs' admin over the PLAINTEXT listener. */
  async function epochOverPlaintext(topic: string): Promise<string | undefined> {
    return fetchTopicId({
      kafka: loadConfig({ env: { FANOUT_KAFKA_BROKERS: broker.brokers.join(',') } }).kafka,
      topic,
    });
  }

  async function stopServices(): Promise<void> {
    await running.edge?.kill('SIGKILL');
    await running.ingest?.stop();
    delete running.edge;
    delete running.ingest;
  }

  /**
   * Starts an ingest and an edge with `env`, publishes through the one and
   * reads through the other (a read of the newest events and a live
   * long-poll), and checks the epoch is the topic's id.
   */
  async function publishAndReceive(
    brokers: readonly string[],
    env: Record<string, string>,
  ): Promise<void> {
    const topic = uniqueName('sasl');
    const serviceEnv = { ...env, FANOUT_KAFKA_PARTITIONS: String(partitions) };
    running.ingest = await startIngestProcess({ brokers, topic, env: serviceEnv });
    running.edge = await startEdgeProcess({ brokers, topic, env: serviceEnv, timeoutMs: 60_000 });
    const { ingest, edge } = running;
    const channel = `sasl.${randomBytes(3).toString('hex')}`;
    const positions = await publishAndReadBack(ingest.httpBase, edge.httpBase, channel, 2);
    const epoch = await epochOverPlaintext(topic);
    assert.ok(epoch !== undefined, `topic ${topic} was created`);
    for (const position of positions) assert.equal(position.split(':')[0], epoch, position);
    await stopServices();
  }

  before(async () => {
    broker = await LocalKafkaEnvironment.start({ sasl: { username, password } });
    const [address] = broker.saslBrokers;
    if (address === undefined) throw new Error('the broker has no SASL listener');
    saslBroker = address;
    dir = mkdtempSync(join(tmpdir(), 'fanout-kafka-sasl-'));
    ca = createTestCertificateAuthority(dir);
  });

  after(async () => {
    await stopServices();
    for (const proxy of proxies) await proxy.close();
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the SASL listener refuses a client without SASL', async () => {
    const kafka = new kafkajs.Kafka({
      clientId: 'fanout-test-no-sasl',
      brokers: [saslBroker],
      logLevel: kafkajs.logLevel.NOTHING,
      connectionTimeout: 3000,
      requestTimeout: 3000,
      retry: { retries: 0 },
    });
    const admin = kafka.admin();
    await assert.rejects(async () => {
      await admin.connect();
      await admin.listTopics();
    });
    await admin.disconnect();
  });

  it('reads the topic id with every mechanism, and none without the right password', async () => {
    const topic = uniqueName('sasl-id');
    const kafka = new kafkajs.Kafka({
      clientId: 'fanout-test',
      brokers: broker.brokers,
      logLevel: kafkajs.logLevel.NOTHING,
    });
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
      const expected = await epochOverPlaintext(topic);
      assert.ok(expected !== undefined);
      const sasl = (mechanism: Mechanism, secret = password) =>
        loadConfig({ env: { FANOUT_KAFKA_BROKERS: saslBroker, ...saslEnv(mechanism, secret) } })
          .kafka;
      for (const mechanism of mechanisms) {
        assert.equal(await fetchTopicId({ kafka: sasl(mechanism), topic }), expected, mechanism);
        assert.equal(
          await fetchTopicId({ kafka: sasl(mechanism), topic: uniqueName('absent') }),
          undefined,
          `${mechanism}: an absent topic has no id`,
        );
        await assert.rejects(
          fetchTopicId({ kafka: sasl(mechanism, 'wrong-password'), topic }),
          new RegExp(`cannot read the id of topic ${topic}`),
          mechanism,
        );
      }
      // The same conversion as the edge's (Kafka's UUID text to 16 bytes).
      assert.equal(
        topicIdToEpoch('00112233-4455-6677-8899-aabbccddeeff'),
        'ABEiM0RVZneImaq7zN3u_w',
      );
    } finally {
      await admin.deleteTopics({ topics: [topic] }).catch(() => {});
      await admin.disconnect();
    }
  });

  for (const mechanism of mechanisms) {
    it(`the ingest writes and the edge reads with SASL ${mechanism}`, async () => {
      await publishAndReceive([saslBroker], saslEnv(mechanism));
    });
  }

  it('the ingest and the edge authenticate over TLS (SASL_SSL), naming the broker', async () => {
    const brokerName = 'localhost';
    const certificate = ca.server('broker', [brokerName]);
    const address = parseBrokerAddress(saslBroker);
    const listener = await startBrokerProxy({
      host: address.host,
      brokerPort: address.port,
      advertisedHost: brokerName,
      tls: { cert: certificate.cert, key: certificate.key },
    });
    proxies.push(listener);
    await publishAndReceive([listener.address], {
      ...saslEnv('scram-sha-512'),
      FANOUT_KAFKA_SSL: 'true',
      NODE_EXTRA_CA_CERTS: ca.certFile,
    });
    const names = listener.servernames();
    assert.ok(names.length > 0, 'the services connected over TLS');
    assert.deepEqual(new Set(names), new Set([brokerName]));
  });

  it('an ingest with a wrong password does not start, and says why', async () => {
    for (const mechanism of ['plain', 'scram-sha-256'] as const) {
      await assert.rejects(
        startIngestProcess({
          brokers: [saslBroker],
          topic: uniqueName('sasl-refused'),
          env: saslEnv(mechanism, 'wrong-password'),
        }),
        /[Aa]uthentication failed/,
        mechanism,
      );
    }
  });
});
