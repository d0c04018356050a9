import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { defaultStateLimits, type JsonValue } from '@fanout/shared/portable-state';
import { backoffDelayMs, cacheMaxAgeMs, retryAfterMs } from './http-timing.js';
import {
  ResourcePoller,
  type ResourceChangeMeta,
  type ResourcePollerTiming,
  type ResourceStatus,
} from './resource-poller.js';
import { json, startUpstream, type LocalUpstream } from './testing/local-upstream.js';
import { ManualClock } from './testing/manual-clock.js';
import { UpstreamError } from './upstream-error.js';
import {
  UpstreamFetcher,
  type UpstreamFetchRequest,
  type UpstreamFetchResult,
} from './upstream-fetch.js';
import { UpstreamPolicy } from './upstream-policy.js';

const timing: ResourcePollerTiming = {
  intervalMs: 5000,
  minIntervalMs: 1000,
  maxDelayMs: 600_000,
  backoffBaseMs: 1000,
  backoffMaxMs: 60_000,
};

type Step =
  | UpstreamFetchResult
  | UpstreamError
  | ((request: UpstreamFetchRequest) => Promise<UpstreamFetchResult>);

function documentResult(
  document: JsonValue,
  extra: Partial<UpstreamFetchResult> = {},
): UpstreamFetchResult {
  return {
    kind: 'document',
    document,
    canonicalJson: JSON.stringify(document),
    bodyBytes: JSON.stringify(document).length,
    url: 'https://api.example.com/r',
    validators: undefined,
    maxAgeMs: undefined,
    redirects: 0,
    ...extra,
  };
}

const statusError = (httpStatus: number, retryAfter?: string) =>
  new UpstreamError('upstream_status', `HTTP ${httpStatus}`, {
    reason: 'status',
    httpStatus,
    ...(retryAfter === undefined ? {} : { retryAfter }),
  });

/** A poller over scripted fetch outcomes, with a manual clock. */
function scripted(
  steps: Step[],
  options: { random?: () => number; timing?: ResourcePollerTiming } = {},
) {
  const clock = new ManualClock();
  const requests: UpstreamFetchRequest[] = [];
  const changes: { document: JsonValue; canonicalJson: string; meta: ResourceChangeMeta }[] = [];
  const statuses: ResourceStatus[] = [];
  const poller = new ResourcePoller({
    url: 'https://api.example.com/r',
    fetcher: {
      fetch: (request) => {
        requests.push(request);
        const step = steps.shift();
        if (step === undefined) return Promise.reject(new Error('no more steps'));
        if (step instanceof UpstreamError) return Promise.reject(step);
        if (typeof step === 'function') return step(request);
        return Promise.resolve(step);
      },
    },
    timing: options.timing ?? timing,
    clock,
    random: options.random ?? (() => 0.5),
    listener: {
      changed: (document, canonicalJson, meta) => changes.push({ document, canonicalJson, meta }),
      status: (status) => statuses.push(status),
    },
  });
  /** Fires the due poll and waits until it has scheduled the next; returns that delay. */
  const poll = async (): Promise<number> => {
    await clock.fireNext();
    return clock.nextTimer();
  };
  return { clock, poller, requests, changes, statuses, poll };
}

