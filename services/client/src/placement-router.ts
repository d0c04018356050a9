/**
 * The placement router: the client computes its edge itself, with the
 * cluster's own placement function (`pickEdge` over `placePartitions` of
 * `@fanout/shared`, the very code the edges run), from the membership and
 * placement parameters that any edge's `GET /v1/route` reports.
 *
 * - Membership is read on the first connect, again every
 *   `refreshIntervalMs` (±20 % jitter), and whenever a connection fails, a
 *   close or a hint names an edge it does not know, or an edge hints
 *   although this router thinks it is an owner. The answer comes from the
 *   seed URLs first (a Service in front of the edges), then from any known
 *   member.
 * - `resume_elsewhere` closes (drain 4200, rebalance 4202) are followed to
 *   the edge they name; subscribe-answer hints move the client to the edge
 *   the placement computes for all its channels — or keep it where it is
 *   when the current edge owns the most of them.
 * - An edge that does not answer is left out for `failedEdgeCooldownMs`: the
 *   placement is computed over the others (the edge the cluster itself
 *   would pick once that edge is gone), and with no member left the seeds
 *   are used. Correctness never depends on any of it: every edge serves
 *   every channel.
 * - When the edges run another placement version, the router uses the edge
 *   their `/v1/route` answer picks instead of computing one.
 */
import {
  FanoutError,
  isValidChannel,
  ownersOf,
  partitionForChannel,
  pickEdge,
  placementVersion,
  placePartitions,
  type Placement,
} from '@fanout/shared/portable-core';
import { hintUrl, type EdgeRouter } from './edge-router.js';
import { errorFromResponse } from './http-error.js';
import { parseRouteAnswer, type RouteAnswer } from './route-answer.js';

export interface PlacementRouterOptions {
  /**
   * Base URLs asked for the membership first (`http(s)://host:port`): an
   * edge, or a Service / ingress in front of the edges. Used to connect
   * when no member answers.
   */
  readonly seeds: readonly string[];
  /** fetch; default `globalThis.fetch`. */
  readonly fetch?: typeof fetch;
  /** Re-read the membership this often, ±20 % jitter (default 60 s). */
  readonly refreshIntervalMs?: number;
  /** Leave out an edge that failed to connect for this long (default 30 s). */
  readonly failedEdgeCooldownMs?: number;
  /** Give up on one `GET /v1/route` after this long (default 5 s). */
  readonly requestTimeoutMs?: number;
  /**
   * Spreads the clients of one partition over its owners while each client
   * stays on the same edge; default a random id per router.
   */
  readonly spreadKey?: string;
  /** Random source of the refresh jitter, in [0, 1) (default Math.random). */
  readonly random?: () => number;
}

/** What the router knows of the cluster, from the last `/v1/route` answer. */
export interface RouterView {
  readonly placementVersion: number;
  readonly partitions: number;
  readonly replicas: number;
  readonly loadFactor: number;
  readonly members: readonly { readonly id: string; readonly url: string }[];
  /** When it was read (ms since the epoch). */
  readonly refreshedAt: number;
}

/** Concrete channels asked about in one `/v1/route` question. */
const maxRouteChannels = 64;
/** Asked when the client follows no concrete channel: any valid name gives the membership. */
const probeChannel = 'fanout-route';
/** Triggered refreshes closer together than this are skipped. */
const minRefreshGapMs = 1000;

function checkedMs(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 1) {
    throw new FanoutError(
      'invalid_argument',
      `placement router option ${name}: must be a number ≥ 1 (got ${String(value)})`,
      { details: { field: name } },
    );
  }
  return value;
}

function randomKey(random: () => number): string {
  const crypto = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  return crypto?.randomUUID?.() ?? `${Date.now().toString(36)}-${random().toString(36).slice(2)}`;
}

function concreteChannels(channels: readonly string[]): string[] {
  return channels.filter((channel) => isValidChannel(channel));
}

export class PlacementRouter implements EdgeRouter {
  readonly spreadKey: string;
  readonly #seeds: readonly string[];
  readonly #fetch: typeof fetch;
  readonly #refreshIntervalMs: number;
  readonly #cooldownMs: number;
  readonly #timeoutMs: number;
  readonly #random: () => number;
  #view: RouterView | undefined;
  /** The edge the answering edge picked, for these channels (other placement version). */
  #answered: { readonly key: string; readonly edge: string } | undefined;
  #placement: { readonly key: string; readonly placement: Placement } | undefined;
  #channels: readonly string[] = [];
  #redirect: string | undefined;
  readonly #failedUntil = new Map<string, number>();
  #refreshing: Promise<void> | undefined;
  #lastRefreshAt = 0;
  #seedIndex = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #started = false;
  #closed = false;

