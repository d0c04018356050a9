import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { createJwtVerifier, isFanoutError } from '@fanout/shared';
import { SignJWT } from 'jose';
import { parseApiKeys, PublisherAuth } from './publisher-auth.js';

const secret = 'a-test-secret-of-reasonable-length';
const key = 'billing-key-0123456789';
const sha256 = createHash('sha256').update(key).digest('hex');

async function token(claims: Record<string, unknown>, expiresIn = '1h'): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('svc-orders')
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .sign(new TextEncoder().encode(secret));
}

async function auth(required: boolean): Promise<PublisherAuth> {
  return new PublisherAuth({
    required,
    apiKeys: parseApiKeys(
      JSON.stringify([{ name: 'billing', sha256, namespaces: ['billing'] }]),
      'keys.json',
    ),
    jwt: await createJwtVerifier({ hs256Secret: secret }),
    namespacesClaim: 'fanout_publish',
  });
}

function code(error: unknown): string | undefined {
  return isFanoutError(error) ? error.code : undefined;
}

describe('publisher authentication', () => {
  it('identifies a publisher by API key, never storing the key itself', async () => {
    const identity = await (await auth(true)).authenticate({ apiKey: key });
    assert.deepEqual(identity, { name: 'billing', namespaces: ['billing'] });
    await assert.rejects(
      (await auth(true)).authenticate({ apiKey: 'wrong-key-0123456789' }),
      (e) => code(e) === 'unauthenticated',
    );
  });

  it('identifies a publisher by bearer JWT with its namespaces claim', async () => {
    const jwt = await token({ fanout_publish: ['orders', 'audit'] });
    const identity = await (await auth(true)).authenticate({ authorization: `Bearer ${jwt}` });
    assert.deepEqual(identity, { name: 'svc-orders', namespaces: ['orders', 'audit'] });
    const spaced = await token({ fanout_publish: 'orders audit' });
    assert.deepEqual(
      (await (await auth(true)).authenticate({ authorization: `Bearer ${spaced}` })).namespaces,
      ['orders', 'audit'],
    );
  });

  it('tells an expired token from an invalid one', async () => {
    const expired = await token({}, '-1m');
    await assert.rejects(
      (await auth(true)).authenticate({ authorization: `Bearer ${expired}` }),
      (e) => code(e) === 'token_expired',
    );
    await assert.rejects(
      (await auth(true)).authenticate({ authorization: 'Bearer not.a.jwt' }),
      (e) => code(e) === 'unauthenticated',
    );
    await assert.rejects(
      (await auth(true)).authenticate({ authorization: 'Basic abc' }),
      (e) => code(e) === 'unauthenticated',
    );
  });

  it('requires credentials only when configured to', async () => {
    await assert.rejects((await auth(true)).authenticate({}), (e) => code(e) === 'unauthenticated');
    assert.equal((await (await auth(false)).authenticate({})).name, 'anonymous');
  });

  it('allows a namespace and everything below it, nothing else', async () => {
    const publisher = await auth(true);
    const allowed = (namespaces: string[], channel: string) => {
      try {
        publisher.authorize({ name: 'p', namespaces }, [{ channel }]);
        return true;
      } catch (error) {
        assert.equal(code(error), 'permission_denied');
        return false;
      }
    };
    assert.ok(allowed(['orders'], 'orders'));
    assert.ok(allowed(['orders'], 'orders.eu.1'));
    assert.ok(!allowed(['orders'], 'ordersx'));
    assert.ok(!allowed(['orders'], 'billing.1'));
    assert.ok(!allowed([], 'orders'));
    assert.ok(allowed(['billing', 'orders.eu'], 'orders.eu.1'));
    assert.ok(!allowed(['orders.eu'], 'orders.us.1'));
    assert.ok(allowed(['*'], 'anything'));
    assert.throws(
      () => {
        publisher.authorize({ name: 'billing', namespaces: ['billing'] }, [
          { channel: 'billing.1' },
          { channel: 'billing.2' },
          { channel: 'orders.1' },
        ]);
      },
      (e: unknown) =>
        code(e) === 'permission_denied' &&
        (e as Error).message ===
          'events[2].channel: producer "billing" may not publish to "orders.1"',
    );
  });

  it('rejects malformed API key documents with the entry named', () => {
    assert.throws(() => parseApiKeys('{}', 'keys.json'), /keys.json: must be a JSON array/);
    assert.throws(
      () => parseApiKeys('[{"name":"a","namespaces":["x"]}]', 'k'),
      /k\[0\]: needs sha256, key or certificateSubject/,
    );
    assert.throws(
      () => parseApiKeys('[{"name":"a","sha256":"zz","namespaces":["x"]}]', 'k'),
      /k\[0\].sha256/,
    );
    assert.throws(
      () => parseApiKeys('[{"name":"a","key":"long-enough-key-123","namespaces":[]}]', 'k'),
      /namespaces/,
    );
    assert.throws(
      () => parseApiKeys('[{"name":"a","certificateSubject":"","namespaces":["x"]}]', 'k'),
      /k\[0\]\.certificateSubject: must be a non-empty string/,
    );
    assert.throws(
      () =>
        parseApiKeys(
          JSON.stringify([
            { name: 'a', certificateSubject: 'cn', namespaces: ['x'] },
            { name: 'b', certificateSubject: 'cn', namespaces: ['y'] },
          ]),
          'k',
        ),
      /k\[1\]\.certificateSubject: "cn" is already k\[0\]'s/,
    );
  });

  it('identifies a publisher by the CN of its verified client certificate, after keys and tokens', async () => {
    const publishers = new PublisherAuth({
      required: true,
      apiKeys: parseApiKeys(
        JSON.stringify([
          { name: 'billing', sha256, namespaces: ['billing'] },
          { name: 'gateway', certificateSubject: 'gateway.internal', namespaces: ['orders'] },
        ]),
        'keys.json',
      ),
      namespacesClaim: 'fanout_publish',
    });
    assert.ok(publishers.mapsCertificates);
    assert.deepEqual(await publishers.authenticate({ certificateSubject: 'gateway.internal' }), {
      name: 'gateway',
      namespaces: ['orders'],
    });
    assert.equal(
      (await publishers.authenticate({ certificateSubject: 'gateway.internal', apiKey: key })).name,
      'billing',
    );
    await assert.rejects(
      publishers.authenticate({ certificateSubject: 'someone-else' }),
      (e) => code(e) === 'unauthenticated' && String(e).includes('"someone-else" is not mapped'),
    );
    assert.equal(
      (await (await auth(false)).authenticate({ certificateSubject: 'x' })).name,
      'anonymous',
    );
  });
});
