/**
 * The edge memory benchmark's figures: per connection, median and spread,
 * the change between builds, and the tables.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  change,
  figuresTable,
  perConnection,
  snapshotTable,
  spreadOf,
  type BuildMemory,
  type MemoryRound,
} from './edge-memory-report.js';

const figures = (heap: number, external = 0, rss = 0) => ({
  heapBytes: heap,
  externalBytes: external,
  arrayBufferBytes: 0,
  rssBytes: rss,
});

function round(idleHeap: number, subscribedHeap: number): MemoryRound {
  return {
    connections: 1000,
    base: figures(10_000_000, 1_000_000, 50_000_000),
    idle: figures(10_000_000 + idleHeap * 1000, 1_002_000, 52_000_000),
    subscribed: figures(10_000_000 + subscribedHeap * 1000, 1_004_000, 54_000_000),
  };
}

describe('edge memory figures', () => {
  it('divides the growth over the base reading by the connections', () => {
    assert.deepEqual(perConnection(round(900, 2000).base, round(900, 2000).idle, 1000), {
      heapBytes: 900,
      externalBytes: 2,
      totalBytes: 902,
      rssBytes: 2000,
    });
  });

  it('takes the median (the middle two averaged for an even count), least and greatest', () => {
    assert.deepEqual(spreadOf([3, 1, 2]), { median: 2, min: 1, max: 3 });
    assert.deepEqual(spreadOf([4, 1, 3, 2]), { median: 2.5, min: 1, max: 4 });
    assert.ok(Number.isNaN(spreadOf([]).median));
  });

  it('states the change of the last build over the first in per cent', () => {
    assert.equal(change(2000, 2100), '+5.0 %');
    assert.equal(change(1200, 900), '−25.0 %');
    assert.equal(change(0, 10), '–');
  });

  it('puts the builds side by side with medians, spreads and the change', () => {
    const builds: BuildMemory[] = [
      { label: 'before', rounds: [round(1200, 2100), round(1180, 2090), round(1250, 2150)] },
      { label: 'after', rounds: [round(900, 2000), round(880, 1990)] },
    ];
    const lines = figuresTable(builds);
    assert.match(lines[0] ?? '', /before \(3 rounds\) \| after \(2 rounds\) \| change/);
    const heap = lines.find((line) => line.startsWith('| idle: JS heap'));
    assert.equal(heap, '| idle: JS heap | 1200 (1180–1250) | 890 (880–900) | −25.8 % |');
    const subscribed = lines.find((line) => line.startsWith('| one subscription: heap + external'));
    assert.equal(
      subscribed,
      '| one subscription: heap + external | 2104 (2094–2154) | 1999 (1994–2004) | −5.0 % |',
    );
  });

  it('lists the snapshot groups of every build, largest first', () => {
    const builds: BuildMemory[] = [
      {
        label: 'before',
        rounds: [],
        snapshot: {
          idle: [
            { group: 'SubscribeBudget', count: 1, selfBytes: 64 },
            { group: 'WsConnection', count: 1, selfBytes: 184 },
          ],
          subscribed: [],
        },
      },
      {
        label: 'after',
        rounds: [],
        snapshot: {
          idle: [
            { group: 'WsConnection', count: 1, selfBytes: 176 },
            { group: 'SubscriptionSession', count: 1, selfBytes: 88 },
          ],
          subscribed: [],
        },
      },
    ];
    assert.deepEqual(snapshotTable(builds, 'idle', 2), [
      '| object group (constructor) | before: objects / bytes | after: objects / bytes |',
      '| --- | ---: | ---: |',
      '| WsConnection | 1.00 / 184 | 1.00 / 176 |',
      '| SubscriptionSession | – | 1.00 / 88 |',
    ]);
  });
});
