/**
 * The ingest servers over TLS and mutual TLS, with certificates made for
 * the test: TLS publishes reach Kafka, plaintext and unverified clients are
 * refused, a client certificate's CN maps to a producer, and bad TLS
 * settings stop start-up with the setting named.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { decodeEvent, formatPosition, isFanoutError } from '@fanout/shared';
import {
  createTestCertificateAuthority,
  ingestClient,
  readTopic,
  startIngest,
  stopOwnKafka,
  testKafka,
  type CertificateFiles,
  type IngestClient,
  type IngestHarness,
  type TestCertificateAuthority,
  type TestKafka,
} from '../support/index.js';

const opsKey = 'ops-key-0123456789abcdef';
const text = (value: string) => new TextEncoder().encode(value);

function trailer(error: unknown, key: string): string | undefined {
  const value = (error as { metadata?: grpc.Metadata }).metadata?.get(key)[0];
  return value === undefined ? undefined : String(value);
}

function grpcStatus(status: grpc.status, code?: string): (error: unknown) => boolean {
  return (error: unknown) => {
    assert.equal((error as { code?: number }).code, status, `gRPC status of ${String(error)}`);
    if (code !== undefined) assert.equal(trailer(error, 'fanout-error-code'), code);
    return true;
  };
}

interface HttpsAnswer {
  readonly status: number;
  readonly body: { results?: { position: string }[]; error?: { code: string; message: string } };
}

/** POSTs one event over HTTPS, trusting `ca`, presenting `client` when given. */
function httpsPublish(
  base: string,
  channel: string,
  data: unknown,
  options: { ca: Buffer; client?: CertificateFiles; headers?: Record<string, string> },
): Promise<HttpsAnswer> {
  return new Promise((resolve, reject) => {
    const request = httpsRequest(
      `${base}/v1/channels/${encodeURIComponent(channel)}/events`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...options.headers },
        ca: options.ca,
        ...(options.client ? { cert: options.client.cert, key: options.client.key } : {}),
        agent: false,
        timeout: 10_000,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          resolve({
            status: response.statusCode ?? 0,
            body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as HttpsAnswer['body'],
          });
        });
        response.on('error', reject);
      },
    );
    request.on('timeout', () => request.destroy(new Error('HTTPS request timed out')));
    request.on('error', reject);
    request.end(JSON.stringify({ data }));
  });
}

function tlsClient(
  ingest: IngestHarness,
  ca: Buffer | null,
  client?: CertificateFiles,
): IngestClient {
  return ingestClient(
    `127.0.0.1:${ingest.app.grpcPort}`,
    grpc.credentials.createSsl(ca, client?.key ?? null, client?.cert ?? null),
    // Verify the server as `localhost` (an IP address is no TLS server name).
    { 'grpc.ssl_target_name_override': 'localhost' },
  );
}

/** The producer of the record at `position` (`<epoch>:<partition>:<offset>`), if any. */
async function producerAt(
  kafka: TestKafka,
  topic: string,
  epoch: string,
  position: string,
): Promise<string | undefined> {
  const record = (await readTopic(kafka.kafka, topic)).find(
    (r) => formatPosition({ epoch, partition: r.partition, offset: r.offset }) === position,
  );
  return record === undefined ? undefined : decodeEvent(record.value).producer;
}

function grpcPosition(
  position: { epoch?: string | null; partition?: number | null; offset?: number | null } | null,
): string {
  assert.ok(position, 'a position');
  return `${position.epoch}:${position.partition}:${position.offset}`;
}

async function totalOffsets(kafka: TestKafka, topic: string): Promise<number> {
  const offsets = await kafka.admin.fetchTopicOffsets(topic);
  return offsets.reduce((sum, partition) => sum + Number(partition.high), 0);
}

