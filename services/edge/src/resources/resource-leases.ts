/**
 * The leases this edge holds at bridges for on-demand resources: one lease
 * per resource channel, shared by every subscriber of it on this edge,
 * asked when the first one comes (`PUT /internal/v1/leases` at any bridge,
 * following one 421 `resource_elsewhere` to the owner, remembered per
 * channel), renewed every `renewEveryMs` while it has subscribers, and no
 * longer renewed once the last one left (the bridge stops polling
 * `bridge.onDemand.idleMs` after the lease expired).
 */
import {
  FanoutError,
  isErrorCode,
  leasedResourceChannel,
  type ErrorCode,
  type FanoutConfig,
  type Logger,
} from '@fanout/shared';
import type { EdgeMetrics } from '../edge-metrics.js';
import { putJson, type BridgeAnswer } from './bridge-request.js';

export type ResourcesConfig = FanoutConfig['edge']['resources'];

/** The resource a subscriber asks for: its URL and the headers the edge forwards. */
export interface ResourceTarget {
  readonly url: string;
  /** Lower-case names, only those of `edge.resources.forwardHeaders`. */
  readonly headers: Readonly<Record<string, string>>;
}

/** A subscriber's share of a lease; `release()` once it left (idempotent). */
export interface ResourceHold {
  readonly channel: string;
  readonly statusChannel: string;
  readonly release: () => void;
}

/** What a bridge answers a lease with. */
interface LeaseAnswer {
  readonly channel: string;
  readonly statusChannel: string;
  readonly ownerUrl: string;
}

interface LeaseEntry {
  readonly channel: string;
  readonly target: ResourceTarget;
  holders: number;
  ready: Promise<LeaseAnswer>;
  answer?: LeaseAnswer;
  timer: NodeJS.Timeout | undefined;
  renewing: boolean;
}

export interface ResourceLeasesOptions {
  readonly config: ResourcesConfig;
  /** The bridges' base URLs as membership currently lists them. */
  readonly bridges: () => readonly string[];
  readonly metrics: Pick<
    EdgeMetrics,
    'resourceLeases' | 'resourceLeaseRequests' | 'resourceRenewFailures'
  >;
  readonly logger: Logger;
}

/** Codes of a bridge's answer passed on to the subscriber as they are. */
const passedCodes: ReadonlySet<ErrorCode> = new Set([
  'invalid_argument',
  'upstream_refused',
  'resource_limit',
]);
/** Largest lease answer read from a bridge. */
const maxAnswerBytes = 16 * 1024;
/** Most bridges asked for one lease (besides the owner named by a 421). */
const maxBridgesAsked = 3;

function resultOf(code: ErrorCode): string {
  switch (code) {
    case 'upstream_refused':
      return 'refused';
    case 'resource_limit':
      return 'limit';
    case 'invalid_argument':
      return 'invalid';
    default:
      return 'error';
  }
}

function baseUrl(url: string): string {
  return url.endsWith('/') ? url.slice(0, -1) : url;
}

export class ResourceLeases {
  readonly #options: ResourcesConfig;
  readonly #deps: ResourceLeasesOptions;
  readonly #entries = new Map<string, LeaseEntry>();
  /** The owning bridge's URL per channel, most recently used last, bounded. */
  readonly #owners = new Map<string, string>();
  #closed = false;

  constructor(options: ResourceLeasesOptions) {
    this.#options = options.config;
    this.#deps = options;
  }

