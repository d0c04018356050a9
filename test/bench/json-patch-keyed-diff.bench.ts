/**
 * Which diff turns a state step of a document with arrays of objects into
 * the smallest correct RFC 6902 patch, cheaply enough for the edge's fold:
 * each candidate with the documents' identity key (`arrayKey`) and without,
 * on the keyed workload (`keyedWorkloadSteps`: a 100-order list keyed by
 * `/id`, an order book keyed by `/price`, a 50-quote ticker keyed by
 * `/symbol`). Per step: patch bytes and operations (and whether applying it
 * with fast-json-patch gives `next`), diffs per second; then a fast-check
 * property over random documents with keyed arrays (duplicate and missing
 * keys, non-object elements, nested arrays): every patch, applied with
 * fast-json-patch to `prev`, gives exactly `next`. The results are recorded
 * in docs/decisions/047-keyed-array-diff.md.
 *
 * The keyed pass of `@fanout/shared` (keyedJsonPatch) and fast-json-patch
 * are dependencies of the repository; the other candidates are installed
 * beside it for a run:
 *
 *   mkdir -p /tmp/keyed-diff-candidates && cd /tmp/keyed-diff-candidates && npm init -y &&
 *     npm install jsondiffpatch@0.7.7 jiff@0.7.3 rfc6902@5.4.0
 *   tsc -b && FANOUT_BENCH_JSON_PATCH_DIR=/tmp/keyed-diff-candidates \
 *     node test/dist/bench/json-patch-keyed-diff.bench.js
 *
 * A candidate that cannot be loaded is listed as skipped. CPU-only, no network.
 */
import { isDeepStrictEqual } from 'node:util';
import { cpus } from 'node:os';
import fc from 'fast-check';
import jsonPatch from 'fast-json-patch';
import { keyedJsonPatch, parseArrayKey } from '@fanout/shared';
import { candidateFunction, loadAvailable, loadCandidate } from './bench-candidates.js';
import { machineSummary } from './process-stats.js';
import { keyedWorkloadSteps, type Json } from './json-patch-workload.js';

interface Operation {
  readonly op: string;
  readonly path: string;
  readonly from?: string;
  readonly value?: unknown;
}

/** A diff, given the JSON Pointer of the identity member (or undefined: no key). */
type Diff = (previous: Json, next: Json, arrayKey: string | undefined) => Operation[];

interface Candidate {
  readonly name: string;
  readonly diff: Diff;
  /** Whether it can use the key at all. */
  readonly keyed: boolean;
}

const seconds = Number(process.env['FANOUT_BENCH_SECONDS'] ?? 1);
const propertyRuns = Number(process.env['FANOUT_BENCH_PROPERTY_RUNS'] ?? 2000);

function tokensOf(arrayKey: string): readonly string[] {
  const parsed = parseArrayKey(arrayKey);
  if (!('tokens' in parsed)) throw new Error(parsed.problem);
  return parsed.tokens;
}

/** The identity of `value` under `tokens` as a string, or undefined (missing, not a scalar). */
function identity(value: unknown, tokens: readonly string[]): string | undefined {
  let current = value;
  for (const token of tokens) {
    if (typeof current !== 'object' || current === null || Array.isArray(current)) return undefined;
    if (!Object.hasOwn(current, token)) return undefined;
    current = (current as Record<string, unknown>)[token];
  }
  return typeof current === 'string' || typeof current === 'number'
    ? `${typeof current}:${current}`
    : undefined;
}

