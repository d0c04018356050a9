/**
 * Which JSON Patch (RFC 6902) library state channels use: each candidate's
 * diff and apply on ~20 KB documents (patch bytes against the full document,
 * diff and apply operations per second), its apply on the community suite
 * json-patch-tests (tests.json and spec_tests.json), and a fast-check
 * property over arbitrary JSON values: apply(a, diff(a, b)) deep-equals b.
 * The results are recorded in docs/decisions/041-json-patch-library.md.
 *
 * Only the chosen library is a dependency of the repository; the others are
 * installed beside it for a run:
 *
 *   mkdir -p /tmp/json-patch-candidates && cd /tmp/json-patch-candidates && npm init -y &&
 *     npm install fast-json-patch@3.1.2 rfc6902@5.4.0 json-joy@17.67.0 immutable-json-patch@6.0.3
 *   tsc -b && FANOUT_BENCH_JSON_PATCH_DIR=/tmp/json-patch-candidates \
 *     node test/dist/bench/json-patch-libraries.bench.js
 *
 * A candidate that cannot be loaded is listed as skipped. CPU-only, no network.
 */
import { isDeepStrictEqual } from 'node:util';
import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import { join, sep } from 'node:path';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import fc from 'fast-check';
import {
  candidateFunction,
  candidatesDir,
  candidateRequire,
  loadAvailable,
  loadCandidate,
} from './bench-candidates.js';
import { machineSummary } from './process-stats.js';
import { workloadSteps, type Json } from './json-patch-workload.js';

/** An RFC 6902 operation as the libraries take and produce it. */
interface Operation {
  readonly op: string;
  readonly path: string;
  readonly from?: string;
  readonly value?: unknown;
}

/** One library behind the same two functions: apply leaves its input alone and throws on a patch that does not apply. */
interface Candidate {
  readonly name: string;
  readonly version: string;
  readonly apply: (document: Json, ops: readonly Operation[]) => Json;
  readonly diff: ((previous: Json, next: Json) => Operation[]) | undefined;
  /** ES module source that imports what a browser client needs: apply only, and apply with diff. */
  readonly bundle: { readonly apply: string; readonly diff: string | undefined };
}

const seconds = Number(process.env['FANOUT_BENCH_SECONDS'] ?? 1);
const propertyRuns = Number(process.env['FANOUT_BENCH_PROPERTY_RUNS'] ?? 2000);

/** The directory of an installed package (its exports may hide package.json). */
function packageDir(name: string): string {
  const entry = candidateRequire.resolve(name);
  const marker = `${sep}node_modules${sep}${name.split('/').join(sep)}${sep}`;
  return entry.slice(0, entry.lastIndexOf(marker) + marker.length);
}

function versionOf(name: string): string {
  const manifest = JSON.parse(readFileSync(join(packageDir(name), 'package.json'), 'utf8')) as {
    version?: string;
  };
  return manifest.version ?? '?';
}

