/**
 * The FANOUT_* variables the repository's own tooling reads — `npm start`,
 * the local broker, the test support, benchmarks, k6 scripts and their job —
 * found in its sources: `process.env['FANOUT_…']`, `env('FANOUT_…')`,
 * `__ENV['FANOUT_…']`, `portFromEnv('FANOUT_…')`, `toolingEnv('FANOUT_…')`
 * and `name: FANOUT_…` in YAML. Each is either a setting the tool passes on
 * to a service, or must be one the services' configuration loader ignores.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { repoRoot } from './repo-paths.js';

const roots = ['deploy', 'test', '.ci'];
const skippedDirectories = new Set(['dist', 'node_modules', 'generated']);
const sourceFile = /\.(?:ts|mjs|js|sh|ya?ml)$|^run$/;
const read =
  /(?:process\.env\[['"]|process\.env\.|\benv\[['"]|\benv(?:Number)?\(['"]|__ENV\[['"]|toolingEnv\(['"]|portFromEnv\(['"]|^\s*-?\s*name:\s*)(FANOUT_[A-Z0-9_]*[A-Z0-9])/gm;

function* files(dir: string): Generator<string> {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries) {
    if (entry.isDirectory()) {
      if (!skippedDirectories.has(entry.name)) yield* files(join(dir, entry.name));
    } else if (sourceFile.test(entry.name)) {
      yield join(dir, entry.name);
    }
  }
}

/** Every FANOUT_* variable read by the tooling, with the files that read it. */
export function toolingEnvReads(): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const root of roots) {
    for (const file of files(join(repoRoot, root))) {
      for (const match of readFileSync(file, 'utf8').matchAll(read)) {
        const name = match[1];
        if (name === undefined) continue;
        const where = found.get(name) ?? [];
        const path = relative(repoRoot, file);
        if (!where.includes(path)) where.push(path);
        found.set(name, where);
      }
    }
  }
  return found;
}
