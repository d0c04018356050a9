/**
 * Bearer token verification with several keys at once (a shared secret, a
 * public key file, a JWKS URL), chosen by the token's `alg`, and the JWKS
 * cache against a local key server that counts its requests: one fetch at
 * a time, a cooldown after each, a bounded wait.
 */
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import {
  createJwtVerifier,
  isFanoutError,
  jwtVerifierFromConfig,
  type JwtVerifier,
} from '@fanout/shared';
import {
  hs256Token,
  nowSeconds,
  publicJwk,
  signedToken,
  startJwksServer,
  type JwksServer,
} from '../support/index.js';

const secret = 'jwt-verifier-test-hs256-secret-0123456789';

function rsaKey(): KeyObject {
  return generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
}

function ecKey(): KeyObject {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
}

function pemOf(privateKey: KeyObject): string {
  return createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString();
}

const claims = (sub = 'client-1'): Record<string, unknown> => ({
  sub,
  exp: nowSeconds() + 300,
});

/** The catalog code a verification fails with. */
async function refusal(verifier: JwtVerifier, token: string): Promise<string> {
  try {
    await verifier.verify(token);
  } catch (error) {
    assert.ok(isFanoutError(error), String(error));
    return error.code;
  }
  assert.fail('the token was accepted');
}

/** An HS256 token whose "secret" is the text of a public key: algorithm confusion. */
function confusedToken(pem: string): string {
  return hs256Token(pem, claims('mallory'));
}