const loaders: Record<string, () => Promise<Candidate>> = {
  'fast-json-patch': async () => {
    const lib = await loadCandidate('fast-json-patch');
    const applyPatch = candidateFunction(lib, 'applyPatch');
    const compare = candidateFunction(lib, 'compare');
    return {
      name: 'fast-json-patch',
      version: versionOf('fast-json-patch'),
      // validate = true, mutateDocument = false (it clones), banPrototypeModifications = true
      apply: (document, ops) =>
        (applyPatch(document, ops, true, false, true) as { newDocument: Json }).newDocument,
      diff: (previous, next) => compare(previous, next) as Operation[],
      bundle: {
        apply: `export { applyPatch } from 'fast-json-patch';`,
        diff: `export { applyPatch, compare } from 'fast-json-patch';`,
      },
    };
  },
  rfc6902: async () => {
    const lib = await loadCandidate('rfc6902');
    const applyPatch = candidateFunction(lib, 'applyPatch');
    const createPatch = candidateFunction(lib, 'createPatch');
    return {
      name: 'rfc6902',
      version: versionOf('rfc6902'),
      apply: (document, ops) => {
        // rfc6902 mutates in place and cannot replace the root of its argument:
        // the document is wrapped so that "" is a member.
        const box = { root: structuredClone(document) };
        const results = applyPatch(
          box,
          ops.map((op) => ({
            ...op,
            path: `/root${op.path}`,
            ...(op.from === undefined ? {} : { from: `/root${op.from}` }),
          })),
        ) as unknown[];
        const failure = results.find((result) => result !== null);
        if (failure !== undefined) throw failure instanceof Error ? failure : new Error('failed');
        return box.root;
      },
      diff: (previous, next) => createPatch(previous, next) as Operation[],
      bundle: {
        apply: `export { applyPatch } from 'rfc6902';`,
        diff: `export { applyPatch, createPatch } from 'rfc6902';`,
      },
    };
  },
  'json-joy': async () => {
    const patchLib = await loadCandidate('json-joy/lib/json-patch');
    const diffLib = await loadCandidate('json-joy/lib/json-patch-diff/JsonPatchDiff');
    const applyPatch = candidateFunction(patchLib, 'applyPatch');
    const validate = candidateFunction(patchLib, 'validateOperations');
    const JsonPatchDiff = diffLib['JsonPatchDiff'] as new () => {
      diff: (path: string, src: unknown, dst: unknown) => Operation[];
    };
    return {
      name: 'json-joy',
      version: versionOf('json-joy'),
      apply: (document, ops) => {
        // validateOperations refuses an empty patch, which RFC 6902 allows
        if (ops.length > 0) validate(ops);
        return (applyPatch(document, ops, { mutate: false }) as { doc: Json }).doc;
      },
      diff: (previous, next) => new JsonPatchDiff().diff('', previous, next),
      bundle: {
        apply: `export { applyPatch, validateOperations } from 'json-joy/lib/json-patch';`,
        diff: `export { applyPatch, validateOperations } from 'json-joy/lib/json-patch';
          export { JsonPatchDiff } from 'json-joy/lib/json-patch-diff/JsonPatchDiff';`,
      },
    };
  },
  'immutable-json-patch': async () => {
    const lib = await loadCandidate('immutable-json-patch');
    const immutableJSONPatch = candidateFunction(lib, 'immutableJSONPatch');
    return {
      name: 'immutable-json-patch',
      version: versionOf('immutable-json-patch'),
      apply: (document, ops) => immutableJSONPatch(document, ops) as Json,
      diff: undefined,
      bundle: {
        apply: `export { immutableJSONPatch } from 'immutable-json-patch';`,
        diff: undefined,
      },
    };
  },
};

/** Calls per second of `body`, run for about `seconds` after a warm-up. */
function rate(body: () => void): number {
  for (let i = 0; i < 50; i += 1) body();
  let calls = 0;
  const start = process.hrtime.bigint();
  const budget = BigInt(Math.round(seconds * 1e9));
  let elapsed = 0n;
  while (elapsed < budget) {
    for (let i = 0; i < 20; i += 1) body();
    calls += 20;
    elapsed = process.hrtime.bigint() - start;
  }
  return calls / (Number(elapsed) / 1e9);
}

interface SuiteCase {
  readonly comment?: string;
  readonly doc?: Json;
  readonly patch?: Operation[];
  readonly expected?: Json;
  readonly error?: string;
  readonly disabled?: boolean;
}

function suiteCases(): SuiteCase[] {
  const suite = createRequire(import.meta.url);
  const cases = [
    ...(suite('json-patch-test-suite/tests.json') as SuiteCase[]),
    ...(suite('json-patch-test-suite/spec_tests.json') as SuiteCase[]),
  ];
  return cases.filter((entry) => entry.doc !== undefined && entry.disabled !== true);
}

/** Suite cases the candidate gets wrong, by comment. */
function suiteFailures(candidate: Candidate, cases: readonly SuiteCase[]): string[] {
  const failures: string[] = [];
  for (const entry of cases) {
    const label = entry.comment ?? JSON.stringify(entry.patch);
    let result: Json | undefined;
    let threw = false;
    try {
      result = candidate.apply(entry.doc ?? null, entry.patch ?? []);
    } catch {
      threw = true;
    }
    if (entry.error !== undefined) {
      if (!threw) failures.push(`accepts: ${label}`);
    } else if (threw) {
      failures.push(`refuses: ${label}`);
    } else if (entry.expected !== undefined && !isDeepStrictEqual(result, entry.expected)) {
      failures.push(`wrong result: ${label}`);
    }
  }
  return failures;
}