const loaders: Record<string, () => Promise<Candidate>> = {
  'fast-json-patch compare': () =>
    Promise.resolve({
      name: 'fast-json-patch compare',
      keyed: false,
      diff: (previous, next) =>
        jsonPatch.compare(previous as object, next as object) as Operation[],
    }),
  'keyedJsonPatch (fanout)': () =>
    Promise.resolve({
      name: 'keyedJsonPatch (fanout)',
      keyed: true,
      diff: (previous, next, arrayKey) =>
        arrayKey === undefined
          ? (jsonPatch.compare(previous as object, next as object) as Operation[])
          : (keyedJsonPatch(previous, next, tokensOf(arrayKey)) as Operation[]),
    }),
  jsondiffpatch: async () => {
    const lib = await loadCandidate('jsondiffpatch');
    const formatter = await loadCandidate('jsondiffpatch/formatters/jsonpatch');
    const create = candidateFunction(lib, 'create');
    const format = candidateFunction(formatter, 'format');
    interface Differ {
      diff: (a: unknown, b: unknown) => unknown;
    }
    const plain = create({ arrays: { detectMove: true, includeValueOnMove: false } }) as Differ;
    const keyedDiffers = new Map<string, Differ>();
    return {
      name: 'jsondiffpatch 0.7.7 (jsonpatch formatter)',
      keyed: true,
      diff: (previous, next, arrayKey) => {
        let differ = plain;
        if (arrayKey !== undefined) {
          differ =
            keyedDiffers.get(arrayKey) ??
            (create({
              objectHash: (item: unknown, index: number) =>
                identity(item, tokensOf(arrayKey)) ?? `$$index:${index}`,
              arrays: { detectMove: true, includeValueOnMove: false },
            }) as Differ);
          keyedDiffers.set(arrayKey, differ);
        }
        const delta = differ.diff(previous, next);
        return delta === undefined ? [] : (format(delta, previous) as Operation[]);
      },
    };
  },
  jiff: async () => {
    const lib = await loadCandidate('jiff');
    const diff = candidateFunction(lib, 'diff');
    return {
      name: 'jiff 0.7.3',
      keyed: true,
      diff: (previous, next, arrayKey) =>
        diff(
          previous,
          next,
          arrayKey === undefined
            ? undefined
            : {
                hash: (item: unknown) => identity(item, tokensOf(arrayKey)) ?? JSON.stringify(item),
              },
        ) as Operation[],
    };
  },
  rfc6902: async () => {
    const lib = await loadCandidate('rfc6902');
    const createPatch = candidateFunction(lib, 'createPatch');
    return {
      name: 'rfc6902 5.4.0 (keyed equality hook)',
      keyed: true,
      // With a key: the custom diff answers "different" at once for two
      // elements of different identity (one replace), so the Levenshtein
      // array diff skips deep comparisons of unrelated elements.
      diff: (previous, next, arrayKey) => {
        if (arrayKey === undefined) return createPatch(previous, next) as Operation[];
        const tokens = tokensOf(arrayKey);
        return createPatch(previous, next, (input: unknown, output: unknown, ptr: unknown) => {
          const a = identity(input, tokens);
          const b = identity(output, tokens);
          if (a !== undefined && b !== undefined && a !== b) {
            return [{ op: 'replace', path: String(ptr), value: output }];
          }
          return undefined;
        }) as Operation[];
      },
    };
  },
};

/**
 * Calls per second of each body, measured in interleaved slices of 50 ms
 * for about `seconds` each, so that the load of a shared machine falls on
 * all of them alike; a body that throws is `undefined`.
 */
function rates(bodies: readonly (() => void)[]): (number | undefined)[] {
  const calls = bodies.map(() => 0);
  const elapsed = bodies.map(() => 0n);
  const failed = bodies.map(() => false);
  const slice = 50_000_000n;
  bodies.forEach((body, index) => {
    try {
      for (let i = 0; i < 10; i += 1) body();
    } catch {
      failed[index] = true;
    }
  });
  const rounds = Math.max(1, Math.round((seconds * 1e9) / Number(slice)));
  for (let round = 0; round < rounds; round += 1) {
    bodies.forEach((body, index) => {
      if (failed[index]) return;
      const start = process.hrtime.bigint();
      let spent = 0n;
      while (spent < slice) {
        body();
        calls[index] = (calls[index] ?? 0) + 1;
        spent = process.hrtime.bigint() - start;
      }
      elapsed[index] = (elapsed[index] ?? 0n) + spent;
    });
  }
  return bodies.map((_, index) =>
    failed[index] ? undefined : (calls[index] ?? 0) / (Number(elapsed[index] ?? 1n) / 1e9),
  );
}

/** Applies with fast-json-patch (validated, on a copy), as a client does. */
function apply(document: Json, ops: readonly Operation[]): Json {
  if (ops.length === 0) return document;
  return jsonPatch.applyPatch(
    jsonPatch.deepClone(document) as object,
    ops as jsonPatch.Operation[],
    true,
    true,
    true,
  ).newDocument as Json;
}

function correct(previous: Json, next: Json, ops: readonly Operation[]): boolean {
  try {
    return isDeepStrictEqual(apply(previous, ops), next);
  } catch {
    return false;
  }
}

const bytes = (value: unknown): number => Buffer.byteLength(JSON.stringify(value));

/** Random documents with keyed arrays and pairs that share most of their elements. */
function keyedPairs(): fc.Arbitrary<[Json, Json]> {
  const keyValue = fc.oneof(fc.integer({ min: 0, max: 6 }), fc.constantFrom('1', '2', 'a'));
  const element: fc.Arbitrary<Json> = fc.letrec<{ element: Json }>((tie) => ({
    element: fc.oneof<fc.Arbitrary<Json>[]>(
      { depthSize: 'small', withCrossShrink: true },
      fc.record(
        {
          id: keyValue,
          v: fc.integer({ min: 0, max: 3 }),
          sub: fc.array(tie('element'), { maxLength: 5 }),
        },
        { requiredKeys: ['id'] },
      ),
      fc.record({ v: fc.integer({ min: 0, max: 3 }) }),
      fc.record({ id: fc.constantFrom<Json>(null, true, [1], { x: 1 }) }),
      fc.constantFrom<Json>(0, 'x', null, [1, 2]),
    ),
  })).element;
  const rows = fc.uniqueArray(
    fc.record({ id: keyValue, v: fc.integer({ min: 0, max: 3 }), sub: fc.array(element) }),
    { maxLength: 10, selector: (row) => `${typeof row.id}${row.id}` },
  );
  const list = fc.oneof(
    { weight: 3, arbitrary: rows },
    { weight: 1, arbitrary: fc.array(element, { maxLength: 10 }) },
  );
  const edited = list.chain((previous) =>
    fc
      .tuple(fc.shuffledSubarray(previous), fc.array(element, { maxLength: 3 }), fc.nat())
      .map(([kept, added, at]): [Json, Json] => {
        const next = [...kept];
        next.splice(at % (next.length + 1), 0, ...added);
        return [{ list: previous }, { list: next }];
      }),
  );
  return fc
    .oneof(edited, fc.tuple(list, list))
    .map(([a, b]) => [
      JSON.parse(JSON.stringify(a)) as Json,
      JSON.parse(JSON.stringify(b)) as Json,
    ]);
}

