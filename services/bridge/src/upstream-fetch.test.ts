import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { defaultStateLimits } from '@fanout/shared/portable-state';
import {
  json,
  startUpstream,
  type LocalUpstream,
  type UpstreamHandler,
} from './testing/local-upstream.js';
import { UpstreamError } from './upstream-error.js';
import { UpstreamFetcher, type UpstreamFetchOptions } from './upstream-fetch.js';
import { UpstreamPolicy, type ResolveHost, type UpstreamOrigin } from './upstream-policy.js';

const loopback = (origin: string, extra: Partial<UpstreamOrigin> = {}): UpstreamOrigin => ({
  origin,
  allowPrivate: true,
  forwardHeaders: [],
  headers: {},
  ...extra,
});

function fetcher(
  origins: readonly UpstreamOrigin[],
  options: Partial<UpstreamFetchOptions> = {},
  resolve?: ResolveHost,
): UpstreamFetcher {
  return new UpstreamFetcher({
    policy: new UpstreamPolicy(origins, resolve),
    responseTimeoutMs: 2000,
    requestTimeoutMs: 5000,
    maxBodyBytes: 64 * 1024,
    maxRedirects: 3,
    userAgent: 'fanout-bridge-test',
    stateLimits: defaultStateLimits,
    ...options,
  });
}

async function failure(promise: Promise<unknown>): Promise<UpstreamError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof UpstreamError, String(error));
    return error;
  }
  assert.fail('expected an upstream error');
}

const upstreams: LocalUpstream[] = [];
async function upstream(handler: UpstreamHandler): Promise<LocalUpstream> {
  const started = await startUpstream(handler);
  upstreams.push(started);
  return started;
}

after(async () => {
  await Promise.all(upstreams.map((server) => server.close()));
});

