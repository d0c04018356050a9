/**
 * Hostile requests to the ingest, end to end against the test broker: calls
 * are refused from their headers (credentials, announced size, memory
 * budget) before their bodies are read, undecodable protobuf and hostile
 * JSON answer invalid_argument, and the budget comes back when calls end.
 * The gRPC calls that must not send their message are written with
 * node:http2 directly: headers and a length prefix, and no more.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import {
  connect,
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type IncomingHttpHeaders,
} from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import {
  startIngest,
  stopOwnKafka,
  testKafka,
  type IngestHarness,
  type TestKafka,
} from '../support/index.js';

const apiKey = 'hostile-test-key-0123456789';
const maxRequestBytes = 256 * 1024;
const publishPath = '/fanout.v1.IngestService/Publish';
/** `ingest.requestTimeoutMs`: how long an announced message may take to arrive. */
const readTimeoutMs = 8000;
/** How long a refusal may take to arrive before the test says the server did not answer. */
const answerTimeoutMs = 20_000;

interface GrpcAnswer {
  readonly status: number;
  readonly code: string | undefined;
  readonly retryAfterMs: string | undefined;
}

/**
 * Opens a gRPC call on `session` and writes its length prefix announcing
 * `size` bytes, then `body` (without ending the call unless `end`).
 * Resolves with the status once the server answered.
 */
function rawGrpcCall(
  session: ClientHttp2Session,
  options: {
    path?: string;
    headers?: Record<string, string>;
    size: number;
    body?: Buffer;
    end?: boolean;
  },
): { stream: ClientHttp2Stream; answer: Promise<GrpcAnswer> } {
  const stream = session.request({
    ':method': 'POST',
    ':path': options.path ?? publishPath,
    'content-type': 'application/grpc',
    te: 'trailers',
    ...options.headers,
  });
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(options.size, 1);
  stream.write(prefix);
  if (options.body) stream.write(options.body);
  if (options.end) stream.end();
  const answer = new Promise<GrpcAnswer>((resolve, reject) => {
    const of = (headers: IncomingHttpHeaders): GrpcAnswer | undefined => {
      const status = headers['grpc-status'];
      if (status === undefined) return undefined;
      const text = (key: string) => {
        const value = headers[key];
        return value === undefined ? undefined : String(value);
      };
      return {
        status: Number(status),
        code: text('fanout-error-code'),
        retryAfterMs: text('fanout-retry-after-ms'),
      };
    };
    stream.on('response', (headers) => {
      const answer = of(headers);
      if (answer) resolve(answer);
    });
    stream.on('trailers', (headers: IncomingHttpHeaders) => {
      const answer = of(headers);
      if (answer) resolve(answer);
    });
    stream.on('error', reject);
    stream.on('close', () => {
      reject(new Error(`the call closed without a status (rst ${stream.rstCode})`));
    });
    stream.resume();
    const timer = setTimeout(() => {
      reject(new Error(`no answer within ${answerTimeoutMs} ms`));
      stream.close();
    }, answerTimeoutMs);
    stream.on('close', () => {
      clearTimeout(timer);
    });
  });
  return { stream, answer };
}

/** A POST whose headers are sent with `body` (only part of what Content-Length announces, perhaps). */
function rawHttpPost(
  base: string,
  options: { headers: Record<string, string>; body?: Buffer; end?: boolean },
): Promise<{ response: IncomingMessage; json: { error?: { code: string; message: string } } }> {
  return new Promise((resolve, reject) => {
    const url = new URL('/v1/channels/hostile.1/events', base);
    const request = httpRequest(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...options.headers },
    });
    request.on('response', (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({
          response,
          json: JSON.parse(text) as { error?: { code: string; message: string } },
        });
        request.destroy();
      });
    });
    request.on('error', reject);
    request.setTimeout(answerTimeoutMs, () => {
      request.destroy(new Error(`no answer within ${answerTimeoutMs} ms`));
    });
    request.flushHeaders();
    if (options.body) request.write(options.body);
    if (options.end) request.end();
  });
}

/** Pending request bytes of the ingest (`fanout_ingest_pending_request_bytes`). */
async function pendingBytes(ingest: IngestHarness): Promise<number> {
  const text = await ingest.registry.getSingleMetricAsString('fanout_ingest_pending_request_bytes');
  return Number(/ (\d+)$/m.exec(text)?.[1] ?? NaN);
}