function counterexample(candidate: Candidate, arrayKey: string | undefined): string | undefined {
  const details = fc.check(
    fc.property(keyedPairs(), ([previous, next]) =>
      correct(previous, next, candidate.diff(previous, next, arrayKey)),
    ),
    { numRuns: propertyRuns, seed: 20261203 },
  );
  if (!details.failed) return undefined;
  const error = details.errorInstance;
  return `${JSON.stringify(details.counterexample)}${error instanceof Error ? ` (${error.message})` : ''}`;
}

const candidates = await loadAvailable(loaders);

console.log(
  `\nKeyed array diffs — Node ${process.version}, ${cpus().length} cores, ${machineSummary()}`,
);
const steps = keyedWorkloadSteps();
const variants = candidates.flatMap((candidate) =>
  candidate.keyed
    ? [
        { candidate, keyed: true },
        { candidate, keyed: false },
      ]
    : [{ candidate, keyed: false }],
);
const label = (variant: { candidate: Candidate; keyed: boolean }): string =>
  `${variant.candidate.name}${variant.keyed ? ', key' : ', no key'}`;

console.log('\n(a) patch size: JSON bytes of diff(prev, next) and operations; WRONG: apply ≠ next');
console.log(`| step | key | full | ${variants.map(label).join(' | ')} |`);
for (const step of steps) {
  const cells = variants.map((variant) => {
    try {
      const ops = variant.candidate.diff(
        step.previous,
        step.next,
        variant.keyed ? step.arrayKey : undefined,
      );
      const ok = correct(step.previous, step.next, ops);
      return `${bytes(ops).toLocaleString('en')} B, ${ops.length}${ok ? '' : ' WRONG'}`;
    } catch (error) {
      return `threw ${error instanceof Error ? error.message : String(error)}`;
    }
  });
  console.log(
    `| ${step.name} | ${step.arrayKey} | ${bytes(step.next).toLocaleString('en')} B | ${cells.join(' | ')} |`,
  );
}

console.log('\n(b) CPU: diffs per second (candidates measured in interleaved slices)');
console.log(`| step | ${variants.map(label).join(' | ')} |`);
for (const step of steps) {
  const measured = rates(
    variants.map((variant) => {
      const arrayKey = variant.keyed ? step.arrayKey : undefined;
      return () => variant.candidate.diff(step.previous, step.next, arrayKey);
    }),
  );
  const cells = measured.map((value) =>
    value === undefined ? 'threw' : Math.round(value).toLocaleString('en'),
  );
  console.log(`| ${step.name} | ${cells.join(' | ')} |`);
}

console.log(
  `\n(c) correctness, fast-check ${propertyRuns} pairs with keyed arrays (key /id): apply(a, diff(a, b)) = b`,
);
for (const variant of variants) {
  let found: string | undefined;
  try {
    found = counterexample(variant.candidate, variant.keyed ? '/id' : undefined);
  } catch (error) {
    found = `threw ${String(error)}`;
  }
  console.log(`- ${label(variant)}: ${found === undefined ? 'holds' : `fails on ${found}`}`);
}

/** Pairs that tripped JSON Patch diffs before (decision 041) and keyed arrays that cannot be keyed. */
const edgeCases: readonly (readonly [string, Json, Json])[] = [
  ['member named toString added', {}, { toString: [] }],
  ['member named toString removed', { toString: false }, {}],
  ['two scalars at the root', '', false],
  ['a scalar member changes kind', { a: 'x' }, { a: [1] }],
  ['duplicate keys', [{ id: 1 }, { id: 1 }], [{ id: 2 }, { id: 1 }, { id: 1 }]],
  ['a key changes type', [{ id: 1 }, { id: '1' }], [{ id: '1' }, { id: 1 }]],
  [
    'member names with / and ~',
    { 'a/b': [{ id: 1 }], 'c~d': 1 },
    { 'a/b': [{ id: 2 }, { id: 1 }] },
  ],
];
console.log('\n(d) edge cases (key /id): ok, WRONG (applies to something else) or threw');
console.log(`| case | ${variants.map(label).join(' | ')} |`);
for (const [name, previous, next] of edgeCases) {
  const cells = variants.map((variant) => {
    try {
      const ops = variant.candidate.diff(previous, next, variant.keyed ? '/id' : undefined);
      return correct(previous, next, ops) ? 'ok' : 'WRONG';
    } catch (error) {
      return `threw (${error instanceof Error ? error.message : String(error)})`;
    }
  });
  console.log(`| ${name} | ${cells.join(' | ')} |`);
}
