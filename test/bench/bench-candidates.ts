/**
 * Libraries measured by a benchmark without being dependencies of the
 * project: resolved from `FANOUT_BENCH_JSON_PATCH_DIR` (a scratch directory
 * where they were installed) or else from the project, ES module or
 * CommonJS alike. A candidate that cannot be loaded is skipped with a line.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** The scratch directory of the candidates, when given. */
export const candidatesDir = process.env['FANOUT_BENCH_JSON_PATCH_DIR'];

/** `require` resolving from the candidates' directory. */
export const candidateRequire = createRequire(
  candidatesDir === undefined ? import.meta.url : join(candidatesDir, 'package.json'),
);

/** A candidate's module, its default export's members merged in (CommonJS). */
export async function loadCandidate(specifier: string): Promise<Record<string, unknown>> {
  const resolved = candidateRequire.resolve(specifier);
  const module = (await import(pathToFileURL(resolved).href)) as Record<string, unknown>;
  const defaults = module['default'];
  return typeof defaults === 'object' && defaults !== null
    ? { ...(defaults as Record<string, unknown>), ...module }
    : module;
}

export type CandidateFunction = (...args: unknown[]) => unknown;

/** The function `name` of a loaded module, or an error naming it. */
export function candidateFunction(
  module: Record<string, unknown>,
  name: string,
): CandidateFunction {
  const value = module[name];
  if (typeof value !== 'function') throw new Error(`no function ${name}`);
  return value as CandidateFunction;
}

/** Every candidate that loads, in order; the others are listed as skipped. */
export async function loadAvailable<T>(loaders: Record<string, () => Promise<T>>): Promise<T[]> {
  const loaded: T[] = [];
  for (const [name, loader] of Object.entries(loaders)) {
    try {
      loaded.push(await loader());
    } catch (error) {
      console.log(`skipped ${name}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return loaded;
}
