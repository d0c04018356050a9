/**
 * Kafka over TLS with the brokers named by host name (`kafka.ssl`). The
 * broker sits behind a TLS listener that, like a TLS router or an ingress in
 * front of Kafka, presents the broker's certificate only to a client that
 * names it (SNI) and a certificate for another name to any other. The
 * ingest and the edge, real processes trusting the test CA through
 * `NODE_EXTRA_CA_CERTS` (as the Helm chart mounts it), each reach the broker
 * through a listener of their own: events published through one are read
 * through the other, and every connection named the broker.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSecureContext, type TlsOptions } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { Admin, type ConnectionOptions } from '@platformatic/kafka';
import { kafkaConnectionOptions, loadConfig, parseBrokerAddress } from '@fanout/shared';
import { startBrokerProxy, type BrokerProxy } from '../support/cluster-broker-proxy.js';
import {
  createTestCertificateAuthority,
  publishAndReadBack,
  startEdgeProcess,
  startIngestProcess,
  stopOwnKafka,
  testKafka,
  type EdgeProcess,
  type IngestProcess,
  type TestCertificateAuthority,
  type TestKafka,
} from '../support/index.js';

const partitions = 2;
/** The broker's name; as long as 127.0.0.1, so the proxy can advertise it in place. */
const brokerName = 'localhost';

/** The messages of an error, its causes and the errors it aggregates. */
function messagesOf(error: unknown): string[] {
  if (!(error instanceof Error)) return [String(error)];
  const nested = error instanceof AggregateError ? (error.errors as unknown[]) : [];
  return [
    error.message,
    ...nested.flatMap(messagesOf),
    ...(error.cause === undefined ? [] : messagesOf(error.cause)),
  ];
}

describe('Kafka over TLS, brokers named by host name', () => {
  let kafka: TestKafka;
  let topic: string;
  let dir: string;
  let ca: TestCertificateAuthority;
  let listenerTls: TlsOptions;
  const proxies: BrokerProxy[] = [];
  let ingest: IngestProcess | undefined;
  let edge: EdgeProcess | undefined;

  /** A TLS listener of its own in front of the test broker, advertising `localhost`. */
  async function tlsListener(): Promise<BrokerProxy> {
    const broker = parseBrokerAddress(kafka.brokers[0] ?? '');
    const proxy = await startBrokerProxy({
      host: broker.host,
      brokerPort: broker.port,
      advertisedHost: brokerName,
      tls: listenerTls,
    });
    proxies.push(proxy);
    return proxy;
  }

  before(async () => {
    kafka = await testKafka();
    if (kafka.brokers.length !== 1 || kafka.brokers[0]?.split(':')[0]?.length !== 9) {
      throw new Error(`this test needs one broker on 127.0.0.1, not ${kafka.brokers.join(',')}`);
    }
    topic = await kafka.createTopic({ name: 'kafka-tls', partitions });
    dir = mkdtempSync(join(tmpdir(), 'fanout-kafka-tls-'));
    ca = createTestCertificateAuthority(dir);
    const broker = ca.server('broker', [brokerName]);
    const otherName = ca.server('ingress-default', ['kafka-ingress.invalid']);
    const brokerContext = createSecureContext({ cert: broker.cert, key: broker.key });
    listenerTls = {
      cert: otherName.cert,
      key: otherName.key,
      SNICallback: (servername, done) => {
        done(null, servername === brokerName ? brokerContext : undefined);
      },
    };
  });

  after(async () => {
    await edge?.kill('SIGKILL');
    await ingest?.stop();
    for (const proxy of proxies) await proxy.close();
    await kafka.close();
    await stopOwnKafka();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a client that does not name the broker, and serves one that does', async () => {
    const listener = await tlsListener();
    const config = loadConfig({
      env: { FANOUT_KAFKA_BROKERS: listener.address, FANOUT_KAFKA_SSL: 'true' },
    }).kafka;
    const { tlsServerName, ...withoutServerName } = kafkaConnectionOptions(config);
    assert.equal(tlsServerName, true);
    const metadataOf = async (options: ConnectionOptions): Promise<string[]> => {
      const admin = new Admin({
        ...options,
        clientId: 'fanout-test-tls',
        bootstrapBrokers: [parseBrokerAddress(listener.address)],
        tls: { ca: ca.cert },
        retries: 0,
      });
      try {
        const metadata = await admin.metadata({ topics: [topic] });
        return [...metadata.topics.keys()];
      } finally {
        await admin.close();
      }
    };
    await assert.rejects(metadataOf(withoutServerName), (error: unknown) => {
      // The listener answered with its certificate for another name.
      assert.match(messagesOf(error).join('\n'), /altnames.*kafka-ingress\.invalid/);
      return true;
    });
    assert.deepEqual(await metadataOf({ ...withoutServerName, tlsServerName }), [topic]);
    assert.ok(listener.servernames().includes(brokerName));
  });

  it('the ingest writes and the edge reads through TLS listeners, naming the broker', async () => {
    const [ingestListener, edgeListener] = [await tlsListener(), await tlsListener()];
    const env = {
      FANOUT_KAFKA_SSL: 'true',
      FANOUT_KAFKA_PARTITIONS: String(partitions),
      NODE_EXTRA_CA_CERTS: ca.certFile,
    };
    ingest = await startIngestProcess({ brokers: [ingestListener.address], topic, env });
    edge = await startEdgeProcess({
      brokers: [edgeListener.address],
      topic,
      env,
      timeoutMs: 60_000,
    });
    const channel = `secure.${randomBytes(3).toString('hex')}`;
    await publishAndReadBack(ingest.httpBase, edge.httpBase, channel, 3);

    for (const [name, listener] of [
      ['ingest', ingestListener],
      ['edge', edgeListener],
    ] as const) {
      const names = listener.servernames();
      assert.ok(names.length > 0, `${name} connected over TLS`);
      assert.deepEqual(new Set(names), new Set([brokerName]), `${name} named the broker`);
    }
  });
});
