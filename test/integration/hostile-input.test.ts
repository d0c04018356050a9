/**
 * Hostile input against real processes: a short run of the `npm run fuzz`
 * hostile-input run, and the answers it once found wrong, each on its own.
 */
import assert from 'node:assert/strict';
import { Agent, request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { formatReport, runHostileInput } from '../fuzz/hostile-run.js';
import {
  rawIngestClient,
  startEdgeStack,
  type EdgeStack,
  type RawIngestClient,
} from '../support/index.js';

/** A length prefix far beyond the message: not a PublishRequest. */
const undecodable = Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]);

function errorCode(error: grpc.ServiceError): string {
  return String(error.metadata.get('fanout-error-code')[0]);
}

/**
 * The raw answers to requests sent on one keep-alive connection. (Node's
 * client parses answers strictly: a body where none belongs breaks the next.)
 */
function pipelined(
  base: string,
  requests: readonly { method: string; path: string }[],
): Promise<string> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const connection = connect({ host: url.hostname, port: Number(url.port) });
    let text = '';
    connection.on('data', (chunk) => {
      text += chunk.toString('latin1');
    });
    connection.on('error', reject);
    // Both answers arrive at once; the connection stays open (keep-alive) until this.
    connection.setTimeout(1500, () => {
      connection.destroy();
      resolve(text);
    });
    connection.on('close', () => {
      resolve(text);
    });
    connection.write(
      requests.map(({ method, path }) => `${method} ${path} HTTP/1.1\r\nHost: x\r\n\r\n`).join(''),
    );
  });
}

/** What one request on `agent` got: its status and error code, or how its connection ended. */
function publishOn(
  agent: Agent,
  base: string,
  body: Buffer,
  send: 'declared' | 'chunked',
): Promise<{ status?: number; code?: string; ended?: string }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const request = httpRequest({
      host: url.hostname,
      port: url.port,
      method: 'POST',
      path: '/v1/channels/hostile.keepalive/events',
      headers: {
        'content-type': 'application/json',
        ...(send === 'declared'
          ? { 'content-length': String(body.length) }
          : { 'transfer-encoding': 'chunked' }),
      },
      agent,
    });
    const timer = setTimeout(() => {
      request.destroy();
      reject(new Error(`no answer and no close within 20 s (${send}, ${body.length} bytes)`));
    }, 20_000);
    const settle = (result: { status?: number; code?: string; ended?: string }): void => {
      clearTimeout(timer);
      resolve(result);
    };
    request.on('error', (error: NodeJS.ErrnoException) => {
      settle({ ended: error.code ?? error.message });
    });
    request.on('response', (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', () => undefined);
      response.once('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const code =
          response.statusCode === 200
            ? undefined
            : (JSON.parse(text) as { error: { code: string } }).error.code;
        settle({ status: response.statusCode ?? 0, ...(code === undefined ? {} : { code }) });
      });
    });
    if (send === 'chunked') {
      // In slices, as a producer streaming its body would.
      const slice = 1024 * 1024;
      let offset = 0;
      const more = (): void => {
        while (offset < body.length) {
          const part = body.subarray(offset, offset + slice);
          offset += slice;
          if (!request.write(part)) {
            request.once('drain', more);
            return;
          }
        }
        request.end();
      };
      more();
    } else request.end(body);
  });
}

describe('hostile input', () => {
  let stack: EdgeStack;
  let client: RawIngestClient;

  before(async () => {
    stack = await startEdgeStack({ name: 'hostile', partitions: 2 });
    client = rawIngestClient(`127.0.0.1:${stack.ingest.app.grpcPort}`);
  });

  after(async () => {
    client.close();
    await stack.stop();
  });

  it('answers a Publish message that does not decode with invalid_argument', async () => {
    const error = await new Promise<grpc.ServiceError | null>((resolve) => {
      client.publish(undecodable, (failure) => {
        resolve(failure);
      });
    });
    assert.ok(error);
    assert.equal(error.code, grpc.status.INVALID_ARGUMENT);
    assert.equal(errorCode(error), 'invalid_argument');
  });

  it('ends a PublishStream whose message does not decode with invalid_argument', async () => {
    const call = client.publishStream();
    call.on('data', () => undefined);
    const error = await new Promise<grpc.ServiceError>((resolve) => {
      call.on('error', resolve);
      call.write(undecodable);
    });
    assert.equal(error.code, grpc.status.INVALID_ARGUMENT);
    assert.equal(errorCode(error), 'invalid_argument');
  });

  it('answers a request target that reads as another host with not_found, not internal', async () => {
    const response = await pipelined(stack.ingest.httpBase, [
      { method: 'POST', path: '//a%/b/events' },
    ]);
    assert.match(response, /^HTTP\/1\.1 404 /);
    assert.match(response, /"code":"not_found"/);
  });

  it('answers a publish with another method than POST with method_not_allowed', async () => {
    const response = await fetch(`${stack.ingest.httpBase}/v1/channels/a/events`);
    assert.equal(response.status, 405);
    assert.equal(response.headers.get('allow'), 'POST');
    const body = (await response.json()) as { error: { code: string } };
    assert.equal(body.error.code, 'method_not_allowed');
  });

  it('answers HEAD without a body, so the next answer on the connection reads right', async () => {
    const answers = await pipelined(stack.edge.httpBase, [
      { method: 'HEAD', path: '/v1/nothing' },
      { method: 'GET', path: '/v1/nothing' },
    ]);
    const [head, get] = answers.split(/(?=HTTP\/1\.1 )/);
    assert.match(head ?? '', /^HTTP\/1\.1 404 [^]*\r\n\r\n$/);
    assert.match(get ?? '', /^HTTP\/1\.1 404 [^]*"code":"not_found"/);
  });

  it('answers or closes a body over the request limit, and answers the next request on a keep-alive agent', async () => {
    // One socket at a time: a later request reuses the connection if it was kept.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const base = stack.ingest.httpBase;
    const limit = 16 * 1024 * 1024; // the default request limit
    const over = Buffer.from(JSON.stringify({ data: 'x'.repeat(limit) }));
    const valid = Buffer.from(JSON.stringify({ type: 't', data: { n: 1 } }));
    try {
      for (const send of ['declared', 'chunked', 'declared', 'chunked'] as const) {
        const refused = await publishOn(agent, base, over, send);
        // A close without the answer is allowed (the client was still sending the body).
        if (refused.ended === undefined) {
          assert.equal(refused.status, 413, JSON.stringify(refused));
          assert.equal(refused.code, 'event_too_large');
        }
        const next = await publishOn(agent, base, valid, 'declared');
        assert.equal(next.status, 200, JSON.stringify(next));
        const small = await publishOn(agent, base, valid, 'chunked');
        assert.equal(small.status, 200, JSON.stringify(small));
      }
    } finally {
      agent.destroy();
    }
  });

  it('keeps both processes serving every control event through a short hostile run', async () => {
    const report = await runHostileInput({ inputs: 400, maxSeconds: 120, seed: 20261202 });
    assert.deepEqual(report.failures, [], formatReport(report));
    assert.ok(report.tally.total >= 400, formatReport(report));
    assert.ok(report.control.acknowledged > 0, formatReport(report));
  });
});