async function until(condition: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting: ${what}`);
    await sleep(20);
  }
}

/** Bytes that are not a protobuf message: a field with wire type 7. */
const garbage = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x07]);

describe('ingest under hostile requests', () => {
  let kafka: TestKafka;
  let ingest: IngestHarness;
  let dir: string;
  const sessions: ClientHttp2Session[] = [];
  const withKey = { 'x-api-key': apiKey };

  function session(): ClientHttp2Session {
    const opened = connect(`http://127.0.0.1:${ingest.app.grpcPort}`);
    opened.on('error', () => {});
    sessions.push(opened);
    return opened;
  }

  before(async () => {
    kafka = await testKafka();
    const topic = await kafka.createTopic({ name: 'ingest-hostile', partitions: 2 });
    dir = mkdtempSync(join(tmpdir(), 'fanout-ingest-hostile-'));
    const keysFile = join(dir, 'api-keys.json');
    writeFileSync(keysFile, JSON.stringify([{ name: 'p', key: apiKey, namespaces: ['*'] }]));
    ingest = await startIngest({
      brokers: kafka.brokers,
      topic,
      partitions: 2,
      env: {
        FANOUT_INGEST_AUTH_REQUIRED: 'true',
        FANOUT_INGEST_API_KEYS_FILE: keysFile,
        FANOUT_INGEST_MAX_EVENT_BYTES: String(64 * 1024),
        FANOUT_INGEST_MAX_REQUEST_BYTES: String(maxRequestBytes),
        FANOUT_INGEST_MAX_PENDING_BYTES_PER_CONNECTION: String(1024 * 1024),
        FANOUT_INGEST_MAX_PENDING_BYTES: String(1536 * 1024),
        FANOUT_INGEST_REQUEST_TIMEOUT_MS: String(readTimeoutMs),
      },
    });
  });

  after(async () => {
    for (const opened of sessions) opened.destroy();
    await ingest.stop();
    await kafka.close();
    await stopOwnKafka();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a gRPC call without credentials from its metadata, without reading its message', async () => {
    const { answer } = rawGrpcCall(session(), {
      size: 24 * 1024 * 1024,
      body: Buffer.alloc(64 * 1024, Buffer.from([0x0a, 0x00])),
    });
    const refused = await answer;
    assert.equal(refused.status, grpc.status.UNAUTHENTICATED);
    assert.equal(refused.code, 'unauthenticated');
    assert.equal(await pendingBytes(ingest), 0, 'nothing of it is held');

    // A whole unauthenticated 4 MiB message is refused the same way, not read.
    await assert.rejects(
      ingest.client.publish({
        events: Array.from({ length: 1000 }, () => ({ channel: 'a', data: Buffer.alloc(4096) })),
      }),
      (error: grpc.ServiceError) => error.code === grpc.status.UNAUTHENTICATED,
    );
  });

  it('refuses a message over the size limit from its length prefix: INVALID_ARGUMENT, event_too_large', async () => {
    const { answer } = rawGrpcCall(session(), {
      headers: withKey,
      size: maxRequestBytes + 1,
    });
    const refused = await answer;
    assert.equal(refused.status, grpc.status.INVALID_ARGUMENT);
    assert.equal(refused.code, 'event_too_large');
  });

  it('refuses calls beyond the per-connection and per-process budgets: RESOURCE_EXHAUSTED, rate_limited', async () => {
    const weight = 2 * maxRequestBytes;
    const hold = (on: ClientHttp2Session) => {
      const call = rawGrpcCall(on, { headers: withKey, size: maxRequestBytes });
      call.answer.then(
        (answer) => assert.fail(`a held call was answered: ${JSON.stringify(answer)}`),
        () => {},
      );
      return call.stream;
    };
    const first = session();
    const held: ClientHttp2Stream[] = [];
    for (let i = 1; i <= 2; i++) {
      // Announced and not sent: the call holds its share while it waits for its bytes.
      held.push(hold(first));
      await until(async () => (await pendingBytes(ingest)) === i * weight, `call ${i} admitted`);
    }
    const overConnection = await rawGrpcCall(first, { headers: withKey, size: maxRequestBytes })
      .answer;
    assert.equal(overConnection.status, grpc.status.RESOURCE_EXHAUSTED);
    assert.equal(overConnection.code, 'rate_limited');
    assert.ok(Number(overConnection.retryAfterMs) > 0, 'with the delay to wait');

    const second = session();
    held.push(hold(second));
    await until(async () => (await pendingBytes(ingest)) === 3 * weight, 'call 3 admitted');
    const overProcess = await rawGrpcCall(second, { headers: withKey, size: maxRequestBytes })
      .answer;
    assert.equal(overProcess.status, grpc.status.RESOURCE_EXHAUSTED);
    assert.equal(overProcess.code, 'rate_limited');

    // The HTTP side shares the budget: 429 with Retry-After.
    const http = await rawHttpPost(ingest.httpBase, {
      headers: { ...withKey, 'content-length': String(maxRequestBytes) },
    });
    assert.equal(http.response.statusCode, 429);
    assert.equal(http.json.error?.code, 'rate_limited');
    assert.ok(Number(http.response.headers['retry-after']) >= 1);

    for (const stream of held) stream.close();
    await until(async () => (await pendingBytes(ingest)) === 0, 'the budget comes back');
    const written = await ingest.client.publish(
      { events: [{ channel: 'hostile.1', data: Buffer.from('after') }] },
      { metadata: metadataWithKey() },
    );
    assert.equal(written.results.length, 1);
  });

  it('ends a call whose announced message does not arrive in time: DEADLINE_EXCEEDED', async () => {
    const started = Date.now();
    const slow = await rawGrpcCall(session(), {
      headers: withKey,
      size: 1000,
      body: Buffer.alloc(10),
    }).answer;
    assert.equal(slow.status, grpc.status.DEADLINE_EXCEEDED);
    assert.equal(slow.code, 'deadline_exceeded');
    assert.ok(Date.now() - started >= readTimeoutMs - 100, 'not before its time');
    await until(async () => (await pendingBytes(ingest)) === 0, 'the budget comes back');
  });

  it('answers an undecodable message with INVALID_ARGUMENT (invalid_argument), Publish and PublishStream', async () => {
    const unary = await rawGrpcCall(session(), {
      headers: withKey,
      size: garbage.length,
      body: garbage,
      end: true,
    }).answer;
    assert.equal(unary.status, grpc.status.INVALID_ARGUMENT);
    assert.equal(unary.code, 'invalid_argument');

    const stream = await rawGrpcCall(session(), {
      path: '/fanout.v1.IngestService/PublishStream',
      headers: withKey,
      size: garbage.length,
      body: garbage,
      end: true,
    }).answer;
    assert.equal(stream.status, grpc.status.INVALID_ARGUMENT);
    assert.equal(stream.code, 'invalid_argument');

    // 128k empty events in one message: more than a batch holds, refused before decoding.
    const empties = Buffer.alloc(maxRequestBytes - 16, Buffer.from([0x0a, 0x00]));
    const many = await rawGrpcCall(session(), {
      headers: withKey,
      size: empties.length,
      body: empties,
      end: true,
    }).answer;
    assert.equal(many.status, grpc.status.INVALID_ARGUMENT);
    assert.equal(many.code, 'batch_too_large');
    await until(async () => (await pendingBytes(ingest)) === 0, 'the budget comes back');
  });

  it('refuses an HTTP publish without credentials before its body: 401, connection closed', async () => {
    const refused = await rawHttpPost(ingest.httpBase, {
      headers: { 'content-length': String(24 * 1024 * 1024) },
      body: Buffer.alloc(64 * 1024, 0x20),
    });
    assert.equal(refused.response.statusCode, 401);
    assert.equal(refused.json.error?.code, 'unauthenticated');
    assert.equal(refused.response.headers.connection, 'close');
  });

  it('refuses an HTTP body over the size limit from its Content-Length: 413', async () => {
    const refused = await rawHttpPost(ingest.httpBase, {
      headers: { ...withKey, 'content-length': String(maxRequestBytes + 1) },
    });
    assert.equal(refused.response.statusCode, 413);
    assert.equal(refused.json.error?.code, 'event_too_large');
  });

  it('answers hostile JSON with 400 invalid_argument, never 500', async () => {
    const post = (body: string) =>
      rawHttpPost(ingest.httpBase, {
        headers: { ...withKey, 'content-length': String(Buffer.byteLength(body)) },
        body: Buffer.from(body),
        end: true,
      });
    const deep = await post('['.repeat(100_000) + ']'.repeat(100_000));
    assert.equal(deep.response.statusCode, 400);
    assert.equal(deep.json.error?.code, 'invalid_argument');
    assert.match(deep.json.error?.message ?? '', /nested deeper/);

    for (const body of [
      `{"data":${'{"a":'.repeat(80)}1${'}'.repeat(80)}}`,
      `{"data":${'['.repeat(100_000)}${']'.repeat(100_000)}}`,
    ]) {
      const deepData = await post(body);
      assert.equal(deepData.response.statusCode, 400);
      assert.equal(deepData.json.error?.code, 'invalid_argument');
    }

    for (const body of ['{"data":', '\u0000', '{"events":{}}', '[1,2]', '"text"', 'nul']) {
      const answer = await post(body);
      assert.equal(answer.response.statusCode, 400, `400 for ${JSON.stringify(body)}`);
      assert.equal(answer.json.error?.code, 'invalid_argument');
    }

    // Tiny values by the ten thousand weigh more than a connection may hold once parsed.
    const empties = `{"events":[${Array.from({ length: 80_000 }, () => '{}').join(',')}]}`;
    const heavy = await post(empties);
    assert.equal(heavy.response.statusCode, 413);
    assert.equal(heavy.json.error?.code, 'event_too_large');
    await until(async () => (await pendingBytes(ingest)) === 0, 'the budget comes back');
  });
});

function metadataWithKey(): grpc.Metadata {
  const metadata = new grpc.Metadata();
  metadata.set('x-api-key', apiKey);
  return metadata;
}
