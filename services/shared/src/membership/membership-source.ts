/**
 * Membership: the live members of a cluster (edges, or bridges), each with the id placement
 * hashes and the URL clients reach it at. One interface, sibling sources
 * (static list, watched file, DNS of a headless Service, Kubernetes
 * EndpointSlices), one contract test suite they all pass.
 */

/** One live member (an edge, a bridge). */
export interface Member {
  /** Id placement hashes (a pod name, an address). */
  readonly id: string;
  /** Base URL clients connect to: `http(s)://host:port`. */
  readonly url: string;
}

/** Receives the whole current member list, sorted by id, on every change. */
export type MembershipListener = (members: readonly Member[]) => void;

export interface MembershipSource {
  /** `static`, `file`, `dns` or `kubernetes`. */
  readonly kind: string;
  /**
   * Reads the first list, reports it, then follows changes (each reported
   * once, only when the list differs). Rejects when the first read fails,
   * except where a source says otherwise (`dns` always, `kubernetes` with
   * `retryFirstList`: they start empty and keep trying).
   */
  start(listener: MembershipListener): Promise<readonly Member[]>;
  /** Stops following; no report after it resolves. */
  close(): Promise<void>;
}

/** Called when a source fails to refresh; it keeps the last list and retries. */
export type MembershipErrorHandler = (error: unknown) => void;

/** De-duplicates by id (the first URL wins) and sorts by id. */
export function normalizeMemberList(members: Iterable<Member>): Member[] {
  const byId = new Map<string, Member>();
  for (const member of members) {
    if (member.id === '') throw new RangeError('a member id must not be empty');
    if (!byId.has(member.id)) byId.set(member.id, { id: member.id, url: member.url });
  }
  return [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** Whether two normalized lists are equal. */
export function sameMembers(a: readonly Member[], b: readonly Member[]): boolean {
  return (
    a.length === b.length &&
    a.every((member, index) => member.id === b[index]?.id && member.url === b[index].url)
  );
}

/** `http://10.0.0.7:8081`, `http://[fd00::7]:8081`. */
export function memberUrl(scheme: 'http' | 'https', address: string, port: number): string {
  const host = address.includes(':') ? `[${address}]` : address;
  return `${scheme}://${host}:${port}`;
}

/** Parses `id=http://host:port`. */
export function parseStaticMember(entry: string): Member {
  const at = entry.indexOf('=');
  if (at <= 0 || at === entry.length - 1) {
    throw new RangeError(`a static member must be id=http(s)://host:port (got ${entry})`);
  }
  return { id: entry.slice(0, at), url: entry.slice(at + 1) };
}

/**
 * Reports a list to the listener only when it differs from the last one:
 * the shared bookkeeping of the sources.
 */
export class MemberReporter {
  #last: readonly Member[] | undefined;
  #listener: MembershipListener | undefined;
  #closed = false;

  get current(): readonly Member[] {
    return this.#last ?? [];
  }

  attach(listener: MembershipListener): void {
    this.#listener = listener;
  }

  close(): void {
    this.#closed = true;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Normalizes, compares and reports; returns the normalized list. */
  report(members: Iterable<Member>): readonly Member[] {
    const list = normalizeMemberList(members);
    if (this.#closed) return list;
    if (this.#last !== undefined && sameMembers(this.#last, list)) return this.#last;
    this.#last = list;
    this.#listener?.(list);
    return list;
  }
}