describe('UpstreamFetcher: answers', () => {
  it('reads a JSON document with its validators, freshness and request headers', async () => {
    const server = await upstream((_request, response) => {
      json(response, '{ "b": 1, "a": [true, null] }', {
        etag: '"v1"',
        'last-modified': 'Wed, 01 Jan 2030 00:00:00 GMT',
        'cache-control': 'public, max-age=30',
      });
    });
    const result = await fetcher([
      loopback(server.origin, { headers: { 'X-Api-Key': 'configured' } }),
    ]).fetch({
      url: `${server.origin}/items?x=1`,
      subscriberHeaders: { authorization: 'Bearer subscriber', cookie: 'session=1' },
    });
    assert.equal(result.kind, 'document');
    assert.ok(result.kind === 'document');
    assert.deepEqual(result.document, { b: 1, a: [true, null] });
    assert.equal(result.canonicalJson, '{"b":1,"a":[true,null]}');
    assert.equal(result.url, `${server.origin}/items?x=1`);
    assert.deepEqual(result.validators, {
      url: `${server.origin}/items?x=1`,
      etag: '"v1"',
      lastModified: 'Wed, 01 Jan 2030 00:00:00 GMT',
    });
    assert.equal(result.maxAgeMs, 30_000);
    assert.equal(result.redirects, 0);
    const request = server.requests[0];
    assert.ok(request !== undefined);
    assert.equal(request.url, '/items?x=1');
    assert.equal(request.headers['user-agent'], 'fanout-bridge-test');
    assert.equal(request.headers['accept-encoding'], 'identity');
    assert.match(request.headers['accept'] ?? '', /application\/json/);
    assert.equal(request.headers['x-api-key'], 'configured');
    assert.equal(request.headers['authorization'], undefined, 'subscriber credentials stay');
    assert.equal(request.headers['cookie'], undefined);
    assert.equal(request.headers['if-none-match'], undefined);
  });

  it('passes on only the subscriber headers the origin lists', async () => {
    const server = await upstream((_request, response) => {
      json(response, {});
    });
    await fetcher([loopback(server.origin, { forwardHeaders: ['authorization'] })]).fetch({
      url: `${server.origin}/`,
      subscriberHeaders: {
        Authorization: 'Bearer subscriber',
        cookie: 'session=1',
        host: 'evil.test',
        'x-other': 'no',
      },
    });
    const headers = server.requests[0]?.headers;
    assert.equal(headers?.['authorization'], 'Bearer subscriber');
    assert.equal(headers?.['cookie'], undefined);
    assert.equal(headers?.['x-other'], undefined);
    assert.equal(headers?.['host'], `127.0.0.1:${server.port}`);
  });

  it('sends the validators of the last answer and reads a 304', async () => {
    const server = await upstream((request, response) => {
      if (request.headers['if-none-match'] === '"v1"') {
        response.writeHead(304, { etag: '"v1"', 'cache-control': 'max-age=5' });
        response.end();
      } else {
        json(response, { n: 1 }, { etag: '"v1"' });
      }
    });
    const upstreamFetcher = fetcher([loopback(server.origin)]);
    const first = await upstreamFetcher.fetch({ url: `${server.origin}/r` });
    assert.equal(first.kind, 'document');
    const second = await upstreamFetcher.fetch({
      url: `${server.origin}/r`,
      validators: first.validators,
    });
    assert.equal(second.kind, 'not-modified');
    assert.deepEqual(second.validators, { url: `${server.origin}/r`, etag: '"v1"' });
    assert.equal(second.maxAgeMs, 5000);
    assert.equal(server.requests[1]?.headers['if-none-match'], '"v1"');
  });

  it('reads an answer without validators that repeats the last body as unchanged, without parsing it', async () => {
    let body = '{"b":2,"a":1}';
    const server = await upstream((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(body);
    });
    const upstreamFetcher = fetcher([loopback(server.origin)]);
    const first = await upstreamFetcher.fetch({ url: server.origin });
    assert.equal(first.kind, 'document');
    assert.equal(first.kind === 'document' ? first.text : undefined, body);
    const second = await upstreamFetcher.fetch({ url: server.origin, lastText: body });
    assert.equal(second.kind, 'unchanged');
    assert.equal(second.kind === 'unchanged' ? second.bodyBytes : undefined, body.length);
    // Another body (even one with the same document) is read again.
    body = '{"a":1,"b":2}';
    const third = await upstreamFetcher.fetch({ url: server.origin, lastText: '{"b":2,"a":1}' });
    assert.equal(third.kind, 'document');
    assert.equal(third.kind === 'document' ? third.canonicalJson : undefined, '{"a":1,"b":2}');
  });

  it('refuses a 304 to an unconditional request', async () => {
    const server = await upstream((_request, response) => {
      response.writeHead(304);
      response.end();
    });
    const error = await failure(fetcher([loopback(server.origin)]).fetch({ url: server.origin }));
    assert.equal(error.code, 'upstream_status');
    assert.equal(error.info.reason, 'unexpected-not-modified');
  });

  it('accepts +json types and refuses other content types and charsets', async () => {
    let contentType = 'application/problem+json; charset=utf-8';
    const server = await upstream((_request, response) => {
      response.writeHead(200, { 'content-type': contentType });
      response.end('{"ok":true}');
    });
    const upstreamFetcher = fetcher([loopback(server.origin)]);
    assert.equal((await upstreamFetcher.fetch({ url: server.origin })).kind, 'document');
    for (const refused of [
      'text/html',
      'text/plain; charset=utf-8',
      'application/javascript',
      'application/json; charset=iso-8859-1',
      'application/jsonx',
    ]) {
      contentType = refused;
      const error = await failure(upstreamFetcher.fetch({ url: server.origin }));
      assert.equal(error.code, 'upstream_not_json', refused);
      assert.equal(error.info.reason, 'content-type', refused);
    }
  });

  it('refuses a compressed body', async () => {
    const server = await upstream((_request, response) => {
      json(response, '{}', { 'content-encoding': 'gzip' });
    });
    const error = await failure(fetcher([loopback(server.origin)]).fetch({ url: server.origin }));
    assert.equal(error.code, 'upstream_not_json');
    assert.equal(error.info.reason, 'content-encoding');
  });

  it('refuses invalid UTF-8', async () => {
    const server = await upstream((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0x22, 0x7d]));
    });
    const error = await failure(fetcher([loopback(server.origin)]).fetch({ url: server.origin }));
    assert.equal(error.code, 'upstream_invalid_utf8');
  });

  it('refuses malformed, too deep and __proto__ documents', async () => {
    let body = '';
    const server = await upstream((_request, response) => {
      json(response, body);
    });
    const upstreamFetcher = fetcher([loopback(server.origin)], {
      stateLimits: { maxDepth: 3, maxDocumentBytes: 1024 },
    });
    for (const [text, reason] of [
      ['{"a":', 'invalid-json'],
      ['{} {}', 'invalid-json'],
      ['', 'invalid-json'],
      ['[[[[1]]]]', 'too-deep'],
      ['{"__proto__":{"x":1}}', 'forbidden-key'],
    ] as const) {
      body = text;
      const error = await failure(upstreamFetcher.fetch({ url: server.origin }));
      assert.equal(error.code, 'upstream_not_json', text);
      assert.equal(error.info.reason, reason, text);
    }
    body = `{"a":"${'x'.repeat(2000)}"}`;
    const error = await failure(upstreamFetcher.fetch({ url: server.origin }));
    assert.equal(error.code, 'upstream_too_large');
    assert.equal(error.info.reason, 'document');
  });

  it('tolerates a byte order mark', async () => {
    const server = await upstream((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('[1]')]));
    });
    const result = await fetcher([loopback(server.origin)]).fetch({ url: server.origin });
    assert.ok(result.kind === 'document');
    assert.deepEqual(result.document, [1]);
  });

  it('reports a non-2xx status with its Retry-After', async () => {
    const server = await upstream((_request, response) => {
      json(response, { error: 'slow down' }, { 'retry-after': '7' }, 429);
    });
    const error = await failure(fetcher([loopback(server.origin)]).fetch({ url: server.origin }));
    assert.equal(error.code, 'upstream_status');
    assert.equal(error.info.httpStatus, 429);
    assert.equal(error.info.retryAfter, '7');
    assert.equal(error.details['httpStatus'], 429);
  });

  it('reports a refused connection as unreachable', async () => {
    const server = await startUpstream(() => {});
    await server.close();
    const error = await failure(fetcher([loopback(server.origin)]).fetch({ url: server.origin }));
    assert.equal(error.code, 'upstream_unreachable');
    assert.equal(error.info.reason, 'ECONNREFUSED');
  });
});

