/**
 * Producer authentication, channel namespaces and the per-producer rate
 * limit, end to end: a real ingest against the test broker, over gRPC and
 * HTTP, with what reached Kafka read back from the topic.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import { decodeEvent, fanout, formatPosition } from '@fanout/shared';
import {
  hs256Token,
  nowSeconds,
  readTopic,
  startIngest,
  stopOwnKafka,
  testKafka,
  type IngestHarness,
  type TestKafka,
  type TopicRecord,
} from '../support/index.js';

const jwtSecret = 'test-hs256-secret-of-enough-length-0123456789';
const billingKey = 'billing-key-0123456789abcdef';
const auditKey = 'audit-key-fedcba9876543210';
const alphaKey = 'alpha-key-0123456789abcdef';
const betaKey = 'beta-key-0123456789abcdef';

const text = (value: string) => new TextEncoder().encode(value);

function withApiKey(key: string): grpc.Metadata {
  const metadata = new grpc.Metadata();
  metadata.set('x-api-key', key);
  return metadata;
}

function withBearer(token: string): grpc.Metadata {
  const metadata = new grpc.Metadata();
  metadata.set('authorization', `Bearer ${token}`);
  return metadata;
}

function trailer(error: unknown, key: string): string | undefined {
  const value = (error as { metadata?: grpc.Metadata }).metadata?.get(key)[0];
  return value === undefined ? undefined : String(value);
}

/** Checks a failed gRPC call: status, catalog code and (optionally) the message. */
function grpcFailure(
  status: grpc.status,
  code: string,
  message?: RegExp,
): (error: unknown) => boolean {
  return (error: unknown) => {
    assert.equal((error as { code?: number }).code, status, `gRPC status of ${String(error)}`);
    assert.equal(trailer(error, 'fanout-error-code'), code);
    if (message !== undefined) assert.match((error as Error).message, message);
    return true;
  };
}

/**
 * How a PublishStream call ended: its error, or undefined when it ended with
 * OK. Fails when it has not ended within 10 s.
 */
function streamEnd(stream: NodeJS.EventEmitter): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error('the stream did not end within 10 s'));
    }, 10_000);
    stream.once('error', (error) => {
      clearTimeout(timer);
      resolve(error);
    });
    stream.once('end', () => {
      clearTimeout(timer);
      resolve(undefined);
    });
  });
}

interface HttpAnswer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: {
    readonly results?: { id: string; position: string; duplicate: boolean }[];
    readonly error?: {
      code: string;
      message: string;
      details?: Record<string, string | number | boolean>;
    };
  };
}

