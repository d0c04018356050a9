/**
 * The demo upstream of `npm start` (deploy/local/demo-upstream.mjs) behaves
 * like a plain REST API the bridge can poll politely: JSON tickers and order
 * books, a strong ETag that changes with the body, 304 for a matching
 * If-None-Match, `Cache-Control: max-age=0`, 404 and 405 as JSON; and its
 * walk is seeded, so two upstreams with one seed serve the same data.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { repoRoot } from '../support/repo-paths.js';

interface Ticker {
  readonly symbol: string;
  readonly price: number;
  readonly change: number;
  readonly volume: number;
  readonly updatedAt: string;
}
interface Level {
  readonly price: number;
  readonly size: number;
}
interface DemoUpstream {
  readonly url: string;
  tickers(): Ticker[];
  tick(): void;
  pause(): void;
  close(): Promise<void>;
}
interface DemoUpstreamModule {
  readonly startDemoUpstream: (options: {
    tickMs?: number;
    seed?: number;
  }) => Promise<DemoUpstream>;
}

const { startDemoUpstream } = (await import(
  pathToFileURL(join(repoRoot, 'deploy/local/demo-upstream.mjs')).href
)) as DemoUpstreamModule;

describe('demo upstream', () => {
  let upstream: DemoUpstream;

  before(async () => {
    upstream = await startDemoUpstream({ seed: 7 });
    // Changes only when the test says so.
    upstream.pause();
  });
  after(async () => {
    await upstream.close();
  });

  it('serves twenty tickers as JSON, not to be cached', async () => {
    const response = await fetch(`${upstream.url}/tickers`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^application\/json; charset=utf-8$/);
    assert.equal(response.headers.get('cache-control'), 'max-age=0');
    const tickers = (await response.json()) as Ticker[];
    assert.equal(tickers.length, 20);
    assert.equal(new Set(tickers.map((ticker) => ticker.symbol)).size, 20);
    for (const ticker of tickers) {
      assert.deepEqual(Object.keys(ticker), ['symbol', 'price', 'change', 'volume', 'updatedAt']);
      assert.ok(ticker.price > 0 && Number.isInteger(Math.round(ticker.price * 100)));
      assert.ok(Number.isInteger(ticker.volume));
    }
    assert.deepEqual(tickers, upstream.tickers());
  });

  it('answers a matching If-None-Match with 304, and a new ETag after a change', async () => {
    const first = await fetch(`${upstream.url}/tickers`);
    const etag = first.headers.get('etag') ?? '';
    assert.match(etag, /^"[A-Za-z0-9_-]+"$/);
    const before = (await first.json()) as Ticker[];

    const same = await fetch(`${upstream.url}/tickers`, { headers: { 'if-none-match': etag } });
    assert.equal(same.status, 304);
    assert.equal(same.headers.get('etag'), etag);
    assert.equal(await same.text(), '');
    const weak = await fetch(`${upstream.url}/tickers`, {
      headers: { 'if-none-match': `"other", W/${etag}` },
    });
    assert.equal(weak.status, 304, 'weak comparison, one of a list');
    await weak.body?.cancel();

    upstream.tick();
    const changed = await fetch(`${upstream.url}/tickers`, { headers: { 'if-none-match': etag } });
    assert.equal(changed.status, 200);
    assert.notEqual(changed.headers.get('etag'), etag);
    const after = (await changed.json()) as Ticker[];
    const moved = after.filter((ticker, index) => ticker.volume !== before[index]?.volume);
    assert.ok(moved.length >= 1 && moved.length <= 3, `a few tickers move (${moved.length})`);
    assert.deepEqual(
      after.map((ticker) => ticker.symbol),
      before.map((ticker) => ticker.symbol),
      'the list keeps its order',
    );
  });

  it('serves an order book per symbol around its price', async () => {
    const [ticker] = upstream.tickers();
    assert.ok(ticker);
    const response = await fetch(`${upstream.url}/orderbook/${ticker.symbol.toLowerCase()}`);
    assert.equal(response.status, 200);
    assert.ok(response.headers.get('etag'));
    const book = (await response.json()) as { symbol: string; bids: Level[]; asks: Level[] };
    assert.equal(book.symbol, ticker.symbol);
    assert.equal(book.bids.length, 10);
    assert.equal(book.asks.length, 10);
    assert.ok(book.bids.every((level) => level.price < ticker.price && level.size > 0));
    assert.ok(book.asks.every((level) => level.price > ticker.price && level.size > 0));
  });

  it('answers unknown paths with 404 and other methods with 405, as JSON', async () => {
    for (const path of ['/', '/orderbook/NOPE', '/tickers/1']) {
      const response = await fetch(`${upstream.url}${path}`);
      assert.equal(response.status, 404, path);
      assert.deepEqual(await response.json(), { error: 'not found' });
    }
    const post = await fetch(`${upstream.url}/tickers`, { method: 'POST', body: '{}' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
    await post.body?.cancel();
  });

  it('walks the same way from the same seed', async () => {
    const walks = [
      await startDemoUpstream({ seed: 7 }),
      await startDemoUpstream({ seed: 7 }),
      await startDemoUpstream({ seed: 8 }),
    ];
    try {
      const prices = walks.map((walk) => {
        walk.pause();
        for (let step = 0; step < 5; step += 1) walk.tick();
        return walk.tickers().map((ticker) => ticker.price);
      });
      assert.deepEqual(prices[0], prices[1]);
      assert.notDeepEqual(prices[0], prices[2]);
    } finally {
      await Promise.all(walks.map((walk) => walk.close()));
    }
  });
});
