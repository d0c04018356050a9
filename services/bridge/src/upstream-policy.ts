/**
 * Which upstream URLs the bridge may request, and at which addresses.
 *
 * A URL passes when it is http(s) without a user name or password, and its
 * origin (scheme, host and port, exactly) is in the allow-list. Its host is
 * then resolved and every answer checked: one private, loopback,
 * link-local, unspecified, multicast, reserved or metadata address refuses
 * the whole answer (unless the origin allows private addresses, which opens
 * private, loopback and link-local only). The request then connects to the
 * checked addresses, never resolving the name again (no DNS rebinding
 * between the check and the connection). Redirects are followed by the
 * caller, each hop checked here again.
 */
import { promises as dns } from 'node:dns';
import type { FanoutConfig } from '@fanout/shared';
import { classifyAddress, privateClasses, type AddressClass } from './address-class.js';
import { shownUrl, UpstreamError } from './upstream-error.js';

/** One origin the bridge may poll. */
export interface UpstreamOrigin {
  /** `scheme://host[:port]` as URL#origin writes it. */
  readonly origin: string;
  /** Private, loopback and link-local addresses are allowed for this origin. */
  readonly allowPrivate: boolean;
  /** Lower-case names of subscriber request headers that may be passed on. */
  readonly forwardHeaders: readonly string[];
  /** Headers sent on every request to this origin. */
  readonly headers: Readonly<Record<string, string>>;
}

/** An allow-list item as the configuration holds it: an origin, or an origin entry. */
export type UpstreamOriginSetting = FanoutConfig['bridge']['origins'][number];

export interface ResolvedAddress {
  readonly address: string;
  readonly family: 4 | 6;
}

/** Resolves a host name to every address it has; throws when it has none. */
export type ResolveHost = (hostname: string) => Promise<readonly ResolvedAddress[]>;

/** A URL that passed the policy, with the addresses its connection may use. */
export interface CheckedTarget {
  readonly url: URL;
  readonly origin: UpstreamOrigin;
  /** The host as the socket and TLS see it: no brackets around IPv6. */
  readonly hostname: string;
  /** Every address of the host, each checked; connect to these only. */
  readonly addresses: readonly ResolvedAddress[];
}

/** The system resolver (getaddrinfo: /etc/hosts, search domains), every answer. */
export const systemResolve: ResolveHost = async (hostname) => {
  const answers = await dns.lookup(hostname, { all: true, verbatim: true });
  return answers.map((answer) => ({
    address: answer.address,
    family: answer.family === 6 ? 6 : 4,
  }));
};

/** Resolves A and AAAA records with the given resolver (e.g. with its own servers). */
export function resolverResolve(resolver: dns.Resolver): ResolveHost {
  return async (hostname) => {
    const settle = async (family: 4 | 6): Promise<ResolvedAddress[]> => {
      try {
        const found =
          family === 4 ? await resolver.resolve4(hostname) : await resolver.resolve6(hostname);
        return found.map((address) => ({ address, family }));
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        if (code === 'ENODATA' || code === 'ENOTFOUND') return [];
        throw error;
      }
    };
    const answers = [...(await settle(4)), ...(await settle(6))];
    if (answers.length === 0) {
      throw Object.assign(new Error(`${hostname} has no A or AAAA record`), { code: 'ENOTFOUND' });
    }
    return answers;
  };
}

/** The allow-list items of the configuration as origin entries with their defaults. */
export function upstreamOrigins(settings: readonly UpstreamOriginSetting[]): UpstreamOrigin[] {
  return settings.map((setting) =>
    typeof setting === 'string'
      ? { origin: setting, allowPrivate: false, forwardHeaders: [], headers: {} }
      : {
          origin: new URL(setting.origin).origin,
          allowPrivate: setting.allowPrivate,
          forwardHeaders: setting.forwardHeaders.map((name) => name.toLowerCase()),
          headers: { ...setting.headers },
        },
  );
}

/** URLs of at most this length have their check remembered (a poll's URL is checked every poll). */
const rememberedUrlLength = 512;
/** At most this many checks remembered; all are forgotten when it is reached. */
const rememberedChecks = 2048;

function refused(url: URL | undefined, reason: string, message: string): UpstreamError {
  return new UpstreamError('upstream_refused', message, {
    reason,
    ...(url === undefined ? {} : { url: shownUrl(url) }),
  });
}

export class UpstreamPolicy {
  readonly #origins: ReadonlyMap<string, UpstreamOrigin>;
  readonly #resolve: ResolveHost;
  /**
   * Checks that passed, by URL text (no base): a resource's URL is checked
   * before each poll, and the answer of the allow-list does not change.
   * Targets with an IP address as host are complete (nothing to resolve).
   */
  readonly #checked = new Map<
    string,
    { readonly url: URL; readonly origin: UpstreamOrigin; readonly target?: CheckedTarget }
  >();

