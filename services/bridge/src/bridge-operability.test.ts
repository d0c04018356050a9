/**
 * The bridge as an operated service: its readiness follows the ingest's
 * gRPC health service (a real gRPC server on loopback that comes up late and
 * then stops serving), and `PUT /internal/v1/leases` wants the shared lease
 * token (missing, wrong and right, refused before the body is read).
 */
import assert from 'node:assert/strict';
import { connect, createServer as createTcpServer, type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { createLogger, loadConfig } from '@fanout/shared';
import { Registry } from 'prom-client';
import { startBridgeApp, type BridgeApp } from './bridge-app.js';
import { leasesPath } from './bridge-http.js';
import {
  decodeHealthCheckRequest,
  decodeHealthCheckResponse,
  encodeHealthCheckRequest,
  encodeHealthCheckResponse,
  healthCheckPath,
  ingestServiceName,
  servingStatus,
} from './ingest-health.js';
import type { BridgePublisher, PublishOutcome } from './ingest-publisher.js';
import { json, startUpstream, type LocalUpstream } from './testing/local-upstream.js';

const logger = createLogger({ service: 'test', level: 'silent' });
const leaseToken = 'lease-token-0123456789abcdef';

async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** A port nothing listens on (yet). */
async function freePort(): Promise<number> {
  const server = createTcpServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) =>
    server.close(() => {
      resolve();
    }),
  );
  return port;
}

/** grpc.health.v1.Health/Check on loopback, answering `status` for the ingest service. */
async function startHealthServer(port: number): Promise<{
  status: number;
  asked: string[];
  close(): Promise<void>;
}> {
  const state = { status: servingStatus, asked: [] as string[] };
  const server = new grpc.Server();
  server.addService(
    {
      Check: {
        path: healthCheckPath,
        requestStream: false,
        responseStream: false,
        requestSerialize: encodeHealthCheckRequest,
        requestDeserialize: decodeHealthCheckRequest,
        responseSerialize: encodeHealthCheckResponse,
        responseDeserialize: decodeHealthCheckResponse,
      },
    },
    {
      Check: (call: grpc.ServerUnaryCall<string, number>, callback: grpc.sendUnaryData<number>) => {
        state.asked.push(call.request);
        callback(null, state.status);
      },
    },
  );
  await new Promise<void>((resolve, reject) => {
    server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (error) => {
      if (error) reject(error);
      else resolve();
    });
  });
  return Object.assign(state, {
    close: () =>
      new Promise<void>((resolve) => {
        server.tryShutdown(() => {
          resolve();
        });
      }),
  });
}

describe('the health check messages', () => {
  it('encode and decode the one field of each', () => {
    assert.equal(
      decodeHealthCheckRequest(encodeHealthCheckRequest(ingestServiceName)),
      ingestServiceName,
    );
    assert.equal(decodeHealthCheckRequest(Buffer.alloc(0)), '');
    assert.equal(decodeHealthCheckResponse(encodeHealthCheckResponse(servingStatus)), 1);
    assert.equal(decodeHealthCheckResponse(encodeHealthCheckResponse(2)), 2);
    assert.equal(decodeHealthCheckResponse(Buffer.alloc(0)), 0);
    // Unknown fields are skipped; a cut-short message is refused.
    assert.equal(decodeHealthCheckResponse(Buffer.from([0x12, 0x01, 0x41, 0x08, 0x01])), 1);
    assert.throws(() => decodeHealthCheckResponse(Buffer.from([0x08])), RangeError);
  });
});