  /** The channel the bridge publishes the resource to (as every edge and bridge computes it). */
  channelOf(target: ResourceTarget): string {
    return leasedResourceChannel(this.#options.channelPrefix, target.url, target.headers);
  }

  /** Resources leased now. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Joins the lease of the resource, asking a bridge for it when this is its
   * first subscriber; rejects with the bridge's error (or `unavailable` when
   * no bridge answered), `resource_limit` beyond `edge.resources.maxLeases`.
   */
  async hold(target: ResourceTarget): Promise<ResourceHold> {
    if (this.#closed) throw new FanoutError('draining', 'the edge is stopping');
    const channel = this.channelOf(target);
    let entry = this.#entries.get(channel);
    if (entry === undefined) {
      if (this.#entries.size >= this.#options.maxLeases) {
        throw new FanoutError(
          'resource_limit',
          `this edge already holds edge.resources.maxLeases (${this.#options.maxLeases}) resource leases; retry later`,
          { details: { scope: 'edge', maxLeases: this.#options.maxLeases } },
        );
      }
      const created: LeaseEntry = {
        channel,
        target,
        holders: 0,
        ready: Promise.resolve({ channel, statusChannel: '', ownerUrl: '' }),
        renewing: false,
        timer: undefined,
      };
      created.ready = this.#lease(created).then((answer) => {
        created.answer = answer;
        return answer;
      });
      this.#entries.set(channel, created);
      this.#deps.metrics.resourceLeases.set(this.#entries.size);
      created.ready.catch(() => {
        // A first lease that failed leaves no entry: the next subscriber asks again.
        if (this.#entries.get(channel) === created) this.#drop(created);
      });
      entry = created;
    }
    entry.holders++;
    const joined = entry;
    let answer: LeaseAnswer;
    try {
      answer = await joined.ready;
    } catch (error) {
      joined.holders--;
      throw error;
    }
    if (joined.holders > 0 && joined.timer === undefined && this.#entries.get(channel) === joined) {
      joined.timer = setInterval(() => {
        this.#renew(joined);
      }, this.#options.renewEveryMs);
      joined.timer.unref();
    }
    let released = false;
    return {
      channel: answer.channel,
      statusChannel: answer.statusChannel,
      release: () => {
        if (released) return;
        released = true;
        joined.holders--;
        if (joined.holders <= 0 && this.#entries.get(channel) === joined) this.#drop(joined);
      },
    };
  }

  /** Stops renewing every lease (the bridges let them expire). */
  close(): void {
    this.#closed = true;
    for (const entry of [...this.#entries.values()]) this.#drop(entry);
  }

  #drop(entry: LeaseEntry): void {
    if (entry.timer !== undefined) clearInterval(entry.timer);
    entry.timer = undefined;
    this.#entries.delete(entry.channel);
    this.#deps.metrics.resourceLeases.set(this.#entries.size);
  }

  #renew(entry: LeaseEntry): void {
    if (entry.renewing || this.#entries.get(entry.channel) !== entry) return;
    entry.renewing = true;
    this.#lease(entry)
      .then((answer) => {
        entry.answer = answer;
      })
      .catch((error: unknown) => {
        this.#deps.metrics.resourceRenewFailures.inc();
        this.#deps.logger.warn(
          { err: error, channel: entry.channel },
          'resource lease renewal failed; trying again at the next renewal',
        );
      })
      .finally(() => {
        entry.renewing = false;
      });
  }

  /** Asks the remembered owner, else up to three listed bridges; follows one 421. */
  async #lease(entry: LeaseEntry): Promise<LeaseAnswer> {
    const owner = this.#owners.get(entry.channel);
    const listed = this.#deps.bridges().map(baseUrl);
    const start = listed.length === 0 ? 0 : Math.floor(Math.random() * listed.length);
    const candidates = [
      ...(owner === undefined ? [] : [owner]),
      ...listed
        .map((_, index) => listed[(start + index) % listed.length] ?? '')
        .filter((url) => url !== owner)
        .slice(0, maxBridgesAsked),
    ];
    let last: unknown;
    for (const bridge of candidates) {
      try {
        return await this.#ask(entry, bridge, true);
      } catch (error) {
        if (error instanceof FanoutError && passedCodes.has(error.code)) throw error;
        if (bridge === owner) this.#owners.delete(entry.channel);
        last = error;
      }
    }
    throw new FanoutError(
      'unavailable',
      candidates.length === 0
        ? 'no bridge is known to lease on-demand resources from; retry later'
        : 'no bridge answered the lease of this resource; retry later',
      { details: { retryAfterMs: 1000 }, ...(last === undefined ? {} : { cause: last }) },
    );
  }

  async #ask(entry: LeaseEntry, bridge: string, followOwner: boolean): Promise<LeaseAnswer> {
    const { metrics } = this.#deps;
    let answer: BridgeAnswer;
    try {
      answer = await putJson(
        `${bridge}/internal/v1/leases`,
        JSON.stringify({
          url: entry.target.url,
          headers: entry.target.headers,
          leaseMs: this.#options.leaseMs,
        }),
        this.#options.requestTimeoutMs,
        maxAnswerBytes,
        this.#options.bridgeToken,
      );
    } catch (error) {
      metrics.resourceLeaseRequests.inc({ result: 'unreachable' });
      throw error;
    }
    const { status, text } = answer;
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (status === 200) {
      const granted = leaseAnswer(body, bridge);
      if (granted === undefined) {
        metrics.resourceLeaseRequests.inc({ result: 'error' });
        throw new Error(`bridge ${bridge} answered a lease without channel and owner`);
      }
      metrics.resourceLeaseRequests.inc({ result: 'ok' });
      this.#remember(entry.channel, granted.ownerUrl);
      return granted;
    }
    const error = bridgeError(body, status);
    if (error.code === 'resource_elsewhere') {
      metrics.resourceLeaseRequests.inc({ result: 'elsewhere' });
      const ownerUrl = error.details['ownerUrl'];
      if (followOwner && typeof ownerUrl === 'string' && /^https?:\/\//.test(ownerUrl)) {
        return this.#ask(entry, baseUrl(ownerUrl), false);
      }
      throw error;
    }
    metrics.resourceLeaseRequests.inc({ result: resultOf(error.code) });
    throw error;
  }

  #remember(channel: string, ownerUrl: string): void {
    this.#owners.delete(channel);
    this.#owners.set(channel, ownerUrl);
    const bound = Math.max(64, this.#options.maxLeases * 2);
    while (this.#owners.size > bound) {
      const [oldest] = this.#owners.keys();
      if (oldest === undefined) break;
      this.#owners.delete(oldest);
    }
  }
}

function leaseAnswer(body: unknown, bridge: string): LeaseAnswer | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const { channel, statusChannel, owner } = body as Record<string, unknown>;
  if (typeof channel !== 'string' || typeof statusChannel !== 'string') return undefined;
  const ownerUrl =
    typeof owner === 'object' && owner !== null
      ? (owner as Record<string, unknown>)['url']
      : undefined;
  return {
    channel,
    statusChannel,
    ownerUrl:
      typeof ownerUrl === 'string' && /^https?:\/\//.test(ownerUrl) ? baseUrl(ownerUrl) : bridge,
  };
}

/** The catalog error of a bridge's error answer (`internal` when it names none). */
function bridgeError(body: unknown, status: number): FanoutError {
  const error =
    typeof body === 'object' && body !== null
      ? (body as Record<string, unknown>)['error']
      : undefined;
  if (typeof error === 'object' && error !== null) {
    const { code, message, details } = error as Record<string, unknown>;
    if (typeof code === 'string' && isErrorCode(code)) {
      return new FanoutError(code, typeof message === 'string' ? message : undefined, {
        details: scalarDetails(details),
      });
    }
  }
  return new FanoutError('internal', `the bridge answered HTTP ${status}`);
}

/** The string, number and boolean fields of a bridge error's details. */
function scalarDetails(details: unknown): Record<string, string | number | boolean> {
  const kept: Record<string, string | number | boolean> = {};
  if (typeof details !== 'object' || details === null) return kept;
  for (const [name, value] of Object.entries(details).slice(0, 16)) {
    if (typeof value === 'string') kept[name] = value.slice(0, 1024);
    else if (typeof value === 'number' || typeof value === 'boolean') kept[name] = value;
  }
  return kept;
}
