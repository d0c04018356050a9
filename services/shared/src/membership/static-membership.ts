/** Membership from a fixed list: for a fixed set of hosts, or tests. */
import {
  MemberReporter,
  type Member,
  type MembershipListener,
  type MembershipSource,
} from './membership-source.js';

export class StaticMembership implements MembershipSource {
  readonly kind = 'static';
  readonly #members: readonly Member[];
  readonly #reporter = new MemberReporter();

  constructor(members: readonly Member[]) {
    this.#members = members;
  }

  start(listener: MembershipListener): Promise<readonly Member[]> {
    this.#reporter.attach(listener);
    return Promise.resolve(this.#reporter.report(this.#members));
  }

  close(): Promise<void> {
    this.#reporter.close();
    return Promise.resolve();
  }
}
