/**
 * Settle-time smoothing around any membership source: a new member joins
 * only after it has been listed for `settleMs` without interruption, and a
 * member leaves only after it has been missing for `settleMs`. A pod whose
 * readiness flaps faster than that never moves clients. The first list is
 * taken as it is; a member whose URL changes is updated at once.
 */
import {
  MemberReporter,
  type Member,
  type MembershipListener,
  type MembershipSource,
} from './membership-source.js';

export interface SettledMembershipOptions {
  readonly settleMs: number;
  /** Clock, for tests. */
  readonly now?: () => number;
}

export class SettledMembership implements MembershipSource {
  readonly #inner: MembershipSource;
  readonly #settleMs: number;
  readonly #now: () => number;
  readonly #reporter = new MemberReporter();
  /** The published members by id. */
  readonly #settled = new Map<string, Member>();
  /** The source's latest list by id. */
  #raw = new Map<string, Member>();
  /** Since when a member not yet published has been listed. */
  readonly #joining = new Map<string, number>();
  /** Since when a published member has been missing. */
  readonly #leaving = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;

  constructor(inner: MembershipSource, options: SettledMembershipOptions) {
    this.#inner = inner;
    this.#settleMs = options.settleMs;
    this.#now = options.now ?? Date.now;
  }

  get kind(): string {
    return this.#inner.kind;
  }

  /** Members waiting to join or leave. */
  get pending(): { joining: readonly string[]; leaving: readonly string[] } {
    return { joining: [...this.#joining.keys()], leaving: [...this.#leaving.keys()] };
  }

  #onRaw(members: readonly Member[]): void {
    const now = this.#now();
    this.#raw = new Map(members.map((member) => [member.id, member]));
    let changed = false;
    for (const [id, member] of this.#raw) {
      const settled = this.#settled.get(id);
      if (settled === undefined) {
        if (!this.#joining.has(id)) this.#joining.set(id, now);
      } else {
        this.#leaving.delete(id);
        if (settled.url !== member.url) {
          this.#settled.set(id, member);
          changed = true;
        }
      }
    }
    for (const id of this.#joining.keys()) if (!this.#raw.has(id)) this.#joining.delete(id);
    for (const id of this.#settled.keys()) {
      if (!this.#raw.has(id) && !this.#leaving.has(id)) this.#leaving.set(id, now);
    }
    this.#settle(changed);
  }

  #settle(changed: boolean): void {
    const now = this.#now();
    let next = Infinity;
    for (const [id, since] of this.#joining) {
      const member = this.#raw.get(id);
      if (member !== undefined && now - since >= this.#settleMs) {
        this.#settled.set(id, member);
        this.#joining.delete(id);
        changed = true;
      } else {
        next = Math.min(next, since + this.#settleMs);
      }
    }
    for (const [id, since] of this.#leaving) {
      if (now - since >= this.#settleMs) {
        this.#settled.delete(id);
        this.#leaving.delete(id);
        changed = true;
      } else {
        next = Math.min(next, since + this.#settleMs);
      }
    }
    if (changed) this.#reporter.report(this.#settled.values());
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (next !== Infinity && !this.#reporter.closed) {
      this.#timer = setTimeout(
        () => {
          this.#settle(false);
        },
        Math.max(0, next - now),
      );
      this.#timer.unref();
    }
  }

  async start(listener: MembershipListener): Promise<readonly Member[]> {
    this.#reporter.attach(listener);
    let first = true;
    const initial = await this.#inner.start((members) => {
      if (first) return;
      this.#onRaw(members);
    });
    first = false;
    this.#raw = new Map(initial.map((member) => [member.id, member]));
    for (const member of initial) this.#settled.set(member.id, member);
    return this.#reporter.report(this.#settled.values());
  }

  async close(): Promise<void> {
    this.#reporter.close();
    if (this.#timer) clearTimeout(this.#timer);
    await this.#inner.close();
  }
}
