/**
 * The figures of the edge memory benchmark (`edge-memory.bench.ts`): heap
 * and external memory per connection from readings taken after full garbage
 * collections, their median and spread over rounds, builds side by side,
 * and the heap snapshot groups a connection adds. Pure functions,
 * unit-tested.
 */
import type { GroupPerConnection } from './heap-snapshot-summary.js';
import type { HeapFigures } from './process-heap.js';

/** One round on one edge process: readings before any measured connection, with them idle, and subscribed. */
export interface MemoryRound {
  readonly connections: number;
  readonly base: HeapFigures;
  readonly idle: HeapFigures;
  readonly subscribed: HeapFigures;
}

/** Bytes per connection of one state over the base reading. */
export interface PerConnection {
  readonly heapBytes: number;
  readonly externalBytes: number;
  /** Heap and external together: what JavaScript holds for a connection. */
  readonly totalBytes: number;
  readonly rssBytes: number;
}

export function perConnection(
  base: HeapFigures,
  later: HeapFigures,
  connections: number,
): PerConnection {
  const heapBytes = (later.heapBytes - base.heapBytes) / connections;
  const externalBytes = (later.externalBytes - base.externalBytes) / connections;
  return {
    heapBytes,
    externalBytes,
    totalBytes: heapBytes + externalBytes,
    rssBytes: (later.rssBytes - base.rssBytes) / connections,
  };
}

export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

/** Median (the mean of the middle two for an even count), least and greatest. */
export function spreadOf(values: readonly number[]): Spread {
  if (values.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN };
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const median =
    sorted.length % 2 === 1
      ? (sorted[middle] ?? Number.NaN)
      : ((sorted[middle - 1] ?? Number.NaN) + (sorted[middle] ?? Number.NaN)) / 2;
  return { median, min: sorted[0] ?? Number.NaN, max: sorted.at(-1) ?? Number.NaN };
}

/** One build's results: rounds, and the snapshot groups per connection when snapshots were taken. */
export interface BuildMemory {
  readonly label: string;
  readonly rounds: readonly MemoryRound[];
  readonly snapshot?: {
    readonly idle: readonly GroupPerConnection[];
    readonly subscribed: readonly GroupPerConnection[];
  };
}

type Figure = keyof PerConnection;
type State = 'idle' | 'subscribed';

/** The spread of one figure of one state over a build's rounds. */
export function figureSpread(build: BuildMemory, state: State, figure: Figure): Spread {
  return spreadOf(
    build.rounds.map((round) => perConnection(round.base, round[state], round.connections)[figure]),
  );
}

const bytes = (value: number): string => (Number.isFinite(value) ? value.toFixed(0) : '–');
const cell = (spread: Spread): string =>
  `${bytes(spread.median)} (${bytes(spread.min)}–${bytes(spread.max)})`;
/** The change of the last build's median over the first's, in per cent. */
export function change(first: number, last: number): string {
  if (!Number.isFinite(first) || !Number.isFinite(last) || first === 0) return '–';
  const percent = ((last - first) / Math.abs(first)) * 100;
  return `${percent >= 0 ? '+' : '−'}${Math.abs(percent).toFixed(1)} %`;
}

const rows: readonly { readonly state: State; readonly figure: Figure; readonly label: string }[] =
  [
    { state: 'idle', figure: 'heapBytes', label: 'idle: JS heap' },
    { state: 'idle', figure: 'externalBytes', label: 'idle: external (ArrayBuffers, native)' },
    { state: 'idle', figure: 'totalBytes', label: 'idle: heap + external' },
    { state: 'idle', figure: 'rssBytes', label: 'idle: RSS growth (for comparison)' },
    { state: 'subscribed', figure: 'heapBytes', label: 'one subscription: JS heap' },
    { state: 'subscribed', figure: 'externalBytes', label: 'one subscription: external' },
    { state: 'subscribed', figure: 'totalBytes', label: 'one subscription: heap + external' },
    { state: 'subscribed', figure: 'rssBytes', label: 'one subscription: RSS growth' },
  ];

/** Markdown: the per-connection figures of every build, medians with (min–max), in bytes. */
export function figuresTable(builds: readonly BuildMemory[]): string[] {
  const first = builds[0];
  const last = builds.at(-1);
  const compare = first !== undefined && last !== undefined && builds.length > 1;
  const lines = [
    `| bytes per connection, median (min–max) | ${builds.map((b) => `${b.label} (${b.rounds.length} rounds)`).join(' | ')} |${compare ? ' change |' : ''}`,
    `| --- | ${builds.map(() => '---:').join(' | ')} |${compare ? ' ---: |' : ''}`,
  ];
  for (const row of rows) {
    const spreads = builds.map((b) => figureSpread(b, row.state, row.figure));
    const changeCell = compare
      ? ` ${change(spreads[0]?.median ?? Number.NaN, spreads.at(-1)?.median ?? Number.NaN)} |`
      : '';
    lines.push(`| ${row.label} | ${spreads.map(cell).join(' | ')} |${changeCell}`);
  }
  return lines;
}

/**
 * Markdown: the heap snapshot groups a connection adds, builds side by side
 * (objects and bytes per connection), the `top` largest of any build.
 */
export function snapshotTable(builds: readonly BuildMemory[], state: State, top = 15): string[] {
  const shown = builds.filter((b) => b.snapshot !== undefined);
  const byGroup = new Map<string, Map<string, GroupPerConnection>>();
  for (const build of shown) {
    for (const row of build.snapshot?.[state] ?? []) {
      const entry = byGroup.get(row.group) ?? new Map<string, GroupPerConnection>();
      entry.set(build.label, row);
      byGroup.set(row.group, entry);
    }
  }
  const largest = (entry: Map<string, GroupPerConnection>): number =>
    Math.max(...[...entry.values()].map((row) => Math.abs(row.selfBytes)));
  const groups = [...byGroup.entries()]
    .sort((a, b) => largest(b[1]) - largest(a[1]) || a[0].localeCompare(b[0]))
    .slice(0, top);
  const escape = (text: string): string => text.replaceAll('|', '\\|').replaceAll('`', "'");
  const lines = [
    `| object group (constructor) | ${shown.map((b) => `${b.label}: objects / bytes`).join(' | ')} |`,
    `| --- | ${shown.map(() => '---:').join(' | ')} |`,
  ];
  for (const [group, entry] of groups) {
    lines.push(
      `| ${escape(group)} | ${shown
        .map((b) => {
          const row = entry.get(b.label);
          return row === undefined ? '–' : `${row.count.toFixed(2)} / ${bytes(row.selfBytes)}`;
        })
        .join(' | ')} |`,
    );
  }
  return lines;
}
