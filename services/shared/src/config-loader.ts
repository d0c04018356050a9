/**
 * Reads the configuration once at start-up. Sources, later ones win:
 *
 *   schema defaults ← the JSON file named by FANOUT_CONFIG_FILE (or --config)
 *                   ← FANOUT_* environment variables ← --key=value arguments
 *
 * Every bad value is reported at once, each as
 * `<variable, argument or key>: <what is wrong> (got "<value>")`. Unknown
 * FANOUT_* variables, arguments and file keys are errors too (typo
 * protection), with a suggestion when a real name is close. The result is
 * deeply frozen.
 */
import { readFileSync } from 'node:fs';
import { configFields, configFileEnv, type ConfigField } from './config-fields.js';
import { configSchema, type FanoutConfig } from './config-schema.js';
import { FanoutError } from './fanout-error.js';

/**
 * Prefixes of the variables of development tooling, tests, benchmarks and
 * load scripts (`npm start`, the local broker, `npm test`, k6): never
 * settings, so they can be set in the same shell as the services'. No
 * configuration key may start with one (a test checks).
 */
export const toolingEnvPrefixes = [
  'FANOUT_LOCAL_',
  'FANOUT_TEST_',
  'FANOUT_BENCH_',
  'FANOUT_LOAD_',
] as const;

/** The other FANOUT_ variables that are not settings: the configuration file, the tooling cache. */
export const reservedEnvNames = [configFileEnv, 'FANOUT_CACHE_DIR'] as const;

/**
 * Former names of the local broker's variables (now FANOUT_LOCAL_KAFKA_*),
 * ignored here until the next release, when they become unknown settings.
 */
export const formerToolingEnvNames = [
  'FANOUT_KAFKA_HEAP',
  'FANOUT_KAFKA_JVM_OPTS',
  'FANOUT_KAFKA_CDS',
] as const;

const reservedEnv: ReadonlySet<string> = new Set([...reservedEnvNames, ...formerToolingEnvNames]);

/** True for a FANOUT_ variable the loader leaves alone (it is not a setting). */
export function isReservedEnv(name: string): boolean {
  return reservedEnv.has(name) || toolingEnvPrefixes.some((prefix) => name.startsWith(prefix));
}

export interface LoadConfigOptions {
  /** The environment; `process.env` by default. */
  readonly env?: NodeJS.ProcessEnv;
  /**
   * Command-line arguments (without node and the script): `--config <file>`
   * and `--<key>=<value>` (`--edge.port=9000`, `--kafka.ssl`). None by default.
   */
  readonly argv?: readonly string[];
  /** Values by key, applied last (for embedders and tests). */
  readonly overrides?: Readonly<Record<string, unknown>>;
}

/** Where a value came from, for error messages. */
interface Source {
  /** The variable, argument or file key that set it. */
  readonly name: string;
  /** The value as written there. */
  readonly raw: string;
}

const byPath: ReadonlyMap<string, ConfigField> = new Map(
  configFields.map((field) => [field.path, field]),
);
const byEnv: ReadonlyMap<string, ConfigField> = new Map(
  configFields.map((field) => [field.env, field]),
);

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/** Levenshtein distance, for "did you mean". */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0] ?? 0;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const saved = row[j] ?? 0;
      row[j] = Math.min(
        (row[j] ?? 0) + 1,
        (row[j - 1] ?? 0) + 1,
        previous + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
      previous = saved;
    }
  }
  return row[b.length] ?? 0;
}

function suggestion(name: string, candidates: Iterable<string>): string {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = distance(name.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(name.length / 4))
    ? ` (did you mean ${best}?)`
    : '';
}

function shown(field: ConfigField | undefined, raw: string): string {
  return field?.secret === true ? '<redacted>' : raw;
}

function rawText(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

const decimalNumber = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?$/;

/** Parses a value written as text (environment variable or argument). */
function parseText(field: ConfigField, raw: string): { value: unknown } | { problem: string } {
  const text = raw.trim();
  switch (field.kind) {
    case 'number':
      return decimalNumber.test(text)
        ? { value: Number(text) }
        : { problem: 'must be a decimal number' };
    case 'boolean':
      if (text === 'true' || text === '1') return { value: true };
      if (text === 'false' || text === '0') return { value: false };
      return { problem: 'must be true or false' };
    case 'list': {
      if (text === '') return { value: [] };
      const items = text.split(',').map((item) => item.trim());
      return items.includes('') ? { problem: 'must not have empty items' } : { value: items };
    }
    case 'enum':
    case 'string':
      return { value: text };
  }
}

/** Applies a value written as text to the input, or records why it is bad. */
function applyText(
  input: Record<string, unknown>,
  field: ConfigField,
  source: Source,
  sources: Map<string, Source>,
  problems: string[],
): void {
  const parsed = parseText(field, source.raw);
  if ('problem' in parsed) {
    problems.push(`${source.name}: ${parsed.problem} (got "${shown(field, source.raw)}")`);
    return;
  }
  setPath(input, field.segments, parsed.value);
  sources.set(field.path, source);
}

function setPath(target: Record<string, unknown>, segments: readonly string[], value: unknown) {
  let node = target;
  for (const segment of segments.slice(0, -1)) {
    const next = node[segment];
    if (typeof next === 'object' && next !== null && !Array.isArray(next)) {
      node = next as Record<string, unknown>;
    } else {
      const created: Record<string, unknown> = {};
      node[segment] = created;
      node = created;
    }
  }
  const last = segments[segments.length - 1];
  if (last !== undefined) node[last] = value;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let node = root;
  for (const key of path) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node;
}

/** Reports unknown keys; records the source of every known leaf. */
function checkFileKeys(
  value: unknown,
  prefix: readonly string[],
  sources: Map<string, Source>,
  problems: string[],
): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return;
  for (const [key, child] of Object.entries(value)) {
    const path = [...prefix, key].join('.');
    if (byPath.has(path)) {
      sources.set(path, { name: path, raw: rawText(child) });
    } else if (configFields.some((field) => field.path.startsWith(`${path}.`))) {
      checkFileKeys(child, [...prefix, key], sources, problems);
    } else {
      problems.push(
        `${path}: unknown key in the configuration file${suggestion(path, byPath.keys())}`,
      );
    }
  }
}

