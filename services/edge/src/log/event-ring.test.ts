import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeEvent } from '@fanout/shared';
import { EdgeEvent } from './edge-event.js';
import { EventRing } from './event-ring.js';

const value = Buffer.from(encodeEvent({ id: 'e', channel: 'ring.a', type: 't', producer: 'p' }));

/** Events at these offsets (only the offset matters to the ring). */
function at(...offsets: number[]): EdgeEvent[] {
  return offsets.map(
    (offset) =>
      new EdgeEvent('ww7w7_gUT7WHdd738IhAfQ', 0, { offset, timestamp: 0, value, headers: [] }),
  );
}

function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from) }, (_, index) => from + index);
}

function offsetsOf(ring: EventRing, after = -1): number[] {
  return ring.after(after).map((event) => event.offset);
}

describe('the event ring', () => {
  it('takes older events in front when they reach what it holds', () => {
    const ring = new EventRing(100);
    ring.append(50, at(...range(50, 60)));
    assert.equal(ring.prepend(40, 49, at(...range(40, 50)), 60), 10);
    assert.equal(ring.coveredFrom, 40);
    assert.deepEqual(offsetsOf(ring), range(40, 60));
    assert.deepEqual(offsetsOf(ring, 44), range(45, 60));
    // Overlapping reads add only what is below; appends go on after them.
    assert.equal(ring.prepend(30, 55, at(...range(30, 56)), 60), 10);
    ring.append(60, at(60, 61));
    assert.deepEqual(offsetsOf(ring), range(30, 62));
    assert.ok(ring.covers(30) && !ring.covers(29));
  });

  it('takes nothing across a hole, nor older events than it starts at when reaching nothing', () => {
    const ring = new EventRing(100);
    ring.append(50, at(...range(50, 60)));
    assert.equal(ring.prepend(30, 48, at(...range(30, 49)), 60), 0, 'offset 49 is missing');
    assert.equal(ring.prepend(50, 55, at(...range(50, 56)), 60), 0, 'nothing older');
    assert.equal(ring.coveredFrom, 50);
    assert.deepEqual(offsetsOf(ring), range(50, 60));
  });

  it('fills only its free slots, newest first, never dropping what it holds', () => {
    const ring = new EventRing(10);
    ring.append(50, at(...range(50, 56)));
    assert.equal(ring.prepend(40, 49, at(...range(40, 50)), 56), 4);
    assert.equal(ring.coveredFrom, 46, 'covered from the oldest event taken');
    assert.deepEqual(offsetsOf(ring), range(46, 56));
    assert.ok(!ring.covers(45));
    ring.append(56, at(56));
    assert.deepEqual(offsetsOf(ring), range(47, 57), 'a full ring drops its oldest as before');
    assert.equal(ring.coveredFrom, 47);
  });

  it('an empty ring takes a read that reaches the read head, and covers from where it began', () => {
    const ring = new EventRing(10);
    assert.equal(ring.prepend(20, 28, at(20, 22, 24, 26, 28), 30), 0, 'short of head 30');
    // Offsets 21, 23, … were not events (undecodable, compacted): covered all the same.
    assert.equal(ring.prepend(20, 29, at(20, 22, 24, 26, 28), 30), 5);
    assert.equal(ring.coveredFrom, 20);
    assert.ok(ring.covers(21));
    ring.append(30, at(30, 31));
    assert.deepEqual(offsetsOf(ring, 21), [22, 24, 26, 28, 30, 31]);
  });

  it('a ring of no capacity takes nothing', () => {
    const ring = new EventRing(0);
    assert.equal(ring.prepend(0, 9, at(...range(0, 10)), 10), 0);
    assert.equal(ring.size, 0);
  });

  it("visits one channel's events as a scan of every event would, through drops, prepends and clears", () => {
    const channels = ['ring.a', 'ring.b', 'ring.c', 'ring.d'];
    const values = channels.map((channel) =>
      Buffer.from(encodeEvent({ id: 'e', channel, type: 't', producer: 'p' })),
    );
    // A small linear congruential generator: the same sequence every run.
    let seed = 7;
    const random = (below: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return Math.floor((seed / 2147483648) * below);
    };
    const event = (offset: number): EdgeEvent =>
      new EdgeEvent('ww7w7_gUT7WHdd738IhAfQ', 0, {
        offset,
        timestamp: 0,
        value: values[random(channels.length)] ?? value,
        headers: [],
      });
    const ring = new EventRing(120);
    let head = 1000;
    let prepended = 0;
    let checks = 0;
    for (let step = 0; step < 400; step++) {
      const action = random(12);
      if (action === 0) {
        ring.clear();
      } else if (action < 4 && ring.size > 0) {
        // Older events in front (a cold read that reaches what the ring holds).
        const reach = ring.coveredFrom;
        const from = Math.max(0, reach - 1 - random(30));
        prepended += ring.prepend(from, reach - 1, range(from, reach).map(event), head);
      } else {
        // Newer events; some offsets are skipped (records that could not be decoded).
        const count = 1 + random(20);
        const offsets = range(head, head + count).filter(() => random(5) > 0);
        ring.append(head, offsets.map(event));
        head += count;
      }
      for (const channel of channels) {
        // From before everything too: a dropped event is not kept in the index.
        const after = random(4) === 0 ? -1 : ring.coveredFrom - 1 + random(Math.max(1, ring.size));
        const scanned: number[] = [];
        ring.forEachAfter(after, (each) => {
          if (each.channel === channel) scanned.push(each.offset);
          return false;
        });
        const indexed: number[] = [];
        ring.forEachOfChannelAfter(channel, after, (each) => {
          assert.equal(each.channel, channel);
          indexed.push(each.offset);
          return false;
        });
        assert.deepEqual(indexed, scanned, `step ${step}, ${channel} after ${after}`);
        checks += scanned.length;
      }
    }
    assert.ok(checks > 1000, `the events compared (${checks}) are not too few to mean something`);
    assert.ok(prepended > 100, `the events prepended (${prepended}) are not too few`);
    // A visit that answers true stops there.
    const first: number[] = [];
    assert.equal(
      ring.forEachOfChannelAfter('ring.a', -1, (each) => {
        first.push(each.offset);
        return true;
      }),
      ring.size > 0 && ring.after(-1).some((each) => each.channel === 'ring.a'),
    );
    assert.ok(first.length <= 1);
    assert.equal(
      ring.forEachOfChannelAfter('ring.none', -1, () => true),
      false,
    );
  });
});