describe('UpstreamFetcher: hostile upstreams', () => {
  const fiftyMegabytes = 50 * 1024 * 1024;

  async function endless(withLength: boolean) {
    let sent = 0;
    let closedEarly = false;
    const server = await upstream((_request, response) => {
      response.writeHead(200, {
        'content-type': 'application/json',
        ...(withLength ? { 'content-length': String(fiftyMegabytes) } : {}),
      });
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      response.on('close', () => {
        if (sent < fiftyMegabytes) closedEarly = true;
      });
      const pump = () => {
        while (sent < fiftyMegabytes && !response.destroyed) {
          sent += chunk.byteLength;
          if (!response.write(chunk)) {
            response.once('drain', pump);
            return;
          }
        }
        if (!response.destroyed) response.end();
      };
      pump();
    });
    return { server, sent: () => sent, closedEarly: () => closedEarly };
  }

  it('cuts off a 50 MB body at the cap, closing the connection, in bounded memory', async () => {
    const upstreamBody = await endless(false);
    const before = process.memoryUsage();
    const error = await failure(
      fetcher([loopback(upstreamBody.server.origin)], { maxBodyBytes: 1024 * 1024 }).fetch({
        url: upstreamBody.server.origin,
      }),
    );
    const grown = process.memoryUsage().arrayBuffers - before.arrayBuffers;
    assert.equal(error.code, 'upstream_too_large');
    assert.equal(error.info.reason, 'body');
    await waitFor(() => upstreamBody.closedEarly());
    assert.ok(upstreamBody.sent() < fiftyMegabytes / 2, `sent ${upstreamBody.sent()} bytes`);
    assert.ok(grown < 16 * 1024 * 1024, `array buffers grew by ${grown} bytes`);
  });

  it('refuses a declared 50 MB body before reading it', async () => {
    const upstreamBody = await endless(true);
    const error = await failure(
      fetcher([loopback(upstreamBody.server.origin)], { maxBodyBytes: 1024 * 1024 }).fetch({
        url: upstreamBody.server.origin,
      }),
    );
    assert.equal(error.code, 'upstream_too_large');
    assert.match(error.message, /52428800 bytes/);
    await waitFor(() => upstreamBody.closedEarly());
  });

  it('times out a hung connection and closes it', async () => {
    const server = await upstream(() => {
      // never answers
    });
    const error = await failure(
      fetcher([loopback(server.origin)], { responseTimeoutMs: 200 }).fetch({ url: server.origin }),
    );
    assert.equal(error.code, 'upstream_timeout');
    assert.equal(error.info.reason, 'response-timeout');
    await waitFor(() => server.closedSockets() === 1);
  });

  it('times out a body that never ends', async () => {
    const server = await upstream((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.write('[');
    });
    const error = await failure(
      fetcher([loopback(server.origin)], { requestTimeoutMs: 300 }).fetch({ url: server.origin }),
    );
    assert.equal(error.code, 'upstream_timeout');
    assert.equal(error.info.reason, 'request-timeout');
    await waitFor(() => server.closedSockets() === 1);
  });

  it('stops when the caller aborts', async () => {
    const server = await upstream(() => {});
    const controller = new AbortController();
    const reason = new Error('stopped');
    const pending = fetcher([loopback(server.origin)]).fetch({
      url: server.origin,
      signal: controller.signal,
    });
    await waitFor(() => server.requests.length === 1);
    controller.abort(reason);
    await assert.rejects(pending, (error) => error === reason);
    await waitFor(() => server.closedSockets() === 1);
  });
});

