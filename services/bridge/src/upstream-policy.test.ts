import assert from 'node:assert/strict';
import { promises as dns } from 'node:dns';
import { describe, it } from 'node:test';
import dns2 from 'dns2';
import { loadConfig } from '@fanout/shared';
import { UpstreamError } from './upstream-error.js';
import {
  resolverResolve,
  upstreamOrigins,
  UpstreamPolicy,
  type ResolveHost,
  type UpstreamOrigin,
} from './upstream-policy.js';

const origin = (value: string, allowPrivate = false): UpstreamOrigin => ({
  origin: value,
  allowPrivate,
  forwardHeaders: [],
  headers: {},
});

/** A resolver answering from a table; unknown names do not resolve. */
function table(entries: Record<string, readonly string[]>): ResolveHost {
  return (hostname) => {
    const answers = entries[hostname];
    if (answers === undefined) return Promise.reject(new Error(`${hostname}: ENOTFOUND`));
    return Promise.resolve(
      answers.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })),
    );
  };
}

async function refusal(promise: Promise<unknown>): Promise<UpstreamError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof UpstreamError, String(error));
    return error;
  }
  assert.fail('expected a refusal');
}

describe('UpstreamPolicy: the allow-list', () => {
  const policy = new UpstreamPolicy(
    [origin('https://api.example.com'), origin('http://plain.example.com:8080')],
    table({
      'api.example.com': ['93.184.216.34'],
      'plain.example.com': ['93.184.216.35'],
      'other.example.com': ['93.184.216.36'],
    }),
  );

  it('allows a URL of a listed origin and resolves its host', async () => {
    const target = await policy.check('https://api.example.com/v1/items?page=2#top');
    assert.equal(target.url.href, 'https://api.example.com/v1/items?page=2');
    assert.equal(target.hostname, 'api.example.com');
    assert.deepEqual(target.addresses, [{ address: '93.184.216.34', family: 4 }]);
    assert.equal(target.origin.origin, 'https://api.example.com');
  });

  it('matches scheme, host and port exactly', async () => {
    await policy.check('https://API.Example.com:443/x');
    await policy.check('http://plain.example.com:8080/x');
    for (const url of [
      'http://api.example.com/x', // http where the entry says https
      'https://api.example.com:8443/x',
      'https://other.example.com/x',
      'https://example.com/x',
      'https://api.example.com.evil.test/x',
      'https://plain.example.com:8080/x',
      'http://plain.example.com/x',
    ]) {
      const error = await refusal(policy.check(url));
      assert.equal(error.code, 'upstream_refused', url);
      assert.equal(error.info.reason, 'origin-not-allowed', url);
    }
  });

  it('refuses user info, other schemes and what does not parse', async () => {
    const cases: readonly (readonly [string, string])[] = [
      ['https://user:secret@api.example.com/x', 'userinfo'],
      ['https://user@api.example.com/x', 'userinfo'],
      ['ftp://api.example.com/x', 'scheme'],
      ['file:///etc/passwd', 'scheme'],
      ['javascript:alert(1)', 'scheme'],
      ['not a url', 'invalid-url'],
    ];
    for (const [url, reason] of cases) {
      const error = await refusal(policy.check(url));
      assert.equal(error.code, 'upstream_refused', url);
      assert.equal(error.info.reason, reason, url);
    }
  });

  it('allows nothing by default', async () => {
    const empty = new UpstreamPolicy(upstreamOrigins(loadConfig({ env: {} }).bridge.origins));
    assert.deepEqual(empty.origins, []);
    const error = await refusal(empty.check('https://api.example.com/'));
    assert.equal(error.info.reason, 'origin-not-allowed');
  });

  it('reads the configuration: origins as strings or entries', () => {
    const config = loadConfig({
      env: {},
      overrides: {
        'bridge.origins': [
          'https://a.example.com',
          {
            origin: 'http://127.0.0.1:9000',
            allowPrivate: true,
            forwardHeaders: ['Authorization'],
            headers: { 'X-Api-Key': 'k' },
          },
        ],
      },
    });
    assert.deepEqual(upstreamOrigins(config.bridge.origins), [
      origin('https://a.example.com'),
      {
        origin: 'http://127.0.0.1:9000',
        allowPrivate: true,
        forwardHeaders: ['authorization'],
        headers: { 'X-Api-Key': 'k' },
      },
    ]);
    assert.throws(
      () => loadConfig({ env: { FANOUT_BRIDGE_ORIGINS: 'https://a.example.com/path' } }),
      /FANOUT_BRIDGE_ORIGINS: item 1 must be an origin/,
    );
    assert.throws(
      () =>
        loadConfig({
          env: {},
          overrides: {
            'bridge.origins': [{ origin: 'https://a.example.com', headers: { Host: 'b' } }],
          },
        }),
      /config/i,
    );
  });
});

