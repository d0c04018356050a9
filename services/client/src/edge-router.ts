/**
 * Where the client connects. Routing is for efficiency only — any edge
 * serves any channel — so a router may be wrong without harm. The static
 * router always answers its one URL and follows `resume_elsewhere` hints
 * that are URLs, for one connection; the placement router
 * (`placement-router.ts`) computes the owner of the client's channels.
 */
export interface EdgeRouter {
  /** Base URL (`http(s)://host:port`) of the edge to connect to for these channels. */
  edgeFor(channels: readonly string[]): Promise<string>;
  /** The edge closed with `resume_elsewhere` (drain, rebalance) and this hint. */
  redirect(hint: string): void;
  /** Connecting to `edge` failed: the router may refresh what it knows. */
  failed(edge: string): void;
  /**
   * The connected `edge` answered a subscription with an owner `hint` (it
   * is not an owner of that channel's partition). Resolves to the edge to
   * move to now, or `undefined` to stay. Without it, hints are ignored.
   */
  hinted?(hint: string, edge: string, channels: readonly string[]): Promise<string | undefined>;
  /** The client closed: stop timers. */
  close?(): void;
}

/** A hint as a base URL, or undefined when it is not one. */
export function hintUrl(hint: string, current: string): string | undefined {
  try {
    const url = new URL(hint, current);
    if (url.protocol === 'ws:') url.protocol = 'http:';
    if (url.protocol === 'wss:') url.protocol = 'https:';
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
    url.pathname = url.pathname.replace(/\/v1\/ws\/?$/, '');
    url.search = '';
    url.hash = '';
    return url.toString().replace(/\/$/, '');
  } catch {
    return undefined;
  }
}

export class StaticRouter implements EdgeRouter {
  readonly url: string;
  #redirect: string | undefined;

  constructor(url: string) {
    this.url = url;
  }

  edgeFor(): Promise<string> {
    const target = this.#redirect ?? this.url;
    this.#redirect = undefined;
    return Promise.resolve(target);
  }

  redirect(hint: string): void {
    this.#redirect = hintUrl(hint, this.url);
  }

  failed(): void {
    this.#redirect = undefined;
  }
}
