/**
 * Membership from DNS: the A and AAAA records of a headless Kubernetes
 * Service list the addresses of its ready pods. Resolved every
 * `pollIntervalMs`; a name without records (NXDOMAIN, no data) is an empty
 * cluster, a failed lookup keeps the last list. A failed first lookup (the
 * resolver times out, SERVFAIL) does not fail the start: it is reported to
 * `onError`, the list starts empty and the next poll tries again, so a
 * service that starts while DNS is unwell comes up alone and finds its peers
 * once DNS answers. Members are named by address.
 */
import { Resolver } from 'node:dns/promises';
import {
  memberUrl,
  MemberReporter,
  type Member,
  type MembershipErrorHandler,
  type MembershipListener,
  type MembershipSource,
} from './membership-source.js';

export interface DnsMembershipOptions {
  readonly name: string;
  /** `ip` or `ip:port`; empty uses the system's resolvers. */
  readonly servers: readonly string[];
  readonly pollIntervalMs: number;
  readonly port: number;
  readonly scheme: 'http' | 'https';
  /** Per-query timeout. */
  readonly timeoutMs?: number;
  readonly onError?: MembershipErrorHandler;
}

/** Answers that mean "no such records", not "the lookup failed". */
const noRecords = new Set(['ENOTFOUND', 'ENODATA']);

export class DnsMembership implements MembershipSource {
  readonly kind = 'dns';
  readonly #options: DnsMembershipOptions;
  readonly #resolver: Resolver;
  readonly #reporter = new MemberReporter();
  #timer: NodeJS.Timeout | undefined;
  #resolving: Promise<void> = Promise.resolve();

  constructor(options: DnsMembershipOptions) {
    this.#options = options;
    this.#resolver = new Resolver({ timeout: options.timeoutMs ?? 2000, tries: 2 });
    if (options.servers.length > 0) this.#resolver.setServers([...options.servers]);
  }

  async #lookup(family: 4 | 6): Promise<string[]> {
    try {
      return family === 4
        ? await this.#resolver.resolve4(this.#options.name)
        : await this.#resolver.resolve6(this.#options.name);
    } catch (error) {
      if (noRecords.has((error as { code?: string }).code ?? '')) return [];
      throw error;
    }
  }

  async #resolve(): Promise<readonly Member[]> {
    const [v4, v6] = await Promise.all([this.#lookup(4), this.#lookup(6)]);
    return this.#reporter.report(
      [...v4, ...v6].map((address) => ({
        id: address,
        url: memberUrl(this.#options.scheme, address, this.#options.port),
      })),
    );
  }

  async start(listener: MembershipListener): Promise<readonly Member[]> {
    this.#reporter.attach(listener);
    let first: readonly Member[];
    try {
      first = await this.#resolve();
    } catch (error) {
      this.#options.onError?.(error);
      first = this.#reporter.report([]);
    }
    this.#timer = setInterval(() => {
      this.#resolving = this.#resolving.then(async () => {
        if (this.#reporter.closed) return;
        try {
          await this.#resolve();
        } catch (error) {
          this.#options.onError?.(error);
        }
      });
    }, this.#options.pollIntervalMs);
    this.#timer.unref();
    return first;
  }

  async close(): Promise<void> {
    this.#reporter.close();
    if (this.#timer) clearInterval(this.#timer);
    this.#resolver.cancel();
    await this.#resolving;
  }
}
