// @ts-check
/**
 * The demo upstream of `npm start`: a plain JSON REST API whose data
 * changes, with no knowledge of fanout — what the bridge turns into a live
 * resource (docs/guides/live-resources.md).
 *
 *   GET /tickers             ~20 tickers `{symbol, price, change, volume, updatedAt}`;
 *                            every `tickMs` (500 ms) a few of them move (a
 *                            seeded random walk, the same on every start)
 *   GET /orderbook/{symbol}  `{symbol, price, bids, asks, updatedAt}`, ten levels each side
 *
 * Answers carry a strong ETag (a hash of the body) and
 * `Cache-Control: max-age=0`, and honour If-None-Match with 304. It binds to
 * 127.0.0.1. Run alone: `node deploy/local/demo-upstream.mjs`
 * (FANOUT_LOCAL_UPSTREAM_PORT, default 8083).
 */
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import { pathToFileURL } from 'node:url';

/**
 * @typedef {{ symbol: string, price: number, change: number, volume: number, updatedAt: string }} Ticker
 * @typedef {{ price: number, size: number }} Level
 */

const symbols = [
  'AAPL',
  'AMZN',
  'ASML',
  'BABA',
  'CSCO',
  'GOOG',
  'IBM',
  'INTC',
  'JPM',
  'KO',
  'MA',
  'META',
  'MSFT',
  'NFLX',
  'NVDA',
  'ORCL',
  'PEP',
  'SAP',
  'TSLA',
  'V',
];

/**
 * mulberry32: a small seeded generator, so a restart walks the same way.
 * @param {number} seed
 * @returns {() => number} uniform in [0, 1)
 */
function seededRandom(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** @param {number} value */
const cents = (value) => Math.round(value * 100) / 100;

/**
 * A JSON body with its ETag.
 * @param {unknown} value
 */
function jsonBody(value) {
  const body = JSON.stringify(value);
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
  return { body, etag };
}

/**
 * If-None-Match matches the ETag (weak comparison, RFC 9110 13.1.2).
 * @param {string | undefined} header
 * @param {string} etag
 */
function notModified(header, etag) {
  if (header === undefined) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag);
}

/**
 * @param {{ host?: string, port?: number, tickMs?: number, seed?: number, moversPerTick?: number }} [options]
 * @returns {Promise<{
 *   url: string,
 *   port: number,
 *   tickers(): Ticker[],
 *   tick(): void,
 *   pause(): void,
 *   resume(): void,
 *   close(): Promise<void>,
 * }>}
 */
export async function startDemoUpstream(options = {}) {
  const tickMs = options.tickMs ?? 500;
  const moversPerTick = options.moversPerTick ?? 3;
  const random = seededRandom(options.seed ?? 20261203);
  const started = new Date().toISOString();
  /** @type {Ticker[]} */
  const tickers = symbols.map((symbol) => {
    const price = cents(20 + random() * 480);
    return {
      symbol,
      price,
      change: 0,
      volume: Math.floor(random() * 1_000_000),
      updatedAt: started,
    };
  });
  const opens = new Map(tickers.map((ticker) => [ticker.symbol, ticker.price]));
  let current = jsonBody(tickers);

  /** A few tickers move: ±0.5 % at most, some volume traded. */
  function tick() {
    const at = new Date().toISOString();
    for (let moved = 0; moved < moversPerTick; moved += 1) {
      const ticker = tickers[Math.floor(random() * tickers.length)];
      if (ticker === undefined) continue;
      const step = (random() - 0.5) * 0.01 * ticker.price;
      ticker.price = Math.max(0.01, cents(ticker.price + step));
      ticker.change = cents(ticker.price - (opens.get(ticker.symbol) ?? ticker.price));
      ticker.volume += 100 * (1 + Math.floor(random() * 50));
      ticker.updatedAt = at;
    }
    current = jsonBody(tickers);
  }

  /** @param {Ticker} ticker */
  function orderBook(ticker) {
    // Derived from the ticker, so it changes when the ticker does.
    const levels = seededRandom(Math.round(ticker.price * 100) ^ ticker.volume);
    /** @param {number} sign */
    const side = (sign) => {
      /** @type {Level[]} */
      const out = [];
      let price = ticker.price;
      for (let level = 0; level < 10; level += 1) {
        price = cents(price + sign * (0.01 + levels() * 0.05));
        out.push({ price: Math.max(0.01, price), size: 100 * (1 + Math.floor(levels() * 40)) });
      }
      return out;
    };
    return {
      symbol: ticker.symbol,
      price: ticker.price,
      bids: side(-1),
      asks: side(1),
      updatedAt: ticker.updatedAt,
    };
  }

  const server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://upstream').pathname;
    /**
     * @param {number} status
     * @param {{ body: string, etag?: string }} answer
     */
    const send = (status, answer) => {
      /** @type {Record<string, string>} */
      const headers = {
        'content-type': 'application/json; charset=utf-8',
        'cache-control': 'max-age=0',
      };
      if (answer.etag !== undefined) headers['etag'] = answer.etag;
      if (answer.etag !== undefined && notModified(request.headers['if-none-match'], answer.etag)) {
        response.writeHead(304, headers).end();
        return;
      }
      headers['content-length'] = String(Buffer.byteLength(answer.body));
      response.writeHead(status, headers);
      response.end(request.method === 'HEAD' ? undefined : answer.body);
    };
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.setHeader('allow', 'GET, HEAD');
      send(405, { body: JSON.stringify({ error: 'method not allowed' }) });
      return;
    }
    if (path === '/tickers') {
      send(200, current);
      return;
    }
    const book = /^\/orderbook\/([A-Za-z]{1,10})$/.exec(path);
    const ticker =
      book === null ? undefined : tickers.find((item) => item.symbol === book[1]?.toUpperCase());
    if (ticker !== undefined) {
      send(200, jsonBody(orderBook(ticker)));
      return;
    }
    send(404, { body: JSON.stringify({ error: 'not found' }) });
  });

  /** @type {ReturnType<typeof setInterval> | undefined} */
  let timer;
  const resume = () => {
    if (timer !== undefined) return;
    timer = setInterval(tick, tickMs);
    timer.unref();
  };
  const pause = () => {
    clearInterval(timer);
    timer = undefined;
  };

  const host = options.host ?? '127.0.0.1';
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve(undefined));
  });
  resume();
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    url: `http://${host}:${port}`,
    port,
    tickers: () => tickers.map((ticker) => ({ ...ticker })),
    tick,
    pause,
    resume,
    close: () =>
      new Promise((resolve) => {
        pause();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const raw = process.env['FANOUT_LOCAL_UPSTREAM_PORT'];
  const port = raw === undefined || raw === '' ? 8083 : Number(raw);
  const upstream = await startDemoUpstream({ port });
  console.error(`demo upstream: ${upstream.url}/tickers  ${upstream.url}/orderbook/AAPL`);
  for (const signal of /** @type {const} */ (['SIGINT', 'SIGTERM'])) {
    process.on(signal, () => void upstream.close().then(() => process.exit(0)));
  }
}