/** A token in an `alg` nobody configures, signed with the shared secret. */
function tokenWithAlg(alg: string): string {
  const part = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg, typ: 'JWT' })}.${part(claims('mallory'))}.`;
}

describe('JWT verification with a secret, a public key and a JWKS together', () => {
  const rsa = rsaKey();
  const ec = ecKey();
  const jwksKey = rsaKey();
  let server: JwksServer;
  const dir = mkdtempSync(join(tmpdir(), 'fanout-jwt-'));

  before(async () => {
    server = await startJwksServer([publicJwk(jwksKey, 'jwks-1')]);
  });

  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('accepts HS256 with the secret and RS256 with the public key file, from the settings', async () => {
    const file = join(dir, 'rsa.pem');
    writeFileSync(file, pemOf(rsa));
    const verifier = await jwtVerifierFromConfig({
      jwtHs256Secret: secret,
      jwtPublicKeyFile: file,
      jwksUrl: '',
      jwksCooldownSeconds: 30,
      jwksMaxAgeSeconds: 600,
      jwksTimeoutMs: 5000,
      issuer: '',
      audience: '',
    });
    assert.ok(verifier);
    assert.equal((await verifier.verify(hs256Token(secret, claims('hs')))).subject, 'hs');
    assert.equal((await verifier.verify(signedToken(rsa, claims('rs')))).subject, 'rs');
    // The public key is never an HMAC secret, and other keys sign nothing here.
    assert.equal(await refusal(verifier, confusedToken(pemOf(rsa))), 'unauthenticated');
    assert.equal(await refusal(verifier, signedToken(rsaKey(), claims())), 'unauthenticated');
    assert.equal(
      await refusal(verifier, hs256Token('another-secret', claims())),
      'unauthenticated',
    );
    assert.equal(await refusal(verifier, signedToken(ec, claims())), 'unauthenticated');
    for (const alg of ['none', 'HS384', 'HS512', 'RS512', 'PS256']) {
      assert.equal(await refusal(verifier, tokenWithAlg(alg)), 'unauthenticated', alg);
    }
    assert.equal(await refusal(verifier, 'not.a.token'), 'unauthenticated');
    assert.equal(await refusal(verifier, ''), 'unauthenticated');
  });

  it('accepts ES256 with an EC public key next to the secret', async () => {
    const verifier = await createJwtVerifier({ hs256Secret: secret, publicKeyPem: pemOf(ec) });
    assert.equal((await verifier.verify(signedToken(ec, claims('es')))).subject, 'es');
    assert.equal((await verifier.verify(hs256Token(secret, claims('hs')))).subject, 'hs');
    assert.equal(await refusal(verifier, confusedToken(pemOf(ec))), 'unauthenticated');
    assert.equal(await refusal(verifier, signedToken(rsa, claims())), 'unauthenticated');
  });

  it('checks RS tokens with the public key, then with the JWKS; HS256 only with the secret', async () => {
    const verifier = await createJwtVerifier({
      hs256Secret: secret,
      publicKeyPem: pemOf(rsa),
      jwksUrl: server.url,
    });
    assert.equal((await verifier.verify(signedToken(rsa, claims('file')))).subject, 'file');
    assert.equal(
      (await verifier.verify(signedToken(jwksKey, claims('set'), 'jwks-1'))).subject,
      'set',
    );
    assert.equal((await verifier.verify(hs256Token(secret, claims('hs')))).subject, 'hs');
    assert.equal(await refusal(verifier, confusedToken(pemOf(rsa))), 'unauthenticated');
    assert.equal(
      await refusal(verifier, signedToken(rsaKey(), claims(), 'jwks-1')),
      'unauthenticated',
    );
  });

  it('refuses HS256 tokens when only keys are configured', async () => {
    const verifier = await createJwtVerifier({ publicKeyPem: pemOf(rsa) });
    assert.equal(await refusal(verifier, hs256Token(secret, claims())), 'unauthenticated');
    assert.equal(await refusal(verifier, confusedToken(pemOf(rsa))), 'unauthenticated');
  });

  it('refuses at start-up a key file that is no public key, and a JWKS URL that is not http(s)', async () => {
    const settings = {
      jwtHs256Secret: secret,
      jwtPublicKeyFile: '',
      jwksUrl: '',
      jwksCooldownSeconds: 30,
      jwksMaxAgeSeconds: 600,
      jwksTimeoutMs: 5000,
      issuer: '',
      audience: '',
    };
    const garbage = join(dir, 'garbage.pem');
    writeFileSync(garbage, 'not a key');
    const ed = join(dir, 'ed25519.pem');
    writeFileSync(
      ed,
      generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    );
    for (const file of [garbage, ed, join(dir, 'missing.pem')]) {
      await assert.rejects(
        jwtVerifierFromConfig({ ...settings, jwtPublicKeyFile: file }),
        (error) => {
          assert.ok(isFanoutError(error));
          assert.equal(error.code, 'config_invalid');
          assert.match(error.message, /^auth\.jwtPublicKeyFile: /);
          return true;
        },
      );
    }
    await assert.rejects(
      jwtVerifierFromConfig({ ...settings, jwksUrl: 'file:///etc/keys' }),
      (error) => {
        assert.ok(isFanoutError(error));
        assert.equal(error.code, 'config_invalid');
        assert.match(error.message, /^auth\.jwksUrl: /);
        return true;
      },
    );
  });
});

describe('JWKS fetches', () => {
  const first = rsaKey();
  const second = rsaKey();
  const attacker = rsaKey();
  let server: JwksServer;
  let now = 1_000_000;
  const cooldownMs = 30_000;

  function verifier(options: { timeoutMs?: number; maxAgeMs?: number } = {}): Promise<JwtVerifier> {
    return createJwtVerifier({
      jwksUrl: server.url,
      jwks: {
        cooldownMs,
        maxAgeMs: options.maxAgeMs ?? 600_000,
        timeoutMs: options.timeoutMs ?? 5000,
        now: () => now,
      },
    });
  }

  /** `count` verifications at once of tokens with made-up key ids. */
  async function unknownKids(jwt: JwtVerifier, count: number): Promise<string[]> {
    return Promise.all(
      Array.from({ length: count }, (_, index) =>
        refusal(jwt, signedToken(attacker, claims(), `made-up-${index}-${Math.random()}`)),
      ),
    );
  }

  before(async () => {
    server = await startJwksServer([publicJwk(first, 'k1')]);
  });

  afterEach(() => {
    server.mode = 'serve';
    server.release();
    server.keys = [publicJwk(first, 'k1')];
  });

  after(() => server.close());

  it('fetches once per cooldown while the key server fails, however many unknown kids arrive', async () => {
    const jwt = await verifier();
    server.mode = 'fail';
    const base = server.requests;
    const codes = await unknownKids(jwt, 25);
    assert.equal(server.requests - base, 1);
    // The keys could not be fetched: the tokens may be good, retry later.
    assert.deepEqual(new Set(codes), new Set(['unavailable']));
    // Within the cooldown nothing is fetched, not even for a good token.
    now += cooldownMs - 1;
    server.mode = 'serve';
    assert.deepEqual(new Set(await unknownKids(jwt, 25)), new Set(['unavailable']));
    assert.equal(await refusal(jwt, signedToken(first, claims(), 'k1')), 'unavailable');
    assert.equal(server.requests - base, 1);
    // After it, one fetch, and the key is accepted.
    now += 1;
    assert.equal((await jwt.verify(signedToken(first, claims('ok'), 'k1'))).subject, 'ok');
    assert.equal(server.requests - base, 2);
  });

  it('fetches once per cooldown for unknown kids while the key server answers', async () => {
    const jwt = await verifier();
    const base = server.requests;
    assert.equal((await jwt.verify(signedToken(first, claims(), 'k1'))).subject, 'client-1');
    assert.equal(server.requests - base, 1);
    // Right after a fetch, unknown kids are refused without another.
    assert.deepEqual(new Set(await unknownKids(jwt, 25)), new Set(['unauthenticated']));
    assert.equal(server.requests - base, 1);
    now += cooldownMs;
    assert.deepEqual(new Set(await unknownKids(jwt, 25)), new Set(['unauthenticated']));
    assert.equal(server.requests - base, 2);
    assert.deepEqual(new Set(await unknownKids(jwt, 25)), new Set(['unauthenticated']));
    assert.equal(server.requests - base, 2);
  });

  it('makes every caller wait on the one fetch under way', async () => {
    const jwt = await verifier();
    const base = server.requests;
    server.mode = 'hold';
    const token = signedToken(first, claims('held'), 'k1');
    const waiting = Promise.all(Array.from({ length: 25 }, () => jwt.verify(token)));
    const unknown = unknownKids(jwt, 25);
    await waitUntil(() => server.requests - base === 1);
    server.mode = 'serve';
    server.release();
    assert.deepEqual(
      new Set((await waiting).map((verified) => verified.subject)),
      new Set(['held']),
    );
    assert.deepEqual(new Set(await unknown), new Set(['unauthenticated']));
    assert.equal(server.requests - base, 1);
  });

  it('accepts a rotated key after the cooldown, and refuses the removed one once fetched', async () => {
    const jwt = await verifier();
    const base = server.requests;
    assert.equal((await jwt.verify(signedToken(first, claims('old'), 'k1'))).subject, 'old');
    server.keys = [publicJwk(second, 'k2')];
    const rotated = signedToken(second, claims('new'), 'k2');
    // Within the cooldown of the last fetch, the new kid is not known yet.
    assert.equal(await refusal(jwt, rotated), 'unauthenticated');
    assert.equal(server.requests - base, 1);
    now += cooldownMs;
    assert.equal((await jwt.verify(rotated)).subject, 'new');
    assert.equal(server.requests - base, 2);
    // The removed key is gone with the fetch that no longer lists it.
    assert.equal(await refusal(jwt, signedToken(first, claims(), 'k1')), 'unauthenticated');
    assert.equal(server.requests - base, 2);
  });

  it('keeps the last keys while the key server fails, and fetches again after the maximum age', async () => {
    const jwt = await verifier({ maxAgeMs: 60_000 });
    const base = server.requests;
    const token = signedToken(first, claims('kept'), 'k1');
    assert.equal((await jwt.verify(token)).subject, 'kept');
    server.mode = 'fail';
    now += 60_000;
    // Old keys verify while the fetch they started fails.
    assert.equal((await jwt.verify(token)).subject, 'kept');
    await waitUntil(() => server.requests - base === 2);
    assert.equal((await jwt.verify(token)).subject, 'kept');
    // The key server answers again with another key: the old one is refused once fetched.
    server.mode = 'serve';
    server.keys = [publicJwk(second, 'k2')];
    now += cooldownMs;
    await jwt.verify(token).catch(() => undefined);
    await waitUntil(() => server.requests - base === 3);
    await waitUntilRefused(jwt, token);
  });

  it('tries each key of the set when a token has no kid', async () => {
    server.keys = [publicJwk(first), publicJwk(second)];
    const jwt = await verifier();
    assert.equal((await jwt.verify(signedToken(second, claims('second')))).subject, 'second');
    assert.equal((await jwt.verify(signedToken(first, claims('first')))).subject, 'first');
    assert.equal(await refusal(jwt, signedToken(rsaKey(), claims())), 'unauthenticated');
  });

  it('waits no longer than the fetch timeout', async () => {
    const jwt = await verifier({ timeoutMs: 200 });
    const base = server.requests;
    server.mode = 'hold';
    const [known, unknown] = await Promise.all([
      refusal(jwt, signedToken(first, claims(), 'k1')),
      unknownKids(jwt, 10),
    ]);
    assert.equal(known, 'unavailable');
    assert.deepEqual(new Set(unknown), new Set(['unavailable']));
    // Last in this suite: on a slow machine the request may reach the server after the timeout, or never.
    assert.ok(server.requests - base <= 1);
  });
});

async function waitUntil(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    assert.ok(Date.now() < deadline, 'the condition did not hold in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function waitUntilRefused(jwt: JwtVerifier, token: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await jwt.verify(token);
    } catch (error) {
      assert.ok(isFanoutError(error));
      assert.equal(error.code, 'unauthenticated');
      return;
    }
    assert.ok(Date.now() < deadline, 'the removed key is still accepted');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