describe('bridge readiness follows the ingest', () => {
  let upstream: LocalUpstream;
  let app: BridgeApp;
  let base: string;
  let ingestPort: number;

  before(async () => {
    upstream = await startUpstream((_request, response) => {
      json(response, { ok: true });
    });
    ingestPort = await freePort();
    const config = loadConfig({
      env: {},
      overrides: {
        'bridge.origins': [{ origin: upstream.origin, allowPrivate: true }],
        'bridge.resources': [{ channel: 'ops.declared', url: `${upstream.origin}/declared` }],
        'bridge.host': '127.0.0.1',
        'bridge.port': 0,
        'bridge.pollIntervalMs': 200,
        'bridge.minPollIntervalMs': 100,
        'bridge.ingestAddress': `127.0.0.1:${ingestPort}`,
        'bridge.ingestCheckIntervalMs': 100,
        'bridge.publishTimeoutMs': 500,
      },
    });
    app = await startBridgeApp({ config, logger, registry: new Registry() });
    base = `http://127.0.0.1:${app.port}`;
  });

  after(async () => {
    await app.stop();
    await upstream.close();
  });

  async function readyz(): Promise<[number, unknown]> {
    const response = await fetch(`${base}/readyz`);
    return [response.status, await response.json()];
  }

  it('is not ready, leases nothing and polls nothing while the ingest is unreachable; serves once it is up; stops when it stops serving', async () => {
    assert.deepEqual(await readyz(), [503, { ready: false, reason: 'ingest-unavailable' }]);
    const refused = await fetch(`${base}${leasesPath}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ url: `${upstream.origin}/leased`, leaseMs: 1000 }),
    });
    assert.equal(refused.status, 503);
    assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'unavailable');
    // Several check intervals pass: still nothing polled.
    await new Promise((resolve) => setTimeout(resolve, 400));
    assert.deepEqual(app.runtime.runningChannels(), []);
    assert.equal(upstream.requests.length, 0);

    const ingest = await startHealthServer(ingestPort);
    try {
      await until('the bridge is ready', async () => (await readyz())[0] === 200);
      assert.equal(ingest.asked[0], ingestServiceName);
      assert.deepEqual(app.runtime.runningChannels(), ['ops.declared']);
      await until('the declared resource is polled', () => upstream.requests.length > 0);

      ingest.status = 2; // NOT_SERVING: the ingest lost Kafka
      await until('the bridge is not ready', async () => (await readyz())[0] === 503);
      assert.deepEqual(await readyz(), [503, { ready: false, reason: 'ingest-unavailable' }]);
      assert.deepEqual(app.runtime.runningChannels(), []);

      ingest.status = servingStatus;
      await until('the bridge is ready again', async () => (await readyz())[0] === 200);
      assert.deepEqual(app.runtime.runningChannels(), ['ops.declared']);
    } finally {
      await ingest.close();
    }
  });
});

class NullPublisher implements BridgePublisher {
  putState(): Promise<PublishOutcome> {
    return Promise.resolve({ position: 'e:0:1', duplicate: false });
  }
  publishEvent(): Promise<PublishOutcome> {
    return Promise.resolve({ position: 'e:1:1', duplicate: false });
  }
  close(): void {}
}

describe('authenticated leases', () => {
  let upstream: LocalUpstream;
  let app: BridgeApp;
  let port: number;

  before(async () => {
    upstream = await startUpstream((_request, response) => {
      json(response, { ok: true });
    });
    const config = loadConfig({
      env: { FANOUT_BRIDGE_LEASE_TOKEN: leaseToken },
      overrides: {
        'bridge.origins': [{ origin: upstream.origin, allowPrivate: true }],
        'bridge.host': '127.0.0.1',
        'bridge.port': 0,
        'bridge.minPollIntervalMs': 100,
      },
    });
    app = await startBridgeApp({
      config,
      logger,
      registry: new Registry(),
      publisher: new NullPublisher(),
    });
    port = app.port;
  });

  after(async () => {
    await app.stop();
    await upstream.close();
  });

  function lease(authorization: string | undefined): Promise<Response> {
    return fetch(`http://127.0.0.1:${port}${leasesPath}`, {
      method: 'PUT',
      headers: {
        'content-type': 'application/json',
        ...(authorization === undefined ? {} : { authorization }),
      },
      body: JSON.stringify({ url: `${upstream.origin}/items/1`, leaseMs: 60_000 }),
    });
  }

  async function codeOf(response: Response): Promise<[number, string]> {
    return [response.status, ((await response.json()) as { error: { code: string } }).error.code];
  }

  it('refuses a lease without the token or with a wrong one, 401 unauthenticated', async () => {
    assert.deepEqual(await codeOf(await lease(undefined)), [401, 'unauthenticated']);
    assert.deepEqual(await codeOf(await lease(`Bearer ${leaseToken}x`)), [401, 'unauthenticated']);
    assert.deepEqual(await codeOf(await lease(`Bearer ${leaseToken.slice(0, -1)}`)), [
      401,
      'unauthenticated',
    ]);
    assert.deepEqual(await codeOf(await lease(`Basic ${leaseToken}`)), [401, 'unauthenticated']);
    assert.equal(app.runtime.leasedCount, 0);
    // Readiness and health need no token.
    assert.equal((await fetch(`http://127.0.0.1:${port}/readyz`)).status, 200);
  });

  it('answers 401 before reading the body', async () => {
    // A request that announces a body and never sends it still gets its answer.
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      let text = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        text += chunk;
        if (text.includes('\r\n\r\n') && text.includes('}}')) {
          socket.destroy();
          resolve(text);
        }
      });
      socket.on('error', reject);
      socket.write(
        `PUT ${leasesPath} HTTP/1.1\r\nhost: bridge\r\ncontent-type: application/json\r\ncontent-length: 10000\r\n\r\n`,
      );
    });
    assert.match(answer, /^HTTP\/1\.1 401 /);
    assert.match(answer, /"code":"unauthenticated"/);
  });

  it('grants a lease with the right token', async () => {
    const answer = await lease(`Bearer ${leaseToken}`);
    assert.equal(answer.status, 200);
    assert.equal(app.runtime.leasedCount, 1);
  });
});