function readConfigFile(
  file: string,
  sources: Map<string, Source>,
  problems: string[],
): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    problems.push(
      `${configFileEnv}: cannot read the file (${error instanceof Error ? error.message : String(error)}) (got "${file}")`,
    );
    return {};
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    problems.push(
      `${configFileEnv}: not valid JSON (${error instanceof Error ? error.message : String(error)}) (got "${file}")`,
    );
    return {};
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    problems.push(`${configFileEnv}: the file must hold a JSON object (got "${file}")`);
    return {};
  }
  checkFileKeys(parsed, [], sources, problems);
  return parsed as Record<string, unknown>;
}

interface ParsedArgs {
  readonly configFile: string | undefined;
  readonly values: readonly { field: ConfigField; name: string; raw: string }[];
}

function parseArgs(argv: readonly string[], problems: string[]): ParsedArgs {
  let configFile: string | undefined;
  const values: { field: ConfigField; name: string; raw: string }[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (!arg.startsWith('--')) {
      problems.push(`${arg}: unexpected argument; use --<key>=<value> (got "${arg}")`);
      continue;
    }
    const equals = arg.indexOf('=');
    const key = arg.slice(2, equals === -1 ? undefined : equals);
    const name = `--${key}`;
    const field = byPath.get(key);
    if (key !== 'config' && field === undefined) {
      const options = ['--config', ...[...byPath.keys()].map((path) => `--${path}`)];
      problems.push(`${name}: unknown argument${suggestion(name, options)}`);
      continue;
    }
    let raw: string | undefined = equals === -1 ? undefined : arg.slice(equals + 1);
    if (raw === undefined && field?.kind === 'boolean') raw = 'true';
    if (raw === undefined) {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) {
        problems.push(`${name}: needs a value (--${key}=<value>)`);
        continue;
      }
      raw = next;
      i++;
    }
    if (field === undefined) configFile = raw;
    else values.push({ field, name, raw });
  }
  return { configFile, values };
}

/** Loads, validates and freezes the configuration; throws FanoutError('config_invalid'). */
export function loadConfig(options: LoadConfigOptions = {}): FanoutConfig {
  const env = options.env ?? process.env;
  const problems: string[] = [];
  const sources = new Map<string, Source>();
  const args = parseArgs(options.argv ?? [], problems);

  // 1. the file
  const file = args.configFile ?? env[configFileEnv];
  const input = file !== undefined && file !== '' ? readConfigFile(file, sources, problems) : {};

  // 2. environment variables
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith('FANOUT_') || raw === undefined) continue;
    if (isReservedEnv(name)) continue;
    const field = byEnv.get(name);
    if (field === undefined) {
      problems.push(`${name}: unknown setting${suggestion(name, byEnv.keys())}`);
      continue;
    }
    applyText(input, field, { name, raw }, sources, problems);
  }

  // 3. arguments
  for (const { field, name, raw } of args.values) {
    applyText(input, field, { name, raw }, sources, problems);
  }

  // 4. programmatic overrides
  for (const [path, value] of Object.entries(options.overrides ?? {})) {
    const field = byPath.get(path);
    if (field === undefined) {
      problems.push(`${path}: unknown key in overrides${suggestion(path, byPath.keys())}`);
    } else {
      setPath(input, field.segments, value);
      sources.set(path, { name: path, raw: rawText(value) });
    }
  }

  const result = configSchema.safeParse(input);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const path = issue.path.filter((part) => typeof part === 'string').join('.');
      const field = byPath.get(path);
      const source = sources.get(path);
      const name =
        source?.name ?? (field === undefined ? path || '(root)' : `${path} (${field.env})`);
      const index = issue.path.find((part) => typeof part === 'number');
      // A bad list item is shown alone, so a long list still reads well.
      const raw =
        index !== undefined
          ? rawText(valueAt(input, issue.path))
          : (source?.raw ?? rawText(valueAt(input, issue.path) ?? field?.defaultValue));
      const what = index === undefined ? issue.message : `item ${index + 1} ${issue.message}`;
      problems.push(`${name}: ${what} (got "${shown(field, raw)}")`);
    }
  }
  if (problems.length > 0) {
    throw new FanoutError(
      'config_invalid',
      `invalid configuration (${problems.length} ${problems.length === 1 ? 'problem' : 'problems'}):\n${problems.map((problem) => `  - ${problem}`).join('\n')}`,
      { details: { problems: problems.length } },
    );
  }
  return deepFreeze(result.data) as FanoutConfig;
}

/**
 * loadConfig for a service's main: reads `process.env` and the process's
 * arguments by default; on a bad configuration prints every problem to
 * stderr and exits with code 2.
 */
export function loadConfigOrExit(options: LoadConfigOptions = {}): FanoutConfig {
  try {
    return loadConfig({ argv: process.argv.slice(2), ...options });
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(2);
  }
}