async function httpPublish(
  base: string,
  channel: string,
  body: unknown,
  headers: Readonly<Record<string, string>> = {},
): Promise<HttpAnswer> {
  const response = await fetch(`${base}/v1/channels/${encodeURIComponent(channel)}/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return {
    status: response.status,
    headers: response.headers,
    body: (await response.json()) as HttpAnswer['body'],
  };
}

/** A position of a gRPC answer in text form. */
function positionText(position: fanout.v1.Position.$Properties | null | undefined): string {
  assert.ok(position, 'a position');
  return formatPosition({
    epoch: position.epoch ?? '',
    partition: position.partition ?? -1,
    offset: position.offset ?? -1,
  });
}

/** The record at a position in text form (`<epoch>:<partition>:<offset>`) of this topic. */
function recordAt(
  records: readonly TopicRecord[],
  epoch: string,
  position: string,
): TopicRecord | undefined {
  return records.find(
    (record) =>
      formatPosition({ epoch, partition: record.partition, offset: record.offset }) === position,
  );
}

async function totalOffsets(kafka: TestKafka, topic: string): Promise<number> {
  const offsets = await kafka.admin.fetchTopicOffsets(topic);
  return offsets.reduce((sum, partition) => sum + Number(partition.high), 0);
}

function writeKeysFile(dir: string, entries: readonly Record<string, unknown>[]): string {
  const file = join(dir, 'api-keys.json');
  writeFileSync(file, JSON.stringify(entries));
  return file;
}

describe('producer authentication and namespaces against Kafka', () => {
  let kafka: TestKafka;
  let ingest: IngestHarness;
  let topic: string;
  let dir: string;

  before(async () => {
    kafka = await testKafka();
    topic = await kafka.createTopic({ name: 'ingest-auth', partitions: 3 });
    dir = mkdtempSync(join(tmpdir(), 'fanout-ingest-auth-'));
    const keysFile = writeKeysFile(dir, [
      { name: 'billing', key: billingKey, namespaces: ['orders', 'invoices'] },
      {
        name: 'audit',
        sha256: createHash('sha256').update(auditKey).digest('hex'),
        namespaces: ['audit'],
      },
    ]);
    ingest = await startIngest({
      brokers: kafka.brokers,
      topic,
      partitions: 3,
      env: {
        FANOUT_INGEST_AUTH_REQUIRED: 'true',
        FANOUT_INGEST_API_KEYS_FILE: keysFile,
        FANOUT_AUTH_JWT_HS256_SECRET: jwtSecret,
      },
    });
  });

  after(async () => {
    await ingest.stop();
    await kafka.close();
    await stopOwnKafka();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a producer without credentials: UNAUTHENTICATED, HTTP 401, nothing written', async () => {
    const before = await totalOffsets(kafka, topic);
    await assert.rejects(
      ingest.client.publish({ events: [{ channel: 'orders.1', data: text('anon') }] }),
      grpcFailure(grpc.status.UNAUTHENTICATED, 'unauthenticated', /credentials required/),
    );

    const http = await httpPublish(ingest.httpBase, 'orders.1', { data: 'anon' });
    assert.equal(http.status, 401);
    assert.equal(http.body.error?.code, 'unauthenticated');

    // A stream without credentials ends with the status; it acknowledges nothing.
    const stream = ingest.client.publishStream();
    const acks: fanout.v1.PublishStreamResponse[] = [];
    stream.on('data', (ack: fanout.v1.PublishStreamResponse) => acks.push(ack));
    const ended = streamEnd(stream);
    stream.write(
      fanout.v1.PublishStreamRequest.create({ sequence: 1, event: { channel: 'orders.1' } }),
    );
    stream.end();
    const streamError = await ended;
    assert.ok(streamError, 'the stream fails');
    grpcFailure(grpc.status.UNAUTHENTICATED, 'unauthenticated')(streamError);
    assert.deepEqual(acks, []);

    assert.equal(await totalOffsets(kafka, topic), before, 'nothing was written');
  });

  it('refuses an unknown API key and a malformed authorization header', async () => {
    await assert.rejects(
      ingest.client.publish(
        { events: [{ channel: 'orders.1' }] },
        { metadata: withApiKey('not-a-configured-key-000000') },
      ),
      grpcFailure(grpc.status.UNAUTHENTICATED, 'unauthenticated', /unknown API key/),
    );
    const http = await httpPublish(
      ingest.httpBase,
      'orders.1',
      { data: 1 },
      { 'x-api-key': 'not-a-configured-key-000000' },
    );
    assert.equal(http.status, 401);
    assert.equal(http.body.error?.code, 'unauthenticated');
    assert.match(http.body.error.message, /unknown API key/);

    const basic = new grpc.Metadata();
    basic.set('authorization', `Basic ${Buffer.from('user:pass').toString('base64')}`);
    await assert.rejects(
      ingest.client.publish({ events: [{ channel: 'orders.1' }] }, { metadata: basic }),
      grpcFailure(grpc.status.UNAUTHENTICATED, 'unauthenticated', /Bearer/),
    );
  });

  it('acknowledges a valid API key inside its namespaces; Kafka holds the events as its own', async () => {
    const grpcAnswer = await ingest.client.publish(
      {
        events: [
          { channel: 'orders.eu.7', type: 'order.created', data: text('from-grpc') },
          { channel: 'invoices', data: text('invoice') },
        ],
      },
      { metadata: withApiKey(billingKey) },
    );
    assert.equal(grpcAnswer.results.length, 2);

    const http = await httpPublish(
      ingest.httpBase,
      'orders.us',
      { data: { via: 'http' } },
      { 'x-api-key': billingKey },
    );
    assert.equal(http.status, 200, JSON.stringify(http.body));

    // The entry stored as a SHA-256 digest works the same way.
    const audit = await ingest.client.publish(
      { events: [{ channel: 'audit.login', data: text('audit') }] },
      { metadata: withApiKey(auditKey) },
    );

    const records = await readTopic(kafka.kafka, topic);
    const expected: [string, string, string][] = [
      ...grpcAnswer.results.map(
        (result, i) =>
          [positionText(result.position), ['from-grpc', 'invoice'][i]!, 'billing'] as [
            string,
            string,
            string,
          ],
      ),
      [http.body.results![0]!.position, '{"via":"http"}', 'billing'],
      [positionText(audit.results[0]?.position), 'audit', 'audit'],
    ];
    for (const [position, data, producer] of expected) {
      const record = recordAt(records, ingest.app.topic.epoch, position);
      assert.ok(record, `a record at ${position}`);
      const event = decodeEvent(record.value);
      assert.equal(new TextDecoder().decode(event.data), data);
      assert.equal(event.producer, producer);
      assert.equal(record.headers['fanout-producer'], producer);
    }
  });

  it('refuses a batch reaching outside the namespaces whole, naming the channel, writing none of it', async () => {
    const marker = `denied-${Date.now()}`;
    const before = await totalOffsets(kafka, topic);
    await assert.rejects(
      ingest.client.publish(
        {
          events: [
            { channel: 'orders.1', id: `${marker}-a`, data: text(marker) },
            { channel: 'payroll.secret', id: `${marker}-b`, data: text(marker) },
            { channel: 'invoices.2', id: `${marker}-c`, data: text(marker) },
          ],
        },
        { metadata: withApiKey(billingKey) },
      ),
      grpcFailure(
        grpc.status.PERMISSION_DENIED,
        'permission_denied',
        /events\[1\]\.channel: producer "billing" may not publish to "payroll\.secret"/,
      ),
    );

    const http = await httpPublish(
      ingest.httpBase,
      'payroll.secret',
      { events: [{ id: `${marker}-d`, data: marker }] },
      { 'x-api-key': billingKey },
    );
    assert.equal(http.status, 403);
    assert.equal(http.body.error?.code, 'permission_denied');
    assert.match(http.body.error.message, /"payroll\.secret"/);

    // A namespace is a prefix of whole segments: `orders` does not allow `ordersx`.
    await assert.rejects(
      ingest.client.publish(
        { events: [{ channel: 'ordersx', id: `${marker}-e`, data: text(marker) }] },
        { metadata: withApiKey(billingKey) },
      ),
      grpcFailure(grpc.status.PERMISSION_DENIED, 'permission_denied', /"ordersx"/),
    );

    // An allowed publish afterwards is found, so reading the topic does see new records.
    const sentinel = await ingest.client.publish(
      { events: [{ channel: 'orders.1', id: `${marker}-sentinel`, data: text(marker) }] },
      { metadata: withApiKey(billingKey) },
    );
    assert.equal(await totalOffsets(kafka, topic), before + 1, 'only the sentinel was written');
    // (HTTP stores JSON data as JSON text.)
    const withMarker = (await readTopic(kafka.kafka, topic)).filter((record) =>
      [marker, JSON.stringify(marker)].includes(
        new TextDecoder().decode(decodeEvent(record.value).data),
      ),
    );
    assert.deepEqual(
      withMarker.map((record) => decodeEvent(record.value).id),
      [`${marker}-sentinel`],
    );
    assert.equal(
      recordAt(withMarker, ingest.app.topic.epoch, positionText(sentinel.results[0]?.position)),
      withMarker[0],
    );
  });

  it('ends a PublishStream with PERMISSION_DENIED at the first event outside the namespaces', async () => {
    const stream = ingest.client.publishStream(withApiKey(billingKey));
    const acks: fanout.v1.PublishStreamResponse[] = [];
    stream.on('data', (ack: fanout.v1.PublishStreamResponse) => acks.push(ack));
    const ended = streamEnd(stream);
    stream.write(
      fanout.v1.PublishStreamRequest.create({
        sequence: 1,
        event: { channel: 'orders.stream', data: text('streamed') },
      }),
    );
    // Wait for the first acknowledgement so the order of the outcomes is fixed.
    for (let i = 0; acks.length === 0 && i < 1000; i++) await sleep(10);
    assert.equal(acks.length, 1, 'the first event is acknowledged');
    stream.write(
      fanout.v1.PublishStreamRequest.create({ sequence: 2, event: { channel: 'payroll.x' } }),
    );
    const streamError = await ended;
    assert.ok(streamError, 'the stream fails');
    grpcFailure(grpc.status.PERMISSION_DENIED, 'permission_denied', /"payroll\.x"/)(streamError);
    assert.deepEqual(
      acks.map((ack) => [ack.sequence, ack.outcome]),
      [[1, 'result']],
    );
    const record = recordAt(
      await readTopic(kafka.kafka, topic),
      ingest.app.topic.epoch,
      positionText(acks[0]?.result?.position),
    );
    assert.equal(record?.headers['fanout-producer'], 'billing');
  });

  it('accepts a valid HS256 token with the namespaces of its claim, as its subject', async () => {
    const token = hs256Token(jwtSecret, {
      sub: 'sensor-fleet',
      exp: nowSeconds() + 300,
      fanout_publish: ['sensors'],
    });
    const answer = await ingest.client.publish(
      { events: [{ channel: 'sensors.t1', data: text('21.5') }] },
      { metadata: withBearer(token) },
    );
    const http = await httpPublish(
      ingest.httpBase,
      'sensors.t2',
      { data: 22 },
      { authorization: `Bearer ${token}` },
    );
    assert.equal(http.status, 200, JSON.stringify(http.body));

    await assert.rejects(
      ingest.client.publish(
        { events: [{ channel: 'orders.1', data: text('x') }] },
        { metadata: withBearer(token) },
      ),
      grpcFailure(
        grpc.status.PERMISSION_DENIED,
        'permission_denied',
        /producer "sensor-fleet" may not publish to "orders\.1"/,
      ),
    );
    const httpDenied = await httpPublish(
      ingest.httpBase,
      'orders.1',
      { data: 1 },
      { authorization: `Bearer ${token}` },
    );
    assert.equal(httpDenied.status, 403);
    assert.equal(httpDenied.body.error?.code, 'permission_denied');

    // The claim may be a space-separated string too.
    const spaced = hs256Token(jwtSecret, {
      sub: 'metrics-agent',
      exp: nowSeconds() + 300,
      fanout_publish: 'metrics logs',
    });
    const spacedAnswer = await ingest.client.publish(
      { events: [{ channel: 'logs.app', data: text('line') }] },
      { metadata: withBearer(spaced) },
    );
    // A token without the claim may publish nowhere.
    const bare = hs256Token(jwtSecret, { sub: 'nobody', exp: nowSeconds() + 300 });
    await assert.rejects(
      ingest.client.publish({ events: [{ channel: 'logs.app' }] }, { metadata: withBearer(bare) }),
      grpcFailure(grpc.status.PERMISSION_DENIED, 'permission_denied'),
    );

    const records = await readTopic(kafka.kafka, topic);
    for (const [position, producer] of [
      [positionText(answer.results[0]?.position), 'sensor-fleet'],
      [http.body.results![0]!.position, 'sensor-fleet'],
      [positionText(spacedAnswer.results[0]?.position), 'metrics-agent'],
    ] as const) {
      const record = recordAt(records, ingest.app.topic.epoch, position);
      assert.ok(record, `a record at ${position}`);
      assert.equal(decodeEvent(record.value).producer, producer);
    }
  });

  it('refuses an expired token with token_expired (UNAUTHENTICATED, HTTP 401)', async () => {
    const expired = hs256Token(jwtSecret, {
      sub: 'sensor-fleet',
      iat: nowSeconds() - 600,
      exp: nowSeconds() - 60,
      fanout_publish: ['sensors'],
    });
    await assert.rejects(
      ingest.client.publish(
        { events: [{ channel: 'sensors.t1' }] },
        { metadata: withBearer(expired) },
      ),
      grpcFailure(grpc.status.UNAUTHENTICATED, 'token_expired', /expired/),
    );
    const http = await httpPublish(
      ingest.httpBase,
      'sensors.t1',
      { data: 1 },
      { authorization: `Bearer ${expired}` },
    );
    assert.equal(http.status, 401);
    assert.equal(http.body.error?.code, 'token_expired');
  });

  it('refuses a token signed with another secret, and bearer tokens that are not JWTs', async () => {
    const forged = hs256Token('another-secret-of-the-same-length-0123456789', {
      sub: 'sensor-fleet',
      exp: nowSeconds() + 300,
      fanout_publish: ['*'],
    });
    await assert.rejects(
      ingest.client.publish(
        { events: [{ channel: 'sensors.t1' }] },
        { metadata: withBearer(forged) },
      ),
      grpcFailure(grpc.status.UNAUTHENTICATED, 'unauthenticated', /invalid token/),
    );
    const http = await httpPublish(
      ingest.httpBase,
      'sensors.t1',
      { data: 1 },
      { authorization: `Bearer ${forged}` },
    );
    assert.equal(http.status, 401);
    assert.equal(http.body.error?.code, 'unauthenticated');
    await assert.rejects(
      ingest.client.publish(
        { events: [{ channel: 'sensors.t1' }] },
        { metadata: withBearer('not.a.jwt') },
      ),
      grpcFailure(grpc.status.UNAUTHENTICATED, 'unauthenticated'),
    );
  });
});

describe('per-producer rate limit against Kafka', () => {
  const eventsPerSecond = 1;
  const burst = 4;
  let kafka: TestKafka;
  let ingest: IngestHarness;
  let topic: string;
  let dir: string;

  before(async () => {
    kafka = await testKafka();
    topic = await kafka.createTopic({ name: 'ingest-rate', partitions: 1 });
    dir = mkdtempSync(join(tmpdir(), 'fanout-ingest-rate-'));
    const keysFile = writeKeysFile(dir, [
      { name: 'alpha', key: alphaKey, namespaces: ['*'] },
      { name: 'beta', key: betaKey, namespaces: ['*'] },
    ]);
    ingest = await startIngest({
      brokers: kafka.brokers,
      topic,
      partitions: 1,
      env: {
        FANOUT_INGEST_AUTH_REQUIRED: 'true',
        FANOUT_INGEST_API_KEYS_FILE: keysFile,
        FANOUT_INGEST_RATE_LIMIT_EVENTS_PER_SECOND: String(eventsPerSecond),
        FANOUT_INGEST_RATE_LIMIT_BURST: String(burst),
      },
    });
  });

  after(async () => {
    await ingest.stop();
    await kafka.close();
    await stopOwnKafka();
    rmSync(dir, { recursive: true, force: true });
  });

  const batch = (label: string, count = burst) => ({
    events: Array.from({ length: count }, (_, i) => ({
      channel: 'rates.demo',
      data: text(`${label}-${i}`),
    })),
  });

  it('limits each producer to its own budget, over gRPC and HTTP, with the delay to wait', async () => {
    const before = await totalOffsets(kafka, topic);
    // alpha spends its burst...
    const first = await ingest.client.publish(batch('alpha-1'), { metadata: withApiKey(alphaKey) });
    assert.equal(first.results.length, burst);

    // ...and is refused whole, with the delay after which the same call passes. (The
    // batches below need more tokens than refill in the time the test takes between them.)
    let retryAfterMs = 0;
    await assert.rejects(
      ingest.client.publish(batch('alpha-2', 2), { metadata: withApiKey(alphaKey) }),
      (error: unknown) => {
        grpcFailure(
          grpc.status.RESOURCE_EXHAUSTED,
          'rate_limited',
          /"alpha" is over its limit/,
        )(error);
        retryAfterMs = Number(trailer(error, 'fanout-retry-after-ms'));
        return true;
      },
    );
    assert.ok(
      retryAfterMs > 0 && retryAfterMs <= (2 / eventsPerSecond) * 1000,
      `fanout-retry-after-ms ${retryAfterMs}`,
    );

    // The budget is the producer's, whatever the transport.
    const http = await httpPublish(
      ingest.httpBase,
      'rates.demo',
      { events: [{ data: 'alpha-http' }, { data: 'alpha-http' }, { data: 'alpha-http' }] },
      { 'x-api-key': alphaKey },
    );
    assert.equal(http.status, 429);
    assert.equal(http.body.error?.code, 'rate_limited');
    const httpRetryMs = http.body.error.details?.['retryAfterMs'];
    assert.equal(typeof httpRetryMs, 'number');
    assert.ok((httpRetryMs as number) > 0);
    assert.equal(
      http.headers.get('retry-after'),
      String(Math.ceil((httpRetryMs as number) / 1000)),
    );

    // beta is not limited by alpha's spending: its whole burst passes, over both transports...
    const beta = await ingest.client.publish(batch('beta-1', burst - 1), {
      metadata: withApiKey(betaKey),
    });
    assert.equal(beta.results.length, burst - 1);
    const betaHttp = await httpPublish(
      ingest.httpBase,
      'rates.demo',
      { data: 'beta-http' },
      { 'x-api-key': betaKey },
    );
    assert.equal(betaHttp.status, 200, JSON.stringify(betaHttp.body));
    // ...and then beta is at its own limit.
    const betaOver = await httpPublish(
      ingest.httpBase,
      'rates.demo',
      { events: [{ data: 'beta-over' }, { data: 'beta-over' }, { data: 'beta-over' }] },
      { 'x-api-key': betaKey },
    );
    assert.equal(betaOver.status, 429);
    assert.match(betaOver.headers.get('retry-after') ?? '', /^[1-9][0-9]*$/);

    // After the delay it was given, alpha's refused call passes.
    await sleep(retryAfterMs + 50);
    const retried = await ingest.client.publish(batch('alpha-2', 2), {
      metadata: withApiKey(alphaKey),
    });
    assert.equal(retried.results.length, 2);

    // Refused calls wrote nothing: Kafka holds exactly the accepted events.
    assert.equal(await totalOffsets(kafka, topic), before + burst + (burst - 1) + 1 + 2);
    const stored = (await readTopic(kafka.kafka, topic)).map((record) =>
      new TextDecoder().decode(decodeEvent(record.value).data),
    );
    assert.ok(!stored.includes('"alpha-http"') && !stored.includes('"beta-over"'));
    assert.ok(stored.includes('"beta-http"'));
    assert.equal(stored.filter((data) => data.startsWith('alpha-2-')).length, 2);
  });

  it('refuses a batch larger than the burst outright', async () => {
    const answer = await httpPublish(
      ingest.httpBase,
      'rates.demo',
      { events: Array.from({ length: burst + 1 }, (_, i) => ({ data: i })) },
      { 'x-api-key': betaKey },
    );
    assert.equal(answer.status, 429);
    assert.equal(answer.body.error?.code, 'rate_limited');
    assert.match(
      answer.body.error.message,
      new RegExp(`more than producer "beta" may send at once`),
    );
  });
});
