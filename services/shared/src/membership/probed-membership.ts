/**
 * Liveness of listed members, for the sources that list edges without
 * knowing whether they run (`static`, `file`): every `intervalMs` each listed
 * member's readiness is probed (`GET <url>/readyz`, at most `timeoutMs`), and
 * only the members that answer are reported.
 *
 * - Hysteresis: a live member is dropped only after its probes have failed
 *   for `settleMs` without one success, and a dropped member is re-admitted
 *   only after answering for `settleMs` without one failure; a member whose
 *   readiness flaps faster than that keeps its state.
 * - A member without history (at start, or newly listed) takes the state of
 *   its first probe, so a starting edge agrees at once with the others.
 * - This edge is never probed over the network: its own state is its local
 *   readiness, under the same hysteresis, which is what the other edges'
 *   probes of it read, so every edge computes the same view.
 * - At most one probe per member is in flight; a member listed again under a
 *   new URL keeps its state and is probed at once.
 */
import {
  MemberReporter,
  type Member,
  type MembershipErrorHandler,
  type MembershipListener,
  type MembershipSource,
} from './membership-source.js';
import { probeReadiness, type ProbeResult, type ReadinessProbe } from './readiness-probe.js';

/** A listed member dropped (`live` false) or re-admitted (`live` true). */
export interface LivenessChange {
  readonly member: Member;
  readonly live: boolean;
  /** How long the probes said so before the change (0 for a first probe). */
  readonly afterMs: number;
  /** The last probe's outcome (`HTTP 503`, `ECONNREFUSED`, ...). */
  readonly detail: string;
}

export interface LivenessObserver {
  onChange?(change: LivenessChange): void;
  /** Listed members by state, after every change of state or of the list. */
  onCounts?(live: number, dead: number): void;
}

export interface ProbedMembershipOptions {
  /** This edge's member id: never probed. */
  readonly selfId: string;
  /** This edge's own readiness, read locally. */
  readonly selfReady: () => boolean;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly settleMs: number;
  readonly observer?: LivenessObserver;
  /** Told when a probe round fails as a whole (the next one runs all the same). */
  readonly onError?: MembershipErrorHandler;
  /** The probe, for tests. */
  readonly probe?: ReadinessProbe;
  /** Clock, for tests. */
  readonly now?: () => number;
}

interface MemberState {
  member: Member;
  /** Undefined until the first probe answers. */
  live: boolean | undefined;
  /** Since when the probes have contradicted `live` without interruption. */
  contrarySince: number | undefined;
  probing: boolean;
}

export class ProbedMembership implements MembershipSource {
  readonly #inner: MembershipSource;
  readonly #options: ProbedMembershipOptions;
  readonly #probe: ReadinessProbe;
  readonly #now: () => number;
  readonly #reporter = new MemberReporter();
  /** The listed members by id. */
  #states = new Map<string, MemberState>();
  #timer: NodeJS.Timeout | undefined;
  #started = false;
  /** Ends the probes in flight on close. */
  readonly #closing = new AbortController();

  constructor(inner: MembershipSource, options: ProbedMembershipOptions) {
    this.#inner = inner;
    this.#options = options;
    this.#probe = options.probe ?? probeReadiness;
    this.#now = options.now ?? Date.now;
  }

  get kind(): string {
    return this.#inner.kind;
  }

  /** Listed members by state (`undefined`: not probed yet). */
  get liveness(): ReadonlyMap<string, boolean | undefined> {
    return new Map([...this.#states].map(([id, state]) => [id, state.live]));
  }

  #list(members: readonly Member[]): MemberState[] {
    const next = new Map<string, MemberState>();
    const fresh: MemberState[] = [];
    for (const member of members) {
      const known = this.#states.get(member.id);
      if (known === undefined) {
        const state: MemberState = {
          member,
          live: undefined,
          contrarySince: undefined,
          probing: false,
        };
        next.set(member.id, state);
        fresh.push(state);
      } else {
        if (known.member.url !== member.url) fresh.push(known);
        known.member = member;
        next.set(member.id, known);
      }
    }
    this.#states = next;
    return fresh;
  }

  #apply(state: MemberState, result: ProbeResult): void {
    if (this.#states.get(state.member.id) !== state) return; // no longer listed
    const now = this.#now();
    if (state.live === undefined) {
      state.live = result.ok;
      state.contrarySince = undefined;
      if (!result.ok) {
        this.#options.observer?.onChange?.({
          member: state.member,
          live: false,
          afterMs: 0,
          detail: result.detail,
        });
      }
      return;
    }
    if (result.ok === state.live) {
      state.contrarySince = undefined;
      return;
    }
    state.contrarySince ??= now;
    const afterMs = now - state.contrarySince;
    if (afterMs < this.#options.settleMs) return;
    state.live = result.ok;
    state.contrarySince = undefined;
    this.#options.observer?.onChange?.({
      member: state.member,
      live: result.ok,
      afterMs,
      detail: result.detail,
    });
  }

  /** Probes these members (this edge locally), applies the answers, reports. */
  async #probeAll(states: Iterable<MemberState>): Promise<void> {
    if (this.#reporter.closed) return;
    const probes: Promise<void>[] = [];
    for (const state of states) {
      if (state.member.id === this.#options.selfId) {
        const ready = this.#options.selfReady();
        this.#apply(state, { ok: ready, detail: ready ? 'ready' : 'this edge is not ready' });
        continue;
      }
      if (state.probing) continue;
      state.probing = true;
      probes.push(
        this.#probe(state.member.url, this.#options.timeoutMs, this.#closing.signal).then(
          (result) => {
            state.probing = false;
            this.#apply(state, result);
          },
          (error: unknown) => {
            state.probing = false;
            this.#apply(state, { ok: false, detail: String(error) });
          },
        ),
      );
    }
    await Promise.all(probes);
    this.#report();
  }

  #report(): void {
    if (!this.#started || this.#reporter.closed) return;
    const live: Member[] = [];
    let dead = 0;
    for (const state of this.#states.values()) {
      if (state.live === true) live.push(state.member);
      else if (state.live === false) dead++;
    }
    this.#options.observer?.onCounts?.(live.length, dead);
    this.#reporter.report(live);
  }

  /** Probes every listed member now (what every interval does); resolves once all answered. */
  probeNow(): Promise<void> {
    return this.#probeAll([...this.#states.values()]);
  }

  #onListed(members: readonly Member[]): void {
    if (this.#reporter.closed) return;
    const fresh = this.#list(members);
    this.#report();
    if (fresh.length > 0) {
      this.#probeAll(fresh).catch((error: unknown) => this.#options.onError?.(error));
    }
  }

  async start(listener: MembershipListener): Promise<readonly Member[]> {
    this.#reporter.attach(listener);
    let first = true;
    const initial = await this.#inner.start((members) => {
      if (!first) this.#onListed(members);
    });
    first = false;
    this.#list(initial);
    await this.#probeAll([...this.#states.values()]);
    this.#started = true;
    this.#timer = setInterval(() => {
      this.probeNow().catch((error: unknown) => this.#options.onError?.(error));
    }, this.#options.intervalMs);
    this.#timer.unref();
    this.#report();
    return this.#reporter.current;
  }

  async close(): Promise<void> {
    this.#reporter.close();
    if (this.#timer) clearInterval(this.#timer);
    this.#closing.abort();
    await this.#inner.close();
  }
}