describe('UpstreamPolicy: addresses', () => {
  const refusedLiterals: readonly (readonly [string, string])[] = [
    ['http://10.0.0.1', 'address-private'],
    ['http://172.16.5.4', 'address-private'],
    ['http://192.168.0.10', 'address-private'],
    ['http://100.64.1.1', 'address-private'],
    ['http://127.0.0.1', 'address-loopback'],
    ['http://169.254.10.10', 'address-link-local'],
    ['http://169.254.169.254', 'address-metadata'],
    ['http://0.0.0.0', 'address-unspecified'],
    ['http://224.0.0.1', 'address-multicast'],
    ['http://[::1]', 'address-loopback'],
    ['http://[fd00::1]', 'address-private'],
    ['http://[fe80::1]', 'address-link-local'],
    ['http://[::]', 'address-unspecified'],
    ['http://[ff02::1]', 'address-multicast'],
    ['http://[::ffff:127.0.0.1]', 'address-loopback'],
    ['http://[::ffff:169.254.169.254]', 'address-metadata'],
    ['http://[::ffff:10.0.0.1]', 'address-private'],
    ['http://[64:ff9b::a9fe:a9fe]', 'address-metadata'],
  ];

  it('refuses every non-public literal address of an allowed origin', async () => {
    const policy = new UpstreamPolicy(refusedLiterals.map(([url]) => origin(url)));
    for (const [url, reason] of refusedLiterals) {
      const error = await refusal(policy.check(`${url}/x`));
      assert.equal(error.info.reason, reason, url);
    }
  });

  it('refuses the obfuscated spellings of loopback, which URL parsing normalises', async () => {
    const policy = new UpstreamPolicy([origin('http://127.0.0.1')]);
    for (const url of [
      'http://2130706433/',
      'http://0x7f.1/',
      'http://0177.0.0.1/',
      'http://127.1/',
    ]) {
      const error = await refusal(policy.check(url));
      assert.equal(error.info.reason, 'address-loopback', url);
    }
  });

  it('opens private, loopback and link-local, and only those, with allowPrivate', async () => {
    const policy = new UpstreamPolicy(refusedLiterals.map(([url]) => origin(url, true)));
    for (const [url, reason] of refusedLiterals) {
      const opened = ['address-private', 'address-loopback', 'address-link-local'].includes(reason);
      if (opened) {
        const target = await policy.check(`${url}/x`);
        assert.equal(target.addresses.length, 1, url);
      } else {
        const error = await refusal(policy.check(`${url}/x`));
        assert.equal(error.info.reason, reason, url);
      }
    }
  });

  it('checks every DNS answer: one private address refuses the name', async () => {
    const policy = new UpstreamPolicy(
      [origin('https://internal.example.com'), origin('https://mixed.example.com')],
      table({
        'internal.example.com': ['10.20.30.40'],
        'mixed.example.com': ['93.184.216.34', '2606:4700::1', '::ffff:127.0.0.1'],
      }),
    );
    assert.equal(
      (await refusal(policy.check('https://internal.example.com/'))).info.reason,
      'address-private',
    );
    assert.equal(
      (await refusal(policy.check('https://mixed.example.com/'))).info.reason,
      'address-loopback',
    );
  });

  it('reports a name that does not resolve as unreachable', async () => {
    const policy = new UpstreamPolicy([origin('https://gone.example.com')], table({}));
    const error = await refusal(policy.check('https://gone.example.com/'));
    assert.equal(error.code, 'upstream_unreachable');
    assert.equal(error.info.reason, 'dns');
  });

  it('resolves through a DNS server and refuses its private answers', async (t) => {
    const records: Record<string, string> = {
      'public.bridge.test': '93.184.216.34',
      'private.bridge.test': '10.9.8.7',
      'metadata.bridge.test': '169.254.169.254',
    };
    const server = dns2.createServer({
      udp: true,
      handle: (request, send) => {
        const response = dns2.Packet.createResponseFromRequest(request);
        const question = request.questions[0];
        const address = question === undefined ? undefined : records[question.name];
        if (address === undefined) {
          response.header.rcode = 3; // NXDOMAIN
        } else if (question?.type === dns2.Packet.TYPE.A) {
          const record = {
            name: question.name,
            type: dns2.Packet.TYPE.A,
            class: dns2.Packet.CLASS.IN,
            ttl: 5,
            address,
          };
          response.answers.push(record as typeof record & { toBuffer(): Buffer });
        }
        void send(response);
      },
    });
    const listening = await server.listen({ udp: { port: 0, address: '127.0.0.1' } });
    t.after(() => server.close());
    const resolver = new dns.Resolver({ timeout: 1000, tries: 1 });
    resolver.setServers([`127.0.0.1:${listening.udp?.port ?? 0}`]);
    const policy = new UpstreamPolicy(
      Object.keys(records)
        .map((name) => origin(`https://${name}`))
        .concat(origin('https://none.bridge.test')),
      resolverResolve(resolver),
    );
    const target = await policy.check('https://public.bridge.test/data');
    assert.deepEqual(target.addresses, [{ address: '93.184.216.34', family: 4 }]);
    assert.equal(
      (await refusal(policy.check('https://private.bridge.test/data'))).info.reason,
      'address-private',
    );
    assert.equal(
      (await refusal(policy.check('https://metadata.bridge.test/data'))).info.reason,
      'address-metadata',
    );
    assert.equal(
      (await refusal(policy.check('https://none.bridge.test/data'))).code,
      'upstream_unreachable',
    );
  });
});