describe('ingest over TLS', () => {
  let kafka: TestKafka;
  let ingest: IngestHarness;
  let topic: string;
  let dir: string;
  let ca: TestCertificateAuthority;
  const clients: IngestClient[] = [];

  before(async () => {
    kafka = await testKafka();
    topic = await kafka.createTopic({ name: 'ingest-tls', partitions: 2 });
    dir = mkdtempSync(join(tmpdir(), 'fanout-ingest-tls-'));
    ca = createTestCertificateAuthority(dir);
    const server = ca.server('server');
    ingest = await startIngest({
      brokers: kafka.brokers,
      topic,
      partitions: 2,
      env: {
        FANOUT_INGEST_TLS_CERT_FILE: server.certFile,
        FANOUT_INGEST_TLS_KEY_FILE: server.keyFile,
      },
    });
  });

  after(async () => {
    for (const client of clients) client.close();
    await ingest.stop();
    await kafka.close();
    await stopOwnKafka();
    rmSync(dir, { recursive: true, force: true });
  });

  it('acknowledges publishes over gRPC with TLS and over HTTPS; Kafka holds them', async () => {
    const client = tlsClient(ingest, ca.cert);
    clients.push(client);
    assert.equal(await client.health(), 'SERVING');
    const answer = await client.publish({
      events: [{ channel: 'secure.grpc', data: text('over tls') }],
    });
    const position = grpcPosition(answer.results[0]?.position ?? null);
    assert.equal(await producerAt(kafka, topic, ingest.app.topic.epoch, position), 'anonymous');

    assert.match(ingest.httpBase, /^https:/);
    const https = await httpsPublish(ingest.httpBase, 'secure.http', 'over https', {
      ca: ca.cert,
    });
    assert.equal(https.status, 200, JSON.stringify(https.body));
    assert.equal(
      await producerAt(
        kafka,
        topic,
        ingest.app.topic.epoch,
        https.body.results?.[0]?.position ?? '',
      ),
      'anonymous',
    );
  });

  it('refuses plaintext clients and clients that do not trust the server certificate', async () => {
    const before = await totalOffsets(kafka, topic);
    await assert.rejects(
      ingest.client.publish({ events: [{ channel: 'plain.grpc' }] }, { deadlineMs: 5000 }),
      grpcStatus(grpc.status.UNAVAILABLE),
    );
    await assert.rejects(
      fetch(`http://127.0.0.1:${ingest.app.httpPort}/v1/channels/plain.http/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"data":1}',
        signal: AbortSignal.timeout(5000),
      }),
      TypeError,
    );
    // The system roots do not include the test CA.
    const untrusting = tlsClient(ingest, null);
    clients.push(untrusting);
    await assert.rejects(
      untrusting.publish({ events: [{ channel: 'plain.grpc' }] }, { deadlineMs: 5000 }),
      grpcStatus(grpc.status.UNAVAILABLE),
    );
    assert.equal(await totalOffsets(kafka, topic), before, 'nothing was written');
  });
});

describe('ingest with mutual TLS', () => {
  let kafka: TestKafka;
  let ingest: IngestHarness;
  let topic: string;
  let dir: string;
  let ca: TestCertificateAuthority;
  let billing: CertificateFiles;
  let stranger: CertificateFiles;
  let rogue: CertificateFiles;
  const clients: IngestClient[] = [];
  const client = (ca: Buffer, cert?: CertificateFiles): IngestClient => {
    const made = tlsClient(ingest, ca, cert);
    clients.push(made);
    return made;
  };

  before(async () => {
    kafka = await testKafka();
    topic = await kafka.createTopic({ name: 'ingest-mtls', partitions: 2 });
    dir = mkdtempSync(join(tmpdir(), 'fanout-ingest-mtls-'));
    ca = createTestCertificateAuthority(dir);
    const server = ca.server('server');
    billing = ca.client('billing', 'billing-producer');
    stranger = ca.client('stranger', 'stranger');
    // The same CN, from a CA the ingest does not trust.
    rogue = createTestCertificateAuthority(dir, 'rogue-ca').client('rogue', 'billing-producer');
    const keysFile = join(dir, 'producers.json');
    writeFileSync(
      keysFile,
      JSON.stringify([
        { name: 'billing-service', certificateSubject: 'billing-producer', namespaces: ['orders'] },
        { name: 'ops', key: opsKey, namespaces: ['*'] },
      ]),
    );
    ingest = await startIngest({
      brokers: kafka.brokers,
      topic,
      partitions: 2,
      env: {
        FANOUT_INGEST_TLS_CERT_FILE: server.certFile,
        FANOUT_INGEST_TLS_KEY_FILE: server.keyFile,
        FANOUT_INGEST_TLS_CLIENT_CA_FILE: ca.certFile,
        FANOUT_INGEST_AUTH_REQUIRED: 'true',
        FANOUT_INGEST_API_KEYS_FILE: keysFile,
      },
    });
  });

  after(async () => {
    for (const made of clients) made.close();
    await ingest.stop();
    await kafka.close();
    await stopOwnKafka();
    rmSync(dir, { recursive: true, force: true });
  });

  it("publishes as the producer its client certificate's CN maps to, within its namespaces", async () => {
    const billingClient = client(ca.cert, billing);
    const answer = await billingClient.publish({
      events: [{ channel: 'orders.mtls', data: text('by certificate') }],
    });
    assert.equal(
      await producerAt(
        kafka,
        topic,
        ingest.app.topic.epoch,
        grpcPosition(answer.results[0]?.position ?? null),
      ),
      'billing-service',
    );
    await assert.rejects(
      billingClient.publish({ events: [{ channel: 'payroll.mtls' }] }),
      (error: unknown) => {
        grpcStatus(grpc.status.PERMISSION_DENIED, 'permission_denied')(error);
        assert.match((error as Error).message, /"billing-service" may not publish to/);
        return true;
      },
    );

    const https = await httpsPublish(ingest.httpBase, 'orders.mtls-http', 1, {
      ca: ca.cert,
      client: billing,
    });
    assert.equal(https.status, 200, JSON.stringify(https.body));
    assert.equal(
      await producerAt(
        kafka,
        topic,
        ingest.app.topic.epoch,
        https.body.results?.[0]?.position ?? '',
      ),
      'billing-service',
    );
  });

  it('refuses connections without a client certificate or with one from another CA', async () => {
    const before = await totalOffsets(kafka, topic);
    for (const refused of [client(ca.cert), client(ca.cert, rogue)]) {
      await assert.rejects(
        refused.publish({ events: [{ channel: 'orders.refused' }] }, { deadlineMs: 5000 }),
        grpcStatus(grpc.status.UNAVAILABLE),
      );
    }
    await assert.rejects(httpsPublish(ingest.httpBase, 'orders.refused', 1, { ca: ca.cert }));
    await assert.rejects(
      httpsPublish(ingest.httpBase, 'orders.refused', 1, { ca: ca.cert, client: rogue }),
    );
    assert.equal(await totalOffsets(kafka, topic), before, 'nothing was written');
  });

  it('treats a verified certificate no entry maps as no credentials; a key in the call still works', async () => {
    const strangerClient = client(ca.cert, stranger);
    await assert.rejects(
      strangerClient.publish({ events: [{ channel: 'orders.stranger' }] }),
      (error: unknown) => {
        grpcStatus(grpc.status.UNAUTHENTICATED, 'unauthenticated')(error);
        assert.match((error as Error).message, /client certificate "stranger" is not mapped/);
        return true;
      },
    );
    const metadata = new grpc.Metadata();
    metadata.set('x-api-key', opsKey);
    const answer = await strangerClient.publish(
      { events: [{ channel: 'anything.ops', data: text('by key') }] },
      { metadata },
    );
    assert.equal(
      await producerAt(
        kafka,
        topic,
        ingest.app.topic.epoch,
        grpcPosition(answer.results[0]?.position ?? null),
      ),
      'ops',
    );
    // The key wins over a mapped certificate too.
    const billingWithKey = await client(ca.cert, billing).publish(
      { events: [{ channel: 'anything.ops', data: text('key over certificate') }] },
      { metadata },
    );
    assert.equal(
      await producerAt(
        kafka,
        topic,
        ingest.app.topic.epoch,
        grpcPosition(billingWithKey.results[0]?.position ?? null),
      ),
      'ops',
    );
  });
});

describe('TLS settings checked at start-up', () => {
  let kafka: TestKafka;
  let dir: string;
  let ca: TestCertificateAuthority;
  let server: CertificateFiles;
  let other: CertificateFiles;

  before(async () => {
    kafka = await testKafka();
    dir = mkdtempSync(join(tmpdir(), 'fanout-ingest-tls-config-'));
    ca = createTestCertificateAuthority(dir);
    server = ca.server('server');
    other = ca.server('other');
    writeFileSync(join(dir, 'not-pem.txt'), 'hello');
    writeFileSync(
      join(dir, 'by-subject.json'),
      JSON.stringify([{ name: 'svc', certificateSubject: 'svc', namespaces: ['*'] }]),
    );
  });

  after(async () => {
    await kafka.close();
    await stopOwnKafka();
    rmSync(dir, { recursive: true, force: true });
  });

  async function refusesToStart(env: Record<string, string>, message: RegExp): Promise<void> {
    const topic = 'never-created';
    await assert.rejects(startIngest({ brokers: kafka.brokers, topic, env }), (error: unknown) => {
      assert.ok(isFanoutError(error), `a FanoutError: ${String(error)}`);
      assert.equal(error.code, 'config_invalid');
      assert.match(error.message, message);
      return true;
    });
  }

  it('names the setting whose file is missing, not PEM or does not match', async () => {
    await refusesToStart(
      {
        FANOUT_INGEST_TLS_CERT_FILE: join(dir, 'missing.crt'),
        FANOUT_INGEST_TLS_KEY_FILE: server.keyFile,
      },
      /^ingest\.tls\.certFile: cannot read .*missing\.crt/,
    );
    await refusesToStart(
      {
        FANOUT_INGEST_TLS_CERT_FILE: server.certFile,
        FANOUT_INGEST_TLS_KEY_FILE: join(dir, 'missing.key'),
      },
      /^ingest\.tls\.keyFile: cannot read .*missing\.key/,
    );
    await refusesToStart(
      {
        FANOUT_INGEST_TLS_CERT_FILE: join(dir, 'not-pem.txt'),
        FANOUT_INGEST_TLS_KEY_FILE: server.keyFile,
      },
      /^ingest\.tls\.certFile: .*not-pem\.txt holds no PEM certificate/,
    );
    await refusesToStart(
      { FANOUT_INGEST_TLS_CERT_FILE: server.certFile, FANOUT_INGEST_TLS_KEY_FILE: other.keyFile },
      /^ingest\.tls\.keyFile: .*other\.key is not the key of the certificate in ingest\.tls\.certFile/,
    );
    await refusesToStart(
      {
        FANOUT_INGEST_TLS_CERT_FILE: server.certFile,
        FANOUT_INGEST_TLS_KEY_FILE: server.keyFile,
        FANOUT_INGEST_TLS_CLIENT_CA_FILE: join(dir, 'not-pem.txt'),
      },
      /^ingest\.tls\.clientCaFile: .*holds no PEM certificate/,
    );
    await refusesToStart(
      {
        FANOUT_INGEST_TLS_CERT_FILE: server.certFile,
        FANOUT_INGEST_TLS_KEY_FILE: server.keyFile,
        FANOUT_INGEST_API_KEYS_FILE: join(dir, 'by-subject.json'),
      },
      /certificateSubject, but ingest\.tls\.clientCaFile is not set/,
    );
  });

  it('requires the certificate and key together, and a certificate for client CAs', async () => {
    await refusesToStart(
      { FANOUT_INGEST_TLS_CERT_FILE: server.certFile },
      /ingest\.tls\.keyFile \(FANOUT_INGEST_TLS_KEY_FILE\): must be set when certFile is set/,
    );
    await refusesToStart(
      { FANOUT_INGEST_TLS_CLIENT_CA_FILE: ca.certFile },
      /ingest\.tls\.certFile \(FANOUT_INGEST_TLS_CERT_FILE\): must be set when clientCaFile is set/,
    );
  });
});
