import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { ManualMembership } from './manual-membership.js';
import type { Member } from './membership-source.js';
import { SettledMembership } from './settled-membership.js';

const edge = (id: string): Member => ({ id, url: `http://${id}:8081` });
const ids = (members: readonly Member[] | undefined): string[] =>
  (members ?? []).map((member) => member.id);

describe('settle-time smoothing', () => {
  it('lets a member join or leave only after settleMs without interruption', async () => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'] });
    try {
      const inner = new ManualMembership([edge('a'), edge('b')]);
      const settled = new SettledMembership(inner, { settleMs: 1000 });
      const reports: (readonly Member[])[] = [];
      assert.deepEqual(ids(await settled.start((list) => reports.push(list))), ['a', 'b']);

      // c appears, flaps away before 1 s, comes back: it joins 1 s after coming back.
      inner.set([edge('a'), edge('b'), edge('c')]);
      mock.timers.tick(600);
      inner.set([edge('a'), edge('b')]);
      mock.timers.tick(600);
      inner.set([edge('a'), edge('b'), edge('c')]);
      mock.timers.tick(999);
      assert.equal(reports.length, 1, 'not yet');
      mock.timers.tick(1);
      assert.deepEqual(ids(reports.at(-1)), ['a', 'b', 'c']);

      // b goes missing briefly: it stays.
      inner.set([edge('a'), edge('c')]);
      mock.timers.tick(900);
      inner.set([edge('a'), edge('b'), edge('c')]);
      mock.timers.tick(5000);
      assert.equal(reports.length, 2);

      // b goes missing for good: it leaves after 1 s.
      inner.set([edge('a'), edge('c')]);
      mock.timers.tick(1000);
      assert.deepEqual(ids(reports.at(-1)), ['a', 'c']);
      assert.equal(reports.length, 3);

      // A new URL for a known member is taken at once.
      inner.set([edge('a'), { id: 'c', url: 'http://elsewhere:8081' }]);
      assert.equal(reports.at(-1)?.[1]?.url, 'http://elsewhere:8081');
      await settled.close();
    } finally {
      mock.timers.reset();
    }
  });

  it('never reports a pod whose readiness flaps faster than settleMs', async () => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'] });
    try {
      const inner = new ManualMembership([edge('a')]);
      const settled = new SettledMembership(inner, { settleMs: 3000 });
      const reports: (readonly Member[])[] = [];
      await settled.start((list) => reports.push(list));
      for (let flap = 0; flap < 20; flap++) {
        inner.set(flap % 2 === 0 ? [edge('a'), edge('flappy')] : [edge('a')]);
        mock.timers.tick(1000);
      }
      assert.deepEqual(reports.map(ids), [['a']]);
      await settled.close();
    } finally {
      mock.timers.reset();
    }
  });
});