describe('UpstreamFetcher: redirects', () => {
  let target: LocalUpstream;
  let other: LocalUpstream;
  let redirector: LocalUpstream;
  let location = '';
  let status = 302;

  before(async () => {
    target = await upstream((request, response) => {
      json(response, { at: request.url ?? '', auth: request.headers['authorization'] ?? null });
    });
    other = await upstream((_request, response) => {
      json(response, {});
    });
    redirector = await upstream((request, response) => {
      if (request.url === '/final') {
        json(response, { final: true });
        return;
      }
      const match = /^\/hop\/([0-9]+)$/.exec(request.url ?? '');
      const next = match === null ? location : `/hop/${Number(match[1]) + 1}`;
      response.writeHead(status, next === '' ? {} : { location: next });
      response.end();
    });
  });

  const redirectFetcher = () =>
    fetcher(
      [
        loopback(redirector.origin, { headers: { authorization: 'Bearer for-redirector' } }),
        loopback(target.origin),
        { origin: 'http://10.1.2.3', allowPrivate: false, forwardHeaders: [], headers: {} },
        {
          origin: 'http://rebind.bridge.test',
          allowPrivate: false,
          forwardHeaders: [],
          headers: {},
        },
      ],
      {},
      (hostname) =>
        hostname === 'rebind.bridge.test'
          ? Promise.resolve([{ address: '127.0.0.1', family: 4 }])
          : Promise.reject(new Error('ENOTFOUND')),
    );

  it('follows a redirect to an allowed origin, without the first origin’s headers', async () => {
    for (const code of [301, 302, 303, 307, 308]) {
      status = code;
      location = `${target.origin}/moved`;
      const result = await redirectFetcher().fetch({ url: `${redirector.origin}/start` });
      assert.ok(result.kind === 'document', String(code));
      assert.deepEqual(result.document, { at: '/moved', auth: null });
      assert.equal(result.url, `${target.origin}/moved`);
      assert.equal(result.redirects, 1);
    }
    status = 302;
    location = '/final';
    const relative = await redirectFetcher().fetch({ url: `${redirector.origin}/start` });
    assert.ok(relative.kind === 'document');
    assert.deepEqual(relative.document, { final: true });
  });

  it('refuses a redirect to an origin not allowed, before connecting to it', async () => {
    location = `${other.origin}/x`;
    const before = other.requests.length;
    const error = await failure(redirectFetcher().fetch({ url: `${redirector.origin}/start` }));
    assert.equal(error.code, 'upstream_refused');
    assert.equal(error.info.reason, 'origin-not-allowed');
    assert.equal(other.requests.length, before);
  });

  it('refuses a redirect to a private address or a name resolving to one', async () => {
    location = 'http://10.1.2.3/internal';
    const literal = await failure(redirectFetcher().fetch({ url: `${redirector.origin}/start` }));
    assert.equal(literal.code, 'upstream_refused');
    assert.equal(literal.info.reason, 'address-private');
    location = 'http://rebind.bridge.test/';
    const rebound = await failure(redirectFetcher().fetch({ url: `${redirector.origin}/start` }));
    assert.equal(rebound.info.reason, 'address-loopback');
    location = 'http://user:pw@rebind.bridge.test/';
    const userinfo = await failure(redirectFetcher().fetch({ url: `${redirector.origin}/start` }));
    assert.equal(userinfo.info.reason, 'userinfo');
    location = 'file:///etc/passwd';
    const scheme = await failure(redirectFetcher().fetch({ url: `${redirector.origin}/start` }));
    assert.equal(scheme.info.reason, 'scheme');
  });

  it('refuses a redirect loop and too many redirects', async () => {
    location = '/start';
    const loop = await failure(redirectFetcher().fetch({ url: `${redirector.origin}/start` }));
    assert.equal(loop.code, 'upstream_redirect_loop');
    assert.equal(loop.info.reason, 'loop');
    const many = await failure(redirectFetcher().fetch({ url: `${redirector.origin}/hop/1` }));
    assert.equal(many.code, 'upstream_redirect_loop');
    assert.equal(many.info.reason, 'too-many');
  });

  it('refuses a redirect without a Location', async () => {
    location = '';
    const error = await failure(redirectFetcher().fetch({ url: `${redirector.origin}/start` }));
    assert.equal(error.code, 'upstream_status');
    assert.equal(error.info.reason, 'redirect-without-location');
  });
});

