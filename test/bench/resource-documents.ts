/**
 * The documents the live resources benchmark's upstream serves, all
 * deterministic (seeded): an order book and a ticker list that tick the way
 * such APIs do (a few levels or symbols change per tick), a small board for
 * the fan-in and latency sections that carries its version `v` and the
 * time `t` it became visible, and the catalogue pages of the bridge load
 * section.
 */
import { seededRandom, type Json } from './json-patch-workload.js';

type JsonObject = Record<string, Json>;

/** A document that moves one tick per version; versions are asked in increasing order. */
export class TickingDocument {
  #version = 0;
  #document: Json;
  readonly #random: () => number;

  constructor(
    seed: number,
    initial: (random: () => number) => Json,
    private readonly tick: (document: Json, random: () => number, version: number) => void,
  ) {
    this.#random = seededRandom(seed);
    this.#document = initial(this.#random);
  }

  /** The document at `version` (ticking forward from the last one asked). */
  at(version: number): Json {
    while (this.#version < version) {
      this.#version++;
      this.tick(this.#document, this.#random, this.#version);
    }
    return this.#document;
  }
}

const round2 = (value: number): number => Math.round(value * 100) / 100;

/**
 * An order book: `levels` bid and ask levels `{price, size}` sorted by
 * price; each tick changes the size of 2–4 of the 8 best levels and, one
 * tick in four, removes one level and adds another (a price moved in or out
 * of the book).
 */
export function orderBook(seed: number, levels = 20): TickingDocument {
  return new TickingDocument(
    seed,
    (random) => {
      const mid = 100;
      const side = (sign: number): JsonObject[] =>
        Array.from({ length: levels }, (_, i) => ({
          price: round2(mid + sign * (0.05 + i * 0.05)),
          size: Math.floor(random() * 5000) + 1,
        }));
      return { symbol: 'ACME', seq: 0, bids: side(-1), asks: side(1) };
    },
    (document, random, version) => {
      const book = document as { seq: number; bids: JsonObject[]; asks: JsonObject[] };
      book.seq = version;
      const changes = 2 + Math.floor(random() * 3);
      for (let c = 0; c < changes; c++) {
        const levels = random() < 0.5 ? book.bids : book.asks;
        const level = levels[Math.floor(random() * Math.min(levels.length, 8))];
        if (level !== undefined) level['size'] = Math.floor(random() * 5000) + 1;
      }
      if (random() < 0.25) {
        const bids = random() < 0.5;
        const levels = bids ? book.bids : book.asks;
        levels.splice(Math.floor(random() * levels.length), 1);
        // A new level between two others (or past the last), kept sorted.
        const at = Math.floor(random() * levels.length);
        const neighbour = Number(levels[at]?.['price'] ?? 100);
        const price = round2(neighbour + (bids ? 0.01 : -0.01) * (1 + Math.floor(random() * 4)));
        if (!levels.some((level) => level['price'] === price)) {
          levels.splice(at, 0, { price, size: Math.floor(random() * 5000) + 1 });
        } else {
          levels.splice(at, 0, { price: round2(price + (bids ? 0.001 : -0.001)), size: 1 });
        }
      }
    },
  );
}

/** A ticker list: `count` tickers `{symbol, price, change, volume, updatedAt}`; each tick 3–5 of them move. */
export function tickerList(seed: number, count = 50): TickingDocument {
  return new TickingDocument(
    seed,
    (random) =>
      Array.from({ length: count }, (_, i) => ({
        symbol: `T${String(i).padStart(3, '0')}`,
        price: round2(10 + random() * 490),
        change: 0,
        volume: Math.floor(random() * 1_000_000),
        updatedAt: '2026-12-03T06:00:00.000Z',
      })),
    (document, random, version) => {
      const tickers = document as JsonObject[];
      const moves = 3 + Math.floor(random() * 3);
      for (let m = 0; m < moves; m++) {
        const ticker = tickers[Math.floor(random() * tickers.length)];
        if (ticker === undefined) continue;
        const delta = round2((random() - 0.5) * 2);
        ticker['price'] = round2(Number(ticker['price']) + delta);
        ticker['change'] = delta;
        ticker['volume'] = Number(ticker['volume']) + Math.floor(random() * 1000);
        ticker['updatedAt'] = new Date(Date.UTC(2026, 11, 3, 6) + version * 1000).toISOString();
      }
    },
  );
}

/** The fan-in and latency board (~600 bytes): its version `v`, when it became visible `t`, 10 rows. */
export function boardDocument(v: number, t: number): Json {
  return {
    v,
    t: Number(t.toFixed(3)),
    title: 'Departures',
    rows: Array.from({ length: 10 }, (_, row) => ({
      flight: `FO${100 + row}`,
      gate: `B${row + 1}`,
      status: (v + row) % 10 === 0 ? 'boarding' : 'scheduled',
      delayMinutes: row === v % 10 ? v % 7 : 0,
    })),
  };
}

/**
 * Page `index` of a catalogue at `version` (~1.5 KB): 12 items, of which
 * the version moves the price and stock of two.
 */
export function catalogueDocument(index: number, version: number): Json {
  const random = seededRandom(7919 * index + 1);
  const items = Array.from({ length: 12 }, (_, i) => ({
    sku: `sku-${index}-${i}`,
    name: `Item ${i} of page ${index}`,
    price: round2(1 + random() * 200),
    stock: Math.floor(random() * 500),
    currency: 'EUR',
  }));
  for (const i of [version % 12, (version * 5 + 3) % 12]) {
    const item = items[i];
    if (item !== undefined) {
      item.price = round2(item.price + (version % 13) * 0.1);
      item.stock = (item.stock + version * 7) % 500;
    }
  }
  return { page: index, version, items };
}