describe('ResourcePoller', () => {
  it('reports a document only when its canonical JSON changed', async () => {
    const run = scripted([
      documentResult({ a: 1 }, { validators: { url: 'https://api.example.com/r', etag: '"1"' } }),
      documentResult({ a: 1 }),
      {
        kind: 'not-modified',
        url: 'https://api.example.com/r',
        validators: undefined,
        maxAgeMs: undefined,
        redirects: 0,
      },
      documentResult({ a: 2 }),
    ]);
    run.poller.start();
    assert.equal(await run.poll(), 5000);
    assert.equal(run.changes.length, 1);
    assert.deepEqual(run.changes[0]?.document, { a: 1 });
    assert.equal(run.changes[0]?.meta.etag, '"1"');
    await run.poll();
    await run.poll();
    assert.equal(run.changes.length, 1, 'same JSON and 304 are no change');
    await run.poll();
    assert.deepEqual(
      run.changes.map((change) => change.canonicalJson),
      ['{"a":1}', '{"a":2}'],
    );
    assert.deepEqual(
      run.statuses.map((status) => status.state),
      ['ok'],
    );
    assert.deepEqual(run.requests[1]?.validators, {
      url: 'https://api.example.com/r',
      etag: '"1"',
    });
    await run.poller.stop();
  });

  it('sends the last body of an upstream without validators, and an unchanged body is no change', async () => {
    const run = scripted([
      documentResult({ a: 1 }, { text: '{"a": 1}' }),
      {
        kind: 'unchanged',
        url: 'https://api.example.com/r',
        validators: undefined,
        maxAgeMs: undefined,
        redirects: 0,
        bodyBytes: 8,
      },
      documentResult(
        { a: 2 },
        { text: '{"a":2}', validators: { url: 'https://api.example.com/r', etag: '"2"' } },
      ),
      documentResult({ a: 2 }),
    ]);
    run.poller.start();
    await run.poll();
    assert.equal(run.requests[0]?.lastText, undefined);
    await run.poll();
    assert.equal(run.requests[1]?.lastText, '{"a": 1}');
    assert.equal(run.changes.length, 1, 'an unchanged body is no change');
    await run.poll();
    assert.equal(run.requests[2]?.lastText, '{"a": 1}');
    assert.equal(run.changes.length, 2);
    await run.poll();
    // An answer with validators: its body is not kept (the next unchanged answer is a 304).
    assert.equal(run.requests[3]?.lastText, undefined);
    assert.equal(run.poller.canonicalJson, '{"a":2}');
    await run.poller.stop();
  });

  it('keeps equal validators as the object it has (a 304 hands back a copy)', async () => {
    const validators = { url: 'https://api.example.com/r', etag: '"1"' };
    const notModified: UpstreamFetchResult = {
      kind: 'not-modified',
      url: 'https://api.example.com/r',
      validators: { ...validators },
      maxAgeMs: undefined,
      redirects: 0,
    };
    const run = scripted([
      documentResult({ a: 1 }, { validators }),
      notModified,
      { ...notModified, validators: { ...validators, etag: '"2"' } },
      notModified,
    ]);
    run.poller.start();
    await run.poll();
    await run.poll();
    await run.poll();
    await run.poll();
    assert.equal(run.requests[1]?.validators, validators);
    assert.equal(run.requests[2]?.validators, validators, 'an equal copy is not kept');
    assert.deepEqual(run.requests[3]?.validators, { ...validators, etag: '"2"' });
    await run.poller.stop();
  });

  it('reports health changes and keeps the last good document', async () => {
    const run = scripted([
      documentResult({ v: 1 }),
      statusError(500),
      statusError(500),
      new UpstreamError('upstream_timeout', 'slow', { reason: 'response-timeout' }),
      documentResult({ v: 1 }),
    ]);
    run.poller.start();
    await run.poll();
    const retry = await run.poll();
    assert.equal(run.statuses.length, 2);
    const failing = run.statuses[1];
    assert.equal(failing?.state, 'failing');
    assert.equal(failing?.code, 'upstream_status');
    assert.equal(failing?.httpStatus, 500);
    assert.equal(failing?.retryInMs, retry);
    assert.equal(failing?.since, run.clock.now());
    assert.equal(run.poller.hasDocument, true);
    assert.equal(run.poller.canonicalJson, '{"v":1}', 'the last good document stays');
    await run.poll();
    assert.equal(run.statuses.length, 2, 'the same failure again is no news');
    assert.equal(run.poller.failures, 2);
    await run.poll();
    assert.equal(run.statuses[2]?.code, 'upstream_timeout');
    assert.equal(run.statuses[2]?.httpStatus, undefined);
    await run.poll();
    assert.deepEqual(
      run.statuses.map((status) => status.state),
      ['ok', 'failing', 'failing', 'ok'],
    );
    assert.equal(run.changes.length, 1, 'the same document after recovery is no change');
    assert.equal(run.poller.failures, 0);
    await run.poller.stop();
  });

  it('backs off exponentially with full jitter up to the cap, never below the minimum', async () => {
    const failures = Array.from({ length: 9 }, () => statusError(502));
    const high = scripted([...failures], { random: () => 0.999999 });
    high.poller.start();
    const highDelays: number[] = [];
    for (let i = 0; i < 8; i += 1) highDelays.push(await high.poll());
    assert.deepEqual(
      highDelays,
      [999, 1999, 3999, 7999, 15999, 31999, 59999, 59999].map((d) => Math.max(1000, d)),
    );
    await high.poller.stop();

    const low = scripted([...failures], { random: () => 0 });
    low.poller.start();
    for (let i = 0; i < 4; i += 1) assert.equal(await low.poll(), timing.minIntervalMs);
    await low.poller.stop();

    for (let n = 1; n <= 12; n += 1) {
      for (const r of [0, 0.25, 0.5, 0.75, 0.999]) {
        const delay = backoffDelayMs(n, 1000, 60_000, () => r);
        assert.ok(delay >= 0 && delay < Math.min(60_000, 1000 * 2 ** (n - 1)), `${n} ${r}`);
      }
    }
  });

  it('waits at least a Retry-After, in seconds or as a date', async () => {
    const clock = new ManualClock();
    const date = new Date(clock.now() + 200_000).toUTCString();
    const run = scripted(
      [statusError(429, '120'), statusError(503, date), statusError(429, '99999999')],
      {
        random: () => 0,
      },
    );
    run.poller.start();
    assert.equal(await run.poll(), 120_000);
    assert.equal(run.statuses[0]?.retryInMs, 120_000);
    assert.equal(run.statuses[0]?.httpStatus, 429);
    // The second poll runs 120 s after the first: the date is 80 s ahead then.
    assert.equal(await run.poll(), 80_000);
    assert.equal(await run.poll(), timing.maxDelayMs, 'a huge Retry-After is cut to maxDelayMs');
    await run.poller.stop();
  });

  it('polls no more often than max-age allows, up to maxDelayMs', async () => {
    const run = scripted([
      documentResult({ a: 1 }, { maxAgeMs: 60_000 }),
      documentResult({ a: 1 }, { maxAgeMs: 100 }),
      documentResult({ a: 1 }, { maxAgeMs: 10 * 3600_000 }),
    ]);
    run.poller.start();
    assert.equal(await run.poll(), 60_000);
    assert.equal(await run.poll(), timing.intervalMs);
    assert.equal(await run.poll(), timing.maxDelayMs);
    await run.poller.stop();
  });

  it('stops: aborts the poll in flight and schedules nothing', async () => {
    let aborted = false;
    const run = scripted([
      (request) =>
        new Promise((_resolve, reject) => {
          request.signal?.addEventListener('abort', () => {
            aborted = true;
            reject(request.signal?.reason as Error);
          });
        }),
    ]);
    run.poller.start();
    await run.clock.fireNext();
    await run.poller.stop();
    assert.equal(aborted, true);
    assert.equal(run.clock.pending(), 0);
    assert.deepEqual(run.statuses, []);
  });

  it('reads max-age and Retry-After', () => {
    assert.equal(cacheMaxAgeMs('public, max-age=60'), 60_000);
    assert.equal(cacheMaxAgeMs('max-age=60, s-maxage=120'), 120_000);
    assert.equal(cacheMaxAgeMs('max-age="30"'), 30_000);
    assert.equal(cacheMaxAgeMs('no-cache, max-age=60'), undefined);
    assert.equal(cacheMaxAgeMs('max-age=-1'), undefined);
    assert.equal(cacheMaxAgeMs(undefined), undefined);
    const now = Date.UTC(2030, 0, 1);
    assert.equal(retryAfterMs('30', now), 30_000);
    assert.equal(retryAfterMs(new Date(now + 45_000).toUTCString(), now), 45_000);
    assert.equal(retryAfterMs(new Date(now - 45_000).toUTCString(), now), 0);
    assert.equal(retryAfterMs('soon', now), undefined);
    assert.equal(retryAfterMs('-5', now), undefined);
  });
});