  constructor(origins: readonly UpstreamOrigin[], resolve: ResolveHost = systemResolve) {
    const byOrigin = new Map<string, UpstreamOrigin>();
    for (const origin of origins) {
      const key = new URL(origin.origin).origin;
      if (!byOrigin.has(key)) byOrigin.set(key, Object.freeze({ ...origin, origin: key }));
    }
    this.#origins = byOrigin;
    this.#resolve = resolve;
  }

  /** The allow-list, in configuration order. */
  get origins(): readonly UpstreamOrigin[] {
    return [...this.#origins.values()];
  }

  /**
   * Parses a URL (relative ones against `base`, for a redirect's Location)
   * and checks it against the allow-list, without resolving its host.
   * Throws `upstream_refused`.
   */
  checkUrl(input: string | URL, base?: URL): { url: URL; origin: UpstreamOrigin } {
    const text = typeof input === 'string' ? input : input.href;
    if (!URL.canParse(text, base?.href)) {
      throw refused(undefined, 'invalid-url', 'the upstream URL does not parse');
    }
    const url = new URL(text, base);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw refused(undefined, 'scheme', `the scheme ${url.protocol} is not http or https`);
    }
    if (url.username !== '' || url.password !== '') {
      throw refused(
        undefined,
        'userinfo',
        'the upstream URL carries a user name or password; configure headers for the origin instead',
      );
    }
    url.hash = '';
    const origin = this.#origins.get(url.origin);
    if (origin === undefined) {
      throw refused(url, 'origin-not-allowed', `the origin ${url.origin} is not in bridge.origins`);
    }
    return { url, origin };
  }

  /** Throws `upstream_refused` unless the origin may connect to this address. */
  checkAddress(address: string, origin: UpstreamOrigin, url?: URL): AddressClass {
    const kind = classifyAddress(address);
    if (kind === undefined) {
      throw refused(url, 'address-invalid', `the upstream address ${address} is not an IP address`);
    }
    if (kind === 'public' || (origin.allowPrivate && privateClasses.has(kind))) return kind;
    throw refused(
      url,
      `address-${kind}`,
      `the upstream host resolves to ${address}, a ${kind} address${
        privateClasses.has(kind) ? ` (${origin.origin} does not allow private addresses)` : ''
      }`,
    );
  }

  /**
   * Checks the URL, resolves its host and checks every address. Throws
   * `upstream_refused`, or `upstream_unreachable` when the name does not resolve.
   */
  async check(input: string | URL, base?: URL): Promise<CheckedTarget> {
    const known = this.#remembered(input, base);
    if (known.target !== undefined) return known.target;
    const { url, origin } = known;
    const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    let addresses: readonly ResolvedAddress[];
    if (classifyAddress(hostname) !== undefined) {
      addresses = [{ address: hostname, family: hostname.includes(':') ? 6 : 4 }];
    } else {
      try {
        addresses = await this.#resolve(hostname);
      } catch (error) {
        throw new UpstreamError(
          'upstream_unreachable',
          `cannot resolve ${hostname}: ${error instanceof Error ? error.message : String(error)}`,
          { reason: 'dns', url: shownUrl(url) },
          { cause: error },
        );
      }
      if (addresses.length === 0) {
        throw new UpstreamError('upstream_unreachable', `${hostname} has no address`, {
          reason: 'dns',
          url: shownUrl(url),
        });
      }
    }
    for (const { address } of addresses) this.checkAddress(address, origin, url);
    return { url, origin, hostname, addresses };
  }

  /**
   * The whole check without waiting when the URL's host is an IP address
   * (nothing to resolve): the target, or a refusal thrown. Undefined when
   * the host is a name: then `check` resolves it.
   */
  checkNow(input: string | URL, base?: URL): CheckedTarget | undefined {
    return this.#remembered(input, base).target;
  }

  /** checkUrl, remembered for URL texts without a base; with the target of an IP host. */
  #remembered(
    input: string | URL,
    base: URL | undefined,
  ): { readonly url: URL; readonly origin: UpstreamOrigin; readonly target?: CheckedTarget } {
    const key = typeof input === 'string' && base === undefined ? input : undefined;
    if (key !== undefined) {
      const known = this.#checked.get(key);
      if (known !== undefined) return known;
    }
    const { url, origin } = this.checkUrl(input, base);
    const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    let target: CheckedTarget | undefined;
    if (classifyAddress(hostname) !== undefined) {
      const addresses = [{ address: hostname, family: hostname.includes(':') ? 6 : 4 } as const];
      this.checkAddress(hostname, origin, url);
      target = Object.freeze({ url, origin, hostname, addresses: Object.freeze(addresses) });
    }
    const entry = target === undefined ? { url, origin } : { url, origin, target };
    if (key !== undefined && key.length <= rememberedUrlLength) {
      if (this.#checked.size >= rememberedChecks) this.#checked.clear();
      this.#checked.set(key, entry);
    }
    return entry;
  }
}
