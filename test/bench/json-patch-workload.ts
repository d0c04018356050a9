/**
 * The documents and state changes of the JSON Patch library benchmark: a list
 * of 100 objects with 10 fields (about 20 KB of JSON) and an order book, and
 * the steps a state channel sees — a few fields changed, array elements
 * inserted, removed and moved. Deterministic: a seeded generator, so every run
 * measures the same documents.
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A small seeded generator (mulberry32): the same sequence on every run. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type JsonObject = Record<string, Json>;

const statuses = ['open', 'paid', 'packed', 'shipped', 'delivered', 'returned'];

function item(random: () => number, id: number): Json {
  return {
    id: `ord-${String(id).padStart(6, '0')}`,
    customer: `customer-${Math.floor(random() * 10_000)}`,
    status: statuses[Math.floor(random() * statuses.length)] ?? 'open',
    total: Math.round(random() * 100_000) / 100,
    currency: 'EUR',
    items: Math.floor(random() * 9) + 1,
    priority: random() < 0.1,
    created: `2026-12-0${Math.floor(random() * 9) + 1}T10:${String(Math.floor(random() * 60)).padStart(2, '0')}:00Z`,
    tags: ['web', random() < 0.5 ? 'gift' : 'standard'],
    note: null,
  };
}

function level(random: () => number, price: number): JsonObject {
  return { price: Math.round(price * 100) / 100, size: Math.floor(random() * 5000) + 1, orders: 1 };
}

/** A named pair of consecutive document states. */
export interface Step {
  readonly name: string;
  readonly previous: Json;
  readonly next: Json;
}

function asObjects(value: Json): JsonObject[] {
  return value as JsonObject[];
}

/** The steps measured: each starts from a ~20 KB document. */
export function workloadSteps(): Step[] {
  const random = seededRandom(20261202);
  const list: Json = Array.from({ length: 100 }, (_, index) => item(random, index));
  const clone = (value: Json): Json => structuredClone(value);

  const fewFields = clone(list);
  for (const index of [7, 42, 93]) {
    const order = asObjects(fewFields)[index];
    if (order !== undefined) {
      order['status'] = 'shipped';
      order['total'] = 12.34 + index;
    }
  }

  const inserted = clone(list) as Json[];
  inserted.splice(50, 0, item(random, 1000));
  const prepended = clone(list) as Json[];
  prepended.unshift(item(random, 1001));
  const removed = clone(list) as Json[];
  removed.splice(0, 1);
  const moved = clone(list) as Json[];
  const [movedItem] = moved.splice(10, 1);
  if (movedItem !== undefined) moved.splice(80, 0, movedItem);
  const appended = clone(list) as Json[];
  appended.push(item(random, 1002));

  const book = (): Json => ({
    symbol: 'FNO-EUR',
    sequence: 1,
    bids: Array.from({ length: 100 }, (_, index) => level(random, 100 - index * 0.05)),
    asks: Array.from({ length: 100 }, (_, index) => level(random, 100.05 + index * 0.05)),
  });
  const bookBefore = book();
  const bookAfter = clone(bookBefore) as JsonObject;
  bookAfter['sequence'] = 2;
  const bids = asObjects(bookAfter['bids'] ?? []);
  const bestBid = bids[0];
  if (bestBid !== undefined) bestBid['size'] = 17;
  bids.splice(3, 1);
  bids.push(level(random, 94.9));
  const asks = asObjects(bookAfter['asks'] ?? []);
  asks.unshift(level(random, 100.0));
  asks.pop();

  return [
    { name: '3 fields of 3 objects', previous: list, next: fewFields },
    { name: 'insert 1 object at 50', previous: list, next: inserted },
    { name: 'insert 1 object at 0', previous: list, next: prepended },
    { name: 'remove object 0', previous: list, next: removed },
    { name: 'move object 10 to 80', previous: list, next: moved },
    { name: 'append 1 object', previous: list, next: appended },
    { name: 'order book tick', previous: bookBefore, next: bookAfter },
  ];
}

/** A step of a document whose arrays of objects have an identity member. */
export interface KeyedStep extends Step {
  /** JSON Pointer of the identity member of the arrays' objects. */
  readonly arrayKey: string;
}

function quote(random: () => number, symbol: string): JsonObject {
  const price = Math.round(random() * 50_000) / 100;
  return {
    symbol,
    name: `${symbol} Holdings`,
    price,
    change: Math.round((random() - 0.5) * 500) / 100,
    volume: Math.floor(random() * 1_000_000),
    bid: Math.round((price - 0.01) * 100) / 100,
    ask: Math.round((price + 0.01) * 100) / 100,
  };
}

/**
 * The steps of the keyed-diff benchmark: the list and order book steps of
 * `workloadSteps` keyed by `/id` and `/price`, and a ticker of 50 quotes
 * keyed by `/symbol` where a few prices change, with and without rows moving
 * (a list sorted by change).
 */
export function keyedWorkloadSteps(): KeyedStep[] {
  const keys: Readonly<Record<string, string>> = { 'order book tick': '/price' };
  const steps: KeyedStep[] = workloadSteps().map((step) => ({
    ...step,
    arrayKey: keys[step.name] ?? '/id',
  }));
  const random = seededRandom(20261203);
  const symbols = Array.from({ length: 50 }, (_, index) =>
    String.fromCharCode(65 + (index % 26), 65 + Math.floor(index / 26), 65 + ((index * 7) % 26)),
  );
  const ticker = symbols.map((symbol) => quote(random, symbol));
  const ticked = structuredClone(ticker);
  for (const index of [3, 17, 29, 41, 48]) {
    const row = ticked[index];
    if (row !== undefined) {
      row['price'] = Math.round(((row['price'] as number) + 0.37) * 100) / 100;
      row['change'] = 0.37;
      row['volume'] = (row['volume'] as number) + 1200;
    }
  }
  const reordered = structuredClone(ticked);
  const [up] = reordered.splice(41, 1);
  if (up !== undefined) reordered.splice(2, 0, up);
  const [down] = reordered.splice(5, 1);
  if (down !== undefined) reordered.splice(30, 0, down);
  steps.push(
    {
      name: 'ticker: 5 prices',
      previous: { quotes: ticker },
      next: { quotes: ticked },
      arrayKey: '/symbol',
    },
    {
      name: 'ticker: 5 prices, 2 rows move',
      previous: { quotes: ticker },
      next: { quotes: reordered },
      arrayKey: '/symbol',
    },
  );
  return steps;
}
