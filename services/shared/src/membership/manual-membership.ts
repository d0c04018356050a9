/**
 * A membership source whose list is set by hand (`set`): what the tests of
 * membership, settling and rebalancing drive, and what a program embedding
 * the edge with its own discovery would use.
 */
import type { Member, MembershipListener, MembershipSource } from './membership-source.js';

export class ManualMembership implements MembershipSource {
  readonly kind = 'manual';
  #listener: MembershipListener | undefined;

  constructor(readonly initial: readonly Member[]) {}

  start(listener: MembershipListener): Promise<readonly Member[]> {
    this.#listener = listener;
    return Promise.resolve(this.initial);
  }

  /** Reports a new list to the listener (nothing before `start`). */
  set(members: readonly Member[]): void {
    this.#listener?.(members);
  }

  close(): Promise<void> {
    this.#listener = undefined;
    return Promise.resolve();
  }
}