describe('UpstreamFetcher: name resolution', () => {
  it('connects to the address it checked, sending the name as Host', async () => {
    const server = await upstream((_request, response) => {
      json(response, { pinned: true });
    });
    let lookups = 0;
    const result = await fetcher(
      [loopback(`http://api.bridge.test:${server.port}`)],
      {},
      (hostname) => {
        lookups += 1;
        return hostname === 'api.bridge.test'
          ? Promise.resolve([{ address: '127.0.0.1', family: 4 }])
          : Promise.reject(new Error('ENOTFOUND'));
      },
    ).fetch({ url: `http://api.bridge.test:${server.port}/x` });
    assert.ok(result.kind === 'document');
    assert.equal(lookups, 1);
    assert.equal(server.requests[0]?.headers['host'], `api.bridge.test:${server.port}`);
  });

  it('refuses a name that resolves to loopback unless the origin allows private addresses', async () => {
    const server = await upstream((_request, response) => {
      json(response, {});
    });
    const error = await failure(
      fetcher(
        [{ ...loopback(`http://api.bridge.test:${server.port}`), allowPrivate: false }],
        {},
        () => Promise.resolve([{ address: '127.0.0.1', family: 4 }]),
      ).fetch({ url: `http://api.bridge.test:${server.port}/x` }),
    );
    assert.equal(error.info.reason, 'address-loopback');
    assert.equal(server.requests.length, 0);
  });
});

async function waitFor(condition: () => boolean): Promise<void> {
  for (let attempt = 0; attempt < 500; attempt += 1) {
    if (condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.fail('the condition did not come true');
}

describe('UpstreamFetcher: connections', () => {
  it('keeps one connection for the polls of an upstream, 304s included', async () => {
    const server = await upstream((request, response) => {
      if (request.headers['if-none-match'] === '"v1"') {
        response.writeHead(304, { etag: '"v1"' });
        response.end();
      } else json(response, { n: 1 }, { etag: '"v1"' });
    });
    const polls = fetcher([loopback(server.origin)]);
    // Polls come an interval apart: the connection is back in the pool by then.
    const interval = () => new Promise((resolve) => setTimeout(resolve, 20));
    const first = await polls.fetch({ url: server.origin });
    assert.equal(first.kind, 'document');
    await interval();
    const second = await polls.fetch({ url: server.origin, validators: first.validators });
    assert.equal(second.kind, 'not-modified');
    await interval();
    const third = await polls.fetch({ url: server.origin, validators: second.validators });
    assert.equal(third.kind, 'not-modified');
    assert.equal(server.requests.length, 3);
    assert.equal(server.requests[1]?.socket, server.requests[0]?.socket);
    assert.equal(server.requests[2]?.socket, server.requests[0]?.socket);
    assert.equal(server.closedSockets(), 0);
  });

  it('sends a poll once more when the upstream closed the kept-alive connection', async () => {
    let seen = 0;
    const server = await upstream((request, response) => {
      seen += 1;
      // The second request finds the connection closed without an answer.
      if (seen === 2) request.socket.destroy();
      else json(response, { seen });
    });
    const polls = fetcher([loopback(server.origin)]);
    assert.equal((await polls.fetch({ url: server.origin })).kind, 'document');
    await new Promise((resolve) => setTimeout(resolve, 20));
    const again = await polls.fetch({ url: server.origin });
    assert.equal(again.kind, 'document');
    assert.deepEqual(again.kind === 'document' ? again.document : undefined, { seen: 3 });
    assert.equal(server.requests.length, 3);
    assert.notEqual(server.requests[2]?.socket, server.requests[0]?.socket);
  });
});
