/**
 * Token keys through real ingest and edge processes configured by
 * environment: a shared secret, a public key file and a JWKS URL at once
 * (each token checked by the key of its `alg`, never an HS256 token with
 * the public key), and a failing key server that clients with made-up key
 * ids cannot drive (one fetch per cooldown, however many connect).
 */
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  hs256Token,
  nowSeconds,
  publicJwk,
  signedToken,
  startEdgeProcess,
  startIngestProcess,
  startJwksServer,
  stopOwnKafka,
  testKafka,
  TestSocket,
  type EdgeProcess,
  type IngestProcess,
  type JwksServer,
  type TestKafka,
} from '../support/index.js';
import { handshakeStatus } from '../support/edge-test-clients.js';

const secret = 'jwt-keys-test-hs256-secret-0123456789';
const channel = 'jwt.keys';

const rsaKey = (): KeyObject => generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;

const claims = (sub: string): Record<string, unknown> => ({
  sub,
  exp: nowSeconds() + 600,
  fanout_subscribe: ['jwt'],
  fanout_publish: ['jwt'],
});

/** The HTTP status of a plain GET of the channel on an edge, with `token`. */
async function readStatus(edge: EdgeProcess, token: string): Promise<number> {
  const response = await fetch(`${edge.httpBase}/v1/channels/${channel}?limit=1`, {
    headers: { authorization: `Bearer ${token}` },
  });
  await response.body?.cancel();
  return response.status;
}

/** The HTTP status of a publish to the channel on an ingest, with `token`. */
async function publishStatus(ingest: IngestProcess, token: string): Promise<number> {
  const response = await fetch(`${ingest.httpBase}/v1/channels/${channel}/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ type: 'tick', data: { at: Date.now() } }),
  });
  await response.body?.cancel();
  return response.status;
}

/** Waits until `status()` is `expected` (the first reads may find the edge still starting). */
async function eventually(
  status: () => Promise<number>,
  expected: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + 30_000;
  let last = await status();
  while (last !== expected && Date.now() < deadline) {
    await sleep(200);
    last = await status();
  }
  assert.equal(last, expected, what);
}

describe('token keys through real ingest and edge processes', () => {
  let kafka: TestKafka;
  let topic: string;
  const dir = mkdtempSync(join(tmpdir(), 'fanout-jwt-keys-'));
  const fileKey = rsaKey();
  const firstJwksKey = rsaKey();
  const secondJwksKey = rsaKey();
  const pem = createPublicKey(fileKey).export({ type: 'spki', format: 'pem' }).toString();
  let keyServer: JwksServer;
  const started: { kill(signal: NodeJS.Signals): Promise<void> }[] = [];

  before(async () => {
    kafka = await testKafka();
    topic = await kafka.createTopic({ name: 'jwt-keys', partitions: 2 });
    keyServer = await startJwksServer([publicJwk(firstJwksKey, 'kid-1')]);
  });

  after(async () => {
    await Promise.all(started.map((process) => process.kill('SIGKILL')));
    await keyServer.close();
    rmSync(dir, { recursive: true, force: true });
    await kafka.close();
    await stopOwnKafka();
  });

  it('accepts HS256, public-key and JWKS tokens together, and never an HS256 token keyed with the public key', async () => {
    const keyFile = join(dir, 'public.pem');
    writeFileSync(keyFile, pem);
    const env = {
      FANOUT_AUTH_JWT_HS256_SECRET: secret,
      FANOUT_AUTH_JWT_PUBLIC_KEY_FILE: keyFile,
      FANOUT_AUTH_JWKS_URL: keyServer.url,
      FANOUT_AUTH_JWKS_COOLDOWN_SECONDS: '1',
      FANOUT_KAFKA_PARTITIONS: '2',
    };
    const [ingest, edge] = await Promise.all([
      startIngestProcess({
        brokers: kafka.brokers,
        topic,
        env: { ...env, FANOUT_INGEST_AUTH_REQUIRED: 'true' },
      }),
      startEdgeProcess({
        brokers: kafka.brokers,
        topic,
        env: { ...env, FANOUT_EDGE_AUTH_REQUIRED: 'true' },
      }),
    ]);
    started.push(ingest, edge);

    const good = {
      secret: hs256Token(secret, claims('by-secret')),
      file: signedToken(fileKey, claims('by-file')),
      jwks: signedToken(firstJwksKey, claims('by-jwks'), 'kid-1'),
    };
    for (const [name, token] of Object.entries(good)) {
      await eventually(() => readStatus(edge, token), 200, `edge, token ${name}`);
      assert.equal(await publishStatus(ingest, token), 200, `ingest, token ${name}`);
    }
    const bad = {
      // The public key text as an HMAC secret: algorithm confusion.
      confused: hs256Token(pem, claims('mallory')),
      otherKey: signedToken(rsaKey(), claims('mallory')),
      otherSecret: hs256Token('not-the-secret-0123456789', claims('mallory')),
    };
    for (const [name, token] of Object.entries(bad)) {
      assert.equal(await readStatus(edge, token), 401, `edge, token ${name}`);
      assert.equal(await publishStatus(ingest, token), 401, `ingest, token ${name}`);
    }

    // A rotated key set: the new kid is accepted once the cooldown (1 s) has passed.
    keyServer.keys = [publicJwk(secondJwksKey, 'kid-2')];
    const rotated = signedToken(secondJwksKey, claims('rotated'), 'kid-2');
    await eventually(() => readStatus(edge, rotated), 200, 'edge, rotated key');
    await eventually(() => publishStatus(ingest, rotated), 200, 'ingest, rotated key');
  });

  it('fetches the failing key server once per cooldown, however many clients with unknown kids connect', async () => {
    const failing = await startJwksServer([]);
    failing.mode = 'fail';
    try {
      const edge = await startEdgeProcess({
        brokers: kafka.brokers,
        topic,
        env: {
          FANOUT_EDGE_AUTH_REQUIRED: 'true',
          FANOUT_AUTH_JWKS_URL: failing.url,
          FANOUT_AUTH_JWKS_COOLDOWN_SECONDS: '3600',
        },
      });
      started.push(edge);
      const attacker = rsaKey();
      const burst = async (): Promise<number[]> => {
        const sockets = Array.from(
          { length: 20 },
          (_, index) =>
            new TestSocket(edge.wsUrl, 'fanout.json.v1', {
              authorization: `Bearer ${signedToken(attacker, claims('mallory'), `made-up-${index}`)}`,
            }),
        );
        const gets = Array.from({ length: 5 }, (_, index) =>
          readStatus(edge, signedToken(attacker, claims('mallory'), `made-up-get-${index}`)),
        );
        const statuses = await Promise.all([...sockets.map(handshakeStatus), ...gets]);
        for (const socket of sockets) socket.socket.terminate();
        return statuses;
      };
      // The keys could not be fetched: 503 unavailable (retry), not 401.
      assert.deepEqual(new Set(await burst()), new Set([503]));
      assert.equal(failing.requests, 1);
      assert.deepEqual(new Set(await burst()), new Set([503]));
      assert.equal(failing.requests, 1);
    } finally {
      await failing.close();
    }
  });
});