  constructor(options: PlacementRouterOptions) {
    if (options.seeds.length === 0) {
      throw new FanoutError('invalid_argument', 'placement router option seeds: name an edge', {
        details: { field: 'seeds' },
      });
    }
    const seeds: string[] = [];
    for (const seed of options.seeds) {
      const url = hintUrl(seed, 'http://invalid');
      if (url === undefined || !/^(https?|wss?):\/\//.test(seed)) {
        throw new FanoutError(
          'invalid_argument',
          `placement router option seeds: "${seed}" is not an http(s) or ws(s) URL`,
          { details: { field: 'seeds' } },
        );
      }
      if (!seeds.includes(url)) seeds.push(url);
    }
    this.#seeds = seeds;
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.#refreshIntervalMs = checkedMs('refreshIntervalMs', options.refreshIntervalMs, 60_000);
    this.#cooldownMs = checkedMs('failedEdgeCooldownMs', options.failedEdgeCooldownMs, 30_000);
    this.#timeoutMs = checkedMs('requestTimeoutMs', options.requestTimeoutMs, 5_000);
    this.#random = options.random ?? Math.random;
    this.spreadKey = options.spreadKey ?? randomKey(this.#random);
  }

  /** The membership and placement parameters last read (undefined before the first answer). */
  get view(): RouterView | undefined {
    return this.#view;
  }

  async edgeFor(channels: readonly string[]): Promise<string> {
    this.#channels = [...channels];
    this.#start();
    const redirect = this.#redirect;
    this.#redirect = undefined;
    if (redirect !== undefined && !this.#isFailed(redirect)) return redirect;
    if (this.#view === undefined) await this.refresh();
    const version = this.#view?.placementVersion;
    if (version !== undefined && version !== placementVersion) {
      if (this.#answered?.key !== this.#channelKey()) await this.refresh();
      const answered = this.#answered?.edge;
      if (answered !== undefined && !this.#isFailed(answered)) return answered;
    }
    return this.compute(channels) ?? this.#seed();
  }

  /**
   * The edge the placement gives these channels, over the members that did
   * not fail lately; `undefined` without a (compatible) membership.
   */
  compute(channels: readonly string[]): string | undefined {
    const view = this.#view;
    if (view?.placementVersion !== placementVersion) return undefined;
    const live = view.members.filter((member) => !this.#isFailed(member.url));
    if (live.length === 0) return undefined;
    const placement = this.#placementOf(
      view,
      live.map((member) => member.id),
    );
    const partitions = concreteChannels(channels).map((channel) =>
      partitionForChannel(channel, view.partitions),
    );
    const id = pickEdge(placement, partitions, this.spreadKey);
    return live.find((member) => member.id === id)?.url;
  }

  /**
   * The URLs of the owners of `channel`'s partition in the last membership
   * read, primary first (`[]` before one, or under another placement version).
   */
  owners(channel: string): string[] {
    const view = this.#view;
    if (view?.placementVersion !== placementVersion) return [];
    const placement = this.#placementOf(
      view,
      view.members.map((member) => member.id),
    );
    const urls = new Map(view.members.map((member) => [member.id, member.url]));
    return ownersOf(placement, partitionForChannel(channel, view.partitions)).map(
      (id) => urls.get(id) ?? id,
    );
  }

  redirect(hint: string): void {
    const url = hintUrl(hint, this.#seeds[0] ?? hint);
    this.#redirect = url;
    if (url !== undefined) {
      this.#failedUntil.delete(url);
      // A new edge knows the membership that made it one: ask it first.
      if (!this.#knows(url)) void this.refresh(0, url);
    }
  }

  failed(edge: string): void {
    this.#failedUntil.set(edge, Date.now() + this.#cooldownMs);
    if (this.#redirect === edge) this.#redirect = undefined;
    this.#refreshSoon();
  }

  async hinted(
    hint: string,
    edge: string,
    channels: readonly string[],
  ): Promise<string | undefined> {
    const url = hintUrl(hint, edge);
    if (url === undefined || this.#closed) return undefined;
    this.#channels = [...channels];
    if (this.#view?.placementVersion !== placementVersion) {
      // Nothing to compute with: trust the edge.
      return url === edge ? undefined : url;
    }
    if (!this.#knows(url)) await this.refresh(minRefreshGapMs, url);
    let choice = this.compute(channels);
    if (choice === edge) {
      // The edge and this router disagree: read the membership again.
      await this.refresh(minRefreshGapMs);
      choice = this.compute(channels);
    }
    const target = choice ?? url;
    return target === edge ? undefined : target;
  }

  /**
   * Reads the membership from `first` (when given), the seeds, then the
   * known members, until one answers; skipped when the last read is younger
   * than `minAgeMs`. Never rejects: with no answer, the router keeps what it
   * knew.
   */
  refresh(minAgeMs = 0, first?: string): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (this.#refreshing) return this.#refreshing;
    if (minAgeMs > 0 && Date.now() - this.#lastRefreshAt < minAgeMs) return Promise.resolve();
    this.#refreshing = this.#readMembership(first).finally(() => {
      this.#refreshing = undefined;
    });
    return this.#refreshing;
  }

  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  async #readMembership(first: string | undefined): Promise<void> {
    const asked = concreteChannels(this.#channels).slice(0, maxRouteChannels);
    const key = this.#channelKey();
    const members = (this.#view?.members ?? []).map((member) => member.url);
    const candidates = [
      ...new Set([...(first === undefined ? [] : [first]), ...this.#seeds, ...members]),
    ];
    const fresh = candidates.filter((url) => !this.#isFailed(url));
    for (const base of [...fresh, ...candidates.filter((url) => !fresh.includes(url))]) {
      if (this.#closed) return;
      let answer: RouteAnswer;
      try {
        answer = await this.#ask(base, asked.length === 0 ? [probeChannel] : asked);
      } catch {
        continue;
      }
      this.#lastRefreshAt = Date.now();
      this.#view = {
        placementVersion: answer.placementVersion,
        partitions: answer.partitions,
        replicas: answer.replicas,
        loadFactor: answer.loadFactor,
        members: answer.members,
        refreshedAt: this.#lastRefreshAt,
      };
      this.#answered = { key, edge: answer.edge };
      for (const url of this.#failedUntil.keys()) {
        if (!answer.members.some((member) => member.url === url)) this.#failedUntil.delete(url);
      }
      return;
    }
  }

  async #ask(base: string, channels: readonly string[]): Promise<RouteAnswer> {
    const abort = new AbortController();
    const timer = setTimeout(() => {
      abort.abort();
    }, this.#timeoutMs);
    try {
      const response = await this.#fetch(
        `${base}/v1/route?channels=${encodeURIComponent(channels.join(','))}`,
        { signal: abort.signal, headers: { accept: 'application/json' } },
      );
      if (!response.ok) throw await errorFromResponse(response);
      return parseRouteAnswer(await response.json(), base);
    } finally {
      clearTimeout(timer);
    }
  }

  #placementOf(view: RouterView, ids: readonly string[]): Placement {
    const key = `${view.refreshedAt}|${ids.join('\n')}`;
    if (this.#placement?.key === key) return this.#placement.placement;
    const placement = placePartitions(ids, {
      partitions: view.partitions,
      replicas: view.replicas,
      loadFactor: view.loadFactor,
    });
    this.#placement = { key, placement };
    return placement;
  }

  #channelKey(): string {
    return concreteChannels(this.#channels).slice(0, maxRouteChannels).join(',');
  }

  #knows(url: string): boolean {
    return this.#view?.members.some((member) => member.url === url) ?? false;
  }

  #isFailed(url: string): boolean {
    const until = this.#failedUntil.get(url);
    if (until === undefined) return false;
    if (until > Date.now()) return true;
    this.#failedUntil.delete(url);
    return false;
  }

  /** A seed that did not fail lately, in turn (any seed when all did). */
  #seed(): string {
    const count = this.#seeds.length;
    for (let step = 0; step < count; step++) {
      const seed = this.#seeds[(this.#seedIndex + step) % count];
      if (seed !== undefined && !this.#isFailed(seed)) {
        this.#seedIndex = (this.#seedIndex + step + 1) % count;
        return seed;
      }
    }
    const seed = this.#seeds[this.#seedIndex % count] ?? '';
    this.#seedIndex = (this.#seedIndex + 1) % count;
    return seed;
  }

  #refreshSoon(): void {
    void this.refresh(minRefreshGapMs);
  }

  #start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    this.#schedule();
  }

  #schedule(): void {
    if (this.#closed) return;
    const delay = this.#refreshIntervalMs * (0.8 + 0.4 * this.#random());
    const timer = setTimeout(() => {
      void this.refresh().finally(() => {
        this.#schedule();
      });
    }, delay);
    (timer as { unref?: () => void }).unref?.();
    this.#timer = timer;
  }
}
