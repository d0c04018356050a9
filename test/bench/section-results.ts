/**
 * The end of a benchmark made of sections (`--sections`): prints the run's
 * header line and its markdown tables, and writes the figures as formatted
 * JSON, one entry per section with the run that measured it. Sections run
 * on their own keep the other sections' figures already in the file.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname } from 'node:path';
import * as prettier from 'prettier';
import { machineSummary } from './process-stats.js';

/** The 1, 5 and 15 minute load averages, two decimals. */
export const loadAverage = (): number[] => loadavg().map((value) => Number(value.toFixed(2)));

export async function writeSectionResults(options: {
  readonly out: string;
  readonly command: string;
  readonly startedAt: Date;
  /** Markdown, one entry per section that ran. */
  readonly tables: readonly string[];
  /** The figures of each section that ran, by section name. */
  readonly results: Readonly<Record<string, unknown>>;
}): Promise<void> {
  const { out, command, startedAt } = options;
  const machine = `${cpus().length} × ${machineSummary()}, Node ${process.versions.node}`;
  const header = `Command: \`${command}\` · ${startedAt.toISOString()} · ${machine} · load average at the end ${loadAverage().join(', ')}.`;
  console.log(`\n${header}\n\n${options.tables.join('\n')}`);
  let previous: Record<string, unknown> = {};
  if (existsSync(out)) previous = JSON.parse(readFileSync(out, 'utf8')) as Record<string, unknown>;
  const run = { command, date: startedAt.toISOString(), machine, loadAtEnd: loadAverage() };
  const sectionResults = Object.fromEntries(
    Object.entries(options.results).map(([name, figures]) => [name, { run, figures }]),
  );
  // Written as the repository's formatter would write it, so the file passes its check.
  mkdirSync(dirname(out), { recursive: true });
  const formatting = (await prettier.resolveConfig(out)) ?? {};
  writeFileSync(
    out,
    await prettier.format(JSON.stringify({ ...previous, ...sectionResults }, null, 2), {
      ...formatting,
      filepath: out,
    }),
  );
}
