import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualMembership } from './manual-membership.js';
import type { Member, MembershipSource } from './membership-source.js';
import { ProbedMembership, type LivenessChange } from './probed-membership.js';
import type { ProbeResult } from './readiness-probe.js';

const edge = (id: string): Member => ({ id, url: `http://${id}:8081` });
const ids = (members: readonly Member[] | undefined): string[] =>
  (members ?? []).map((member) => member.id);

/** Members that answer, a clock, and the probes asked, all by hand. */
class Fixture {
  now = 0;
  readonly answering = new Set<string>();
  readonly probed: string[] = [];
  readonly changes: LivenessChange[] = [];
  readonly counts: [number, number][] = [];
  readonly reports: (readonly Member[])[] = [];
  selfReady = true;

  probe = (url: string): Promise<ProbeResult> => {
    this.probed.push(url);
    const ok = [...this.answering].some((id) => edge(id).url === url);
    return Promise.resolve({ ok, detail: ok ? 'HTTP 200' : 'ECONNREFUSED' });
  };

  membership(inner: MembershipSource, settleMs: number): ProbedMembership {
    return new ProbedMembership(inner, {
      selfId: 'self',
      selfReady: () => this.selfReady,
      intervalMs: 3_600_000,
      timeoutMs: 100,
      settleMs,
      probe: this.probe,
      now: () => this.now,
      observer: {
        onChange: (change) => this.changes.push(change),
        onCounts: (live, dead) => this.counts.push([live, dead]),
      },
    });
  }

  readonly listener = (members: readonly Member[]): void => {
    this.reports.push(members);
  };
}

/** Runs one probe round at `now` (the interval timer is out of the way). */
async function round(fixture: Fixture, membership: ProbedMembership, now: number): Promise<void> {
  fixture.now = now;
  await membership.probeNow();
}

describe('readiness-probed membership', () => {
  it('reports at start only the members that answer, never probing itself', async () => {
    const fixture = new Fixture();
    fixture.answering.add('a');
    const membership = fixture.membership(
      new ManualMembership([edge('a'), edge('b'), edge('self')]),
      1000,
    );
    assert.deepEqual(ids(await membership.start(fixture.listener)), ['a', 'self']);
    assert.deepEqual(fixture.reports.map(ids), [['a', 'self']]);
    assert.deepEqual(fixture.probed.sort(), [edge('a').url, edge('b').url]);
    assert.deepEqual(fixture.counts.at(-1), [2, 1]);
    assert.deepEqual(
      fixture.changes.map((change) => [change.member.id, change.live]),
      [['b', false]],
    );
    await membership.close();
  });

  it('drops a member only after settleMs of failures and re-admits it after settleMs of answers', async () => {
    const fixture = new Fixture();
    fixture.answering.add('a').add('b');
    const membership = fixture.membership(new ManualMembership([edge('a'), edge('b')]), 1000);
    await membership.start(fixture.listener);

    // b fails, answers once before 1 s is up (no drop), then fails for good.
    fixture.answering.delete('b');
    await round(fixture, membership, 100);
    await round(fixture, membership, 900);
    fixture.answering.add('b');
    await round(fixture, membership, 1000);
    fixture.answering.delete('b');
    await round(fixture, membership, 1100);
    await round(fixture, membership, 2000);
    assert.deepEqual(fixture.reports.map(ids), [['a', 'b']], 'a blip is not a death');
    await round(fixture, membership, 2100);
    assert.deepEqual(ids(fixture.reports.at(-1)), ['a']);
    assert.deepEqual(fixture.counts.at(-1), [1, 1]);
    assert.equal(fixture.changes.at(-1)?.live, false);
    assert.equal(fixture.changes.at(-1)?.afterMs, 1000);

    // b answers, fails once before 1 s is up (not back), then answers for 1 s.
    fixture.answering.add('b');
    await round(fixture, membership, 3000);
    fixture.answering.delete('b');
    await round(fixture, membership, 3500);
    fixture.answering.add('b');
    await round(fixture, membership, 3600);
    await round(fixture, membership, 4500);
    assert.deepEqual(ids(fixture.reports.at(-1)), ['a']);
    await round(fixture, membership, 4600);
    assert.deepEqual(ids(fixture.reports.at(-1)), ['a', 'b']);
    assert.equal(fixture.changes.at(-1)?.live, true);
    assert.deepEqual(fixture.counts.at(-1), [2, 0]);
    assert.equal(fixture.reports.length, 3);
    await membership.close();
  });

  it('never moves a member whose readiness flaps faster than settleMs', async () => {
    const fixture = new Fixture();
    fixture.answering.add('a').add('flappy');
    const membership = fixture.membership(new ManualMembership([edge('a'), edge('flappy')]), 1000);
    await membership.start(fixture.listener);
    for (let step = 1; step <= 40; step++) {
      if (step % 2 === 0) fixture.answering.add('flappy');
      else fixture.answering.delete('flappy');
      await round(fixture, membership, step * 600);
    }
    assert.deepEqual(fixture.reports.map(ids), [['a', 'flappy']]);
    await membership.close();
  });

  it('follows its own readiness without the network', async () => {
    const fixture = new Fixture();
    const membership = fixture.membership(new ManualMembership([edge('self')]), 0);
    await membership.start(fixture.listener);
    fixture.selfReady = false;
    await round(fixture, membership, 10);
    fixture.selfReady = true;
    await round(fixture, membership, 20);
    assert.deepEqual(fixture.reports.map(ids), [['self'], [], ['self']]);
    assert.deepEqual(fixture.probed, []);
    await membership.close();
  });

  it('probes a newly listed member at once and forgets an unlisted one', async () => {
    const fixture = new Fixture();
    fixture.answering.add('a').add('c');
    const inner = new ManualMembership([edge('a'), edge('b')]);
    const membership = fixture.membership(inner, 1000);
    await membership.start(fixture.listener);
    inner.set([edge('a'), edge('b'), edge('c'), edge('d')]);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(ids(fixture.reports.at(-1)), ['a', 'c']);
    assert.deepEqual(fixture.counts.at(-1), [2, 2]);
    inner.set([edge('a'), edge('c')]);
    assert.deepEqual(fixture.counts.at(-1), [2, 0]);
    assert.deepEqual(
      membership.liveness,
      new Map([
        ['a', true],
        ['c', true],
      ]),
    );
    await membership.close();
    inner.set([edge('a')]);
    assert.deepEqual(ids(fixture.reports.at(-1)), ['a', 'c'], 'nothing after close');
  });
});
