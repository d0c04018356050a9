/**
 * Heap snapshot groups, and what a connection adds between two snapshots.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  groupOf,
  perConnection,
  summarizeHeapSnapshot,
  totalSelfBytes,
  type HeapSnapshotJson,
} from './heap-snapshot-summary.js';

const types = [
  'hidden',
  'array',
  'string',
  'object',
  'code',
  'closure',
  'regexp',
  'number',
  'native',
  'synthetic',
  'concatenated string',
  'sliced string',
  'symbol',
  'bigint',
  'object shape',
];

/** A snapshot in V8's layout: nodes as [type, name, id, self_size, edge_count, trace_node_id, detachedness]. */
function snapshot(nodes: readonly [type: string, name: string, size: number][]): HeapSnapshotJson {
  const strings: string[] = [];
  const flat: number[] = [];
  nodes.forEach(([type, name, size], i) => {
    let at = strings.indexOf(name);
    if (at < 0) at = strings.push(name) - 1;
    flat.push(types.indexOf(type), at, i * 2 + 1, size, 0, 0, 0);
  });
  return {
    snapshot: {
      meta: {
        node_fields: [
          'type',
          'name',
          'id',
          'self_size',
          'edge_count',
          'trace_node_id',
          'detachedness',
        ],
        node_types: [types, 'string', 'number', 'number', 'number', 'number', 'number'],
      },
    },
    nodes: flat,
    strings,
  };
}

describe('heap snapshot summary', () => {
  it('groups objects by constructor, strings together, V8 internals by kind and name', () => {
    assert.equal(groupOf('object', 'WsConnection'), 'WsConnection');
    assert.equal(groupOf('native', 'uWS.WebSocket'), 'uWS.WebSocket');
    assert.equal(groupOf('string', 'hello'), '(string)');
    assert.equal(groupOf('concatenated string', 'a'), '(string)');
    assert.equal(groupOf('closure', 'subscribe'), '(closure) subscribe');
    assert.equal(groupOf('closure', ''), '(closure)');
    assert.equal(groupOf('code', 'x'), '(compiled code)');
    assert.equal(groupOf('synthetic', '(GC roots)'), undefined);
  });

  it('counts objects and adds up their own sizes per group', () => {
    const summary = summarizeHeapSnapshot(
      snapshot([
        ['synthetic', '', 0],
        ['object', 'Map', 32],
        ['object', 'Map', 32],
        ['string', 'a', 16],
        ['string', 'bb', 24],
        ['array', '', 100],
      ]),
    );
    assert.deepEqual(summary.get('Map'), { count: 2, selfBytes: 64 });
    assert.deepEqual(summary.get('(string)'), { count: 2, selfBytes: 40 });
    assert.deepEqual(summary.get('(array)'), { count: 1, selfBytes: 100 });
    assert.equal(summary.size, 3, 'synthetic roots are no group');
    assert.equal(totalSelfBytes(summary), 204);
  });

  it('rejects a snapshot without the fields it reads', () => {
    const broken = snapshot([['object', 'Map', 32]]);
    assert.throws(() =>
      summarizeHeapSnapshot({
        ...broken,
        snapshot: { meta: { ...broken.snapshot.meta, node_fields: ['type', 'name'] } },
      }),
    );
  });

  it('divides the growth per group by the connections, largest first, small changes left out', () => {
    const before = summarizeHeapSnapshot(
      snapshot([
        ['object', 'Map', 32],
        ['object', 'Session', 88],
        ['object', 'Buffer', 80],
      ]),
    );
    const after = summarizeHeapSnapshot(
      snapshot([
        ['object', 'Map', 32],
        ...Array.from({ length: 4 }, (): [string, string, number] => ['object', 'Map', 32]),
        ...Array.from({ length: 4 }, (): [string, string, number] => ['object', 'Session', 88]),
        ['object', 'Session', 88],
        ['object', 'Timer', 40],
      ]),
    );
    const rows = perConnection(before, after, 4, 2);
    assert.deepEqual(rows, [
      { group: 'Session', count: 1, selfBytes: 88 },
      { group: 'Map', count: 1, selfBytes: 32 },
    ]);
    const all = perConnection(before, after, 4, 1);
    assert.deepEqual(
      all.map((row) => row.group),
      ['Session', 'Map', 'Timer', 'Buffer'],
      'with a lower bound, one-off objects appear, and what went away (negative) last',
    );
    assert.equal(all.at(-1)?.selfBytes, -20);
  });
});