describe('ResourcePoller against an upstream', () => {
  let server: LocalUpstream;
  after(async () => {
    await server.close();
  });

  it('polls again no sooner than the Retry-After of a 429, then recovers with a 304', async () => {
    let answer: 'document' | 'limited' = 'document';
    server = await startUpstream((request, response) => {
      if (answer === 'limited') {
        json(response, { error: 'too many' }, { 'retry-after': '30' }, 429);
      } else if (request.headers['if-none-match'] === '"a"') {
        response.writeHead(304, { etag: '"a"' });
        response.end();
      } else {
        json(response, { hello: 'world' }, { etag: '"a"' });
      }
    });
    const clock = new ManualClock();
    const changes: JsonValue[] = [];
    const statuses: ResourceStatus[] = [];
    const poller = new ResourcePoller({
      url: `${server.origin}/resource`,
      fetcher: new UpstreamFetcher({
        policy: new UpstreamPolicy([
          { origin: server.origin, allowPrivate: true, forwardHeaders: [], headers: {} },
        ]),
        responseTimeoutMs: 2000,
        requestTimeoutMs: 5000,
        maxBodyBytes: 65536,
        maxRedirects: 2,
        userAgent: 'fanout-bridge-test',
        stateLimits: defaultStateLimits,
      }),
      timing,
      clock,
      random: () => 0,
      listener: {
        changed: (document) => changes.push(document),
        status: (status) => statuses.push(status),
      },
    });
    poller.start();
    await clock.fireNext();
    assert.equal(await clock.nextTimer(), timing.intervalMs);
    assert.deepEqual(changes, [{ hello: 'world' }]);
    answer = 'limited';
    await clock.fireNext();
    assert.equal(await clock.nextTimer(), 30_000, 'next poll not before Retry-After');
    assert.equal(statuses.at(-1)?.state, 'failing');
    assert.equal(statuses.at(-1)?.httpStatus, 429);
    assert.equal(statuses.at(-1)?.retryInMs, 30_000);
    assert.equal(poller.canonicalJson, '{"hello":"world"}');
    answer = 'document';
    await clock.fireNext();
    await clock.nextTimer();
    assert.equal(server.requests.at(-1)?.headers['if-none-match'], '"a"');
    assert.deepEqual(
      statuses.map((status) => status.state),
      ['ok', 'failing', 'ok'],
    );
    assert.equal(changes.length, 1);
    await poller.stop();
  });
});

describe('ResourcePoller: first poll', () => {
  it('polls first at a random time within firstPollSpreadMs, then an interval after each poll', async () => {
    const clock = new ManualClock();
    let polls = 0;
    const poller = new ResourcePoller({
      url: 'https://api.example.com/r',
      fetcher: {
        fetch: () => {
          polls += 1;
          return Promise.resolve(documentResult({ n: polls }));
        },
      },
      timing,
      clock,
      random: () => 0.25,
      firstPollSpreadMs: 4000,
      listener: { changed: () => undefined, status: () => undefined },
    });
    poller.start();
    assert.equal(await clock.fireNext(), 1000);
    assert.equal(polls, 1);
    assert.equal(await clock.fireNext(), timing.intervalMs);
    assert.equal(polls, 2);
    await poller.stop();
  });

  it('polls first right away without it', async () => {
    const clock = new ManualClock();
    const poller = new ResourcePoller({
      url: 'https://api.example.com/r',
      fetcher: { fetch: () => Promise.resolve(documentResult({ n: 1 })) },
      timing,
      clock,
      random: () => 0.25,
      listener: { changed: () => undefined, status: () => undefined },
    });
    poller.start();
    assert.equal(await clock.nextTimer(), 0);
    await poller.stop();
  });
});
