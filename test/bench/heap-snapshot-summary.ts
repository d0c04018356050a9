/**
 * What a V8 heap snapshot (`.heapsnapshot` JSON, as the inspector's
 * `HeapProfiler.takeHeapSnapshot` streams it) holds, grouped the way a
 * reader asks "what does a connection cost": live objects and their own
 * (shallow) size per constructor, and the difference between two snapshots
 * of one process divided by the connections opened between them. Pure
 * functions, unit-tested.
 */

/** The parts of a heap snapshot's JSON this module reads. */
export interface HeapSnapshotJson {
  readonly snapshot: {
    readonly meta: {
      readonly node_fields: readonly string[];
      readonly node_types: readonly unknown[];
    };
  };
  readonly nodes: readonly number[];
  readonly strings: readonly string[];
}

export interface ObjectGroup {
  readonly count: number;
  readonly selfBytes: number;
}

/** Live objects per group (constructor name, or `(kind) name` for V8's internal ones). */
export type HeapSummary = ReadonlyMap<string, ObjectGroup>;

/** Longest group name kept (strings are grouped as one, but other names may be long source text). */
const maxName = 60;

/** The group a node belongs to: what DevTools calls its constructor, kept finer for V8 internals. */
export function groupOf(type: string, name: string): string | undefined {
  switch (type) {
    case 'object':
    case 'native':
      return name.slice(0, maxName);
    case 'string':
    case 'concatenated string':
    case 'sliced string':
      return '(string)';
    case 'number':
    case 'bigint':
    case 'regexp':
      return `(${type})`;
    case 'code':
      return '(compiled code)';
    case 'synthetic':
      return undefined;
    default:
      // closure, array, hidden, object shape, symbol: their names tell what they are.
      return `(${type}) ${name.slice(0, maxName)}`.trimEnd();
  }
}

/** Live objects and their own sizes per group. */
export function summarizeHeapSnapshot(json: HeapSnapshotJson): HeapSummary {
  const fields = json.snapshot.meta.node_fields;
  const typeNames = json.snapshot.meta.node_types[0];
  if (!Array.isArray(typeNames)) throw new Error('heap snapshot: node_types[0] is not a list');
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  if (typeAt < 0 || nameAt < 0 || sizeAt < 0) {
    throw new Error(`heap snapshot: node fields ${fields.join(', ')} lack type, name or self_size`);
  }
  const groups = new Map<string, { count: number; selfBytes: number }>();
  for (let at = 0; at + width <= json.nodes.length; at += width) {
    const type = String(typeNames[json.nodes[at + typeAt] ?? -1] ?? 'unknown');
    const group = groupOf(type, json.strings[json.nodes[at + nameAt] ?? -1] ?? '');
    if (group === undefined) continue;
    const entry = groups.get(group) ?? { count: 0, selfBytes: 0 };
    entry.count++;
    entry.selfBytes += json.nodes[at + sizeAt] ?? 0;
    groups.set(group, entry);
  }
  return groups;
}

export interface GroupPerConnection {
  readonly group: string;
  /** Objects more per connection (negative: fewer). */
  readonly count: number;
  readonly selfBytes: number;
}

/**
 * What each group grew by between `before` and `after`, divided by the
 * `connections` opened in between, largest growth in bytes first; groups
 * that changed by less than `minCount` objects in all are left out.
 */
export function perConnection(
  before: HeapSummary,
  after: HeapSummary,
  connections: number,
  minCount = connections / 2,
): GroupPerConnection[] {
  const names = new Set([...before.keys(), ...after.keys()]);
  const rows: GroupPerConnection[] = [];
  for (const group of names) {
    const a = before.get(group) ?? { count: 0, selfBytes: 0 };
    const b = after.get(group) ?? { count: 0, selfBytes: 0 };
    if (Math.abs(b.count - a.count) < minCount) continue;
    rows.push({
      group,
      count: (b.count - a.count) / connections,
      selfBytes: (b.selfBytes - a.selfBytes) / connections,
    });
  }
  return rows.sort((x, y) => y.selfBytes - x.selfBytes || x.group.localeCompare(y.group));
}

/** All the groups' sizes added up. */
export function totalSelfBytes(summary: HeapSummary): number {
  let total = 0;
  for (const group of summary.values()) total += group.selfBytes;
  return total;
}