/** The first counterexample of apply(a, diff(a, b)) = b, or undefined. */
function diffCounterexample(candidate: Candidate): string | undefined {
  const diff = candidate.diff;
  if (diff === undefined) return undefined;
  const json = fc.jsonValue({ maxDepth: 4 }) as fc.Arbitrary<Json>;
  const details = fc.check(
    fc.property(json, json, (previous, next) => {
      const normalized = (value: Json): Json => JSON.parse(JSON.stringify(value)) as Json;
      const a = normalized(previous);
      const b = normalized(next);
      return isDeepStrictEqual(candidate.apply(a, diff(a, b)), b);
    }),
    { numRuns: propertyRuns, seed: 20261202 },
  );
  if (!details.failed) return undefined;
  const error = details.errorInstance;
  return `${JSON.stringify(details.counterexample)}${error instanceof Error ? ` (${error.message})` : ''}`;
}

/** Minified and gzipped bytes of a browser bundle of `source`. */
async function bundleSize(source: string): Promise<string> {
  const result = await build({
    stdin: {
      contents: source,
      resolveDir: candidatesDir ?? process.cwd(),
      loader: 'js',
    },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    write: false,
    logLevel: 'silent',
  });
  const output = result.outputFiles[0];
  if (output === undefined) return 'no output';
  return `${output.contents.byteLength} B (${gzipSync(output.contents).byteLength} B gzip)`;
}

const bytes = (value: unknown): number => Buffer.byteLength(JSON.stringify(value));

const candidates = await loadAvailable(loaders);

console.log(
  `\nJSON Patch libraries — Node ${process.version}, ${cpus().length} cores, ${machineSummary()}`,
);
const steps = workloadSteps();
const cases = suiteCases();

console.log(
  '\n(a) patch size: bytes of JSON.stringify(diff(prev, next)), full next document in ()',
);
console.log(`| step | full | ${candidates.map((c) => `${c.name} ${c.version}`).join(' | ')} |`);
for (const step of steps) {
  const sizes = candidates.map((candidate) => {
    if (candidate.diff === undefined) return 'no diff';
    const ops = candidate.diff(step.previous, step.next);
    const ok = isDeepStrictEqual(candidate.apply(step.previous, ops), step.next);
    return `${bytes(ops)} B, ${ops.length} ops${ok ? '' : ' WRONG'}`;
  });
  console.log(`| ${step.name} | ${bytes(step.next)} B | ${sizes.join(' | ')} |`);
}

console.log(
  '\n(b) CPU: diff/s and apply/s (apply of the diff of the fastest-to-apply form: each library its own diff; fast-json-patch diff for apply-only libraries)',
);
const reference = candidates.find((candidate) => candidate.diff !== undefined);
console.log(
  `| step | ${candidates.map((c) => `${c.name} diff/s | ${c.name} apply/s`).join(' | ')} |`,
);
for (const step of steps) {
  const cells: string[] = [];
  for (const candidate of candidates) {
    const diff = candidate.diff ?? reference?.diff;
    if (diff === undefined) {
      cells.push('-', '-');
      continue;
    }
    const ops = diff(step.previous, step.next);
    const diffRate =
      candidate.diff === undefined
        ? undefined
        : rate(() => candidate.diff?.(step.previous, step.next));
    const applyRate = rate(() => candidate.apply(step.previous, ops));
    cells.push(diffRate === undefined ? '-' : Math.round(diffRate).toLocaleString('en'));
    cells.push(Math.round(applyRate).toLocaleString('en'));
  }
  console.log(`| ${step.name} | ${cells.join(' | ')} |`);
}

console.log(`\n(c) community suite json-patch-tests: ${cases.length} enabled cases`);
for (const candidate of candidates) {
  const failures = suiteFailures(candidate, cases);
  console.log(`- ${candidate.name}: ${cases.length - failures.length}/${cases.length} pass`);
  for (const failure of failures) console.log(`    ${failure}`);
}

console.log(`\n(d) diff correctness, fast-check ${propertyRuns} runs of apply(a, diff(a, b)) = b`);
for (const candidate of candidates) {
  if (candidate.diff === undefined) {
    console.log(`- ${candidate.name}: no diff`);
    continue;
  }
  let counterexample: string | undefined;
  try {
    counterexample = diffCounterexample(candidate);
  } catch (error) {
    counterexample = `threw ${String(error)}`;
  }
  console.log(
    `- ${candidate.name}: ${counterexample === undefined ? 'holds' : `fails on ${counterexample}`}`,
  );
}

console.log('\n(e) browser bundle (esbuild, minified, ES2022): apply only | apply and diff');
for (const candidate of candidates) {
  const apply = await bundleSize(candidate.bundle.apply);
  const diff = candidate.bundle.diff === undefined ? '-' : await bundleSize(candidate.bundle.diff);
  console.log(`- ${candidate.name}: ${apply} | ${diff}`);
}
