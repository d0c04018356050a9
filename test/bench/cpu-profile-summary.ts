/**
 * Where a V8 CPU profile (`node --cpu-prof`) spent its time: self time per
 * function and per module (package or source file), largest first, as
 * Markdown tables. For the profiles the benchmarks take of the edge and the
 * ingest (`FANOUT_BENCH_EDGE_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR"`).
 *
 *   node test/dist/bench/cpu-profile-summary.js DIR/CPU.*.cpuprofile [--top 25]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: {
    readonly functionName: string;
    readonly url: string;
    readonly lineNumber: number;
  };
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
  readonly startTime: number;
  readonly endTime: number;
}

/** `node_modules/<package>` or the repository-relative source file. */
function moduleOf(url: string): string {
  if (url === '') return '(native / V8)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1];
  if (pkg !== undefined) return pkg;
  if (url.startsWith('node:')) return 'node core';
  const own = /\/(services\/[^/]+\/(?:dist|src)\/.+)$/.exec(url)?.[1];
  return own ?? url.replace(/^file:\/\//, '');
}

export function summarize(profile: CpuProfile, top: number): string {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfMicros = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    selfMicros.set(id, (selfMicros.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const total = profile.endTime - profile.startTime;
  const byFunction = new Map<string, number>();
  const byModule = new Map<string, number>();
  for (const [id, micros] of selfMicros) {
    const frame = byId.get(id)?.callFrame;
    if (frame === undefined) continue;
    const name = `${frame.functionName || '(anonymous)'} ${moduleOf(frame.url)}${frame.url ? `:${frame.lineNumber + 1}` : ''}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + micros);
    const module = ['(idle)', '(garbage collector)', '(program)'].includes(frame.functionName)
      ? frame.functionName
      : moduleOf(frame.url);
    byModule.set(module, (byModule.get(module) ?? 0) + micros);
  }
  const table = (title: string, entries: Map<string, number>): string[] => [
    `| ${title} | self ms | share |`,
    '| --- | ---: | ---: |',
    ...[...entries.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(
        ([name, micros]) =>
          `| \`${name.replace(/\|/g, '\\|')}\` | ${(micros / 1000).toFixed(0)} | ${((micros / total) * 100).toFixed(1)} % |`,
      ),
  ];
  return [
    `Profile of ${(total / 1e6).toFixed(1)} s.`,
    '',
    ...table('module', byModule),
    '',
    ...table('function', byFunction),
  ].join('\n');
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string', default: '25' } },
});
for (const file of positionals) {
  console.log(`## ${file}\n`);
  console.log(summarize(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, Number(values.top)));
  console.log('');
}
