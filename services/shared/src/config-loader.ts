/**
 * Reads the configuration once at start-up: schema defaults ← the JSON file
 * named by FANOUT_CONFIG_FILE ← FANOUT_* environment variables. Every bad
 * value is reported at once, each naming its variable or key; unknown
 * FANOUT_* variables and unknown file keys are errors too (typo protection).
 * The result is deeply frozen.
 */
import { readFileSync } from 'node:fs';
import { configFields, type ConfigField } from './config-fields.js';
import { configSchema, type FanoutConfig } from './config-schema.js';
import { FanoutError } from './fanout-error.js';

/** Variables with the FANOUT_ prefix that are not configuration keys. */
const reservedEnv = new Set([
  'FANOUT_CONFIG_FILE',
  'FANOUT_CACHE_DIR',
  'FANOUT_KAFKA_HEAP',
  'FANOUT_TEST_KAFKA',
  'FANOUT_TEST_KAFKA_BROKERS',
  'FANOUT_TEST_STATIC',
]);
const reservedPrefixes = ['FANOUT_LOCAL_', 'FANOUT_TEST_', 'FANOUT_BENCH_'];

export interface LoadConfigOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** Overrides applied last, as parsed values (used by tests and embedders). */
  readonly overrides?: Readonly<Record<string, unknown>>;
}

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

function suggestion(name: string, candidates: readonly string[]): string {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = distance(name, candidate);
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

function parseEnvValue(field: ConfigField, raw: string, problems: string[]): unknown {
  const trimmed = raw.trim();
  switch (field.kind) {
    case 'number': {
      const value = Number(trimmed);
      if (trimmed === '' || !Number.isFinite(value)) {
        problems.push(`${field.env}: must be a number (got "${raw}")`);
        return undefined;
      }
      return value;
    }
    case 'boolean':
      if (trimmed === 'true' || trimmed === '1') return true;
      if (trimmed === 'false' || trimmed === '0') return false;
      problems.push(`${field.env}: must be true or false (got "${raw}")`);
      return undefined;
    case 'list':
      return trimmed === ''
        ? []
        : trimmed
            .split(',')
            .map((item) => item.trim())
            .filter((item) => item !== '');
    case 'enum':
    case 'string':
      return trimmed;
  }
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

function checkFileKeys(
  value: unknown,
  prefix: readonly string[],
  file: string,
  problems: string[],
): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return;
  for (const [key, child] of Object.entries(value)) {
    const segments = [...prefix, key];
    const path = segments.join('.');
    const isLeaf = configFields.some((field) => field.path === path);
    const isSection = configFields.some((field) => field.path.startsWith(`${path}.`));
    if (isLeaf) continue;
    if (isSection) checkFileKeys(child, segments, file, problems);
    else {
      const known = configFields.map((field) => field.path);
      problems.push(`${file}: unknown key "${path}"${suggestion(path, known)}`);
    }
  }
}

function readFile(path: string, problems: string[]): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    problems.push(
      `FANOUT_CONFIG_FILE: cannot read ${path} (${error instanceof Error ? error.message : String(error)})`,
    );
    return {};
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      problems.push(`${path}: must hold a JSON object`);
      return {};
    }
    checkFileKeys(parsed, [], path, problems);
    return parsed as Record<string, unknown>;
  } catch (error) {
    problems.push(
      `${path}: not valid JSON (${error instanceof Error ? error.message : String(error)})`,
    );
    return {};
  }
}

/** Loads, validates and freezes the configuration; throws FanoutError('config_invalid'). */
export function loadConfig(options: LoadConfigOptions = {}): FanoutConfig {
  const env = options.env ?? process.env;
  const problems: string[] = [];
  const fromEnvVar = new Map<string, string>();
  const file = env['FANOUT_CONFIG_FILE'];
  const input: Record<string, unknown> =
    file !== undefined && file !== '' ? readFile(file, problems) : {};

  const byEnv = new Map(configFields.map((field) => [field.env, field]));
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith('FANOUT_') || raw === undefined) continue;
    if (reservedEnv.has(name) || reservedPrefixes.some((prefix) => name.startsWith(prefix))) {
      continue;
    }
    const field = byEnv.get(name);
    if (field === undefined) {
      problems.push(`${name}: unknown setting${suggestion(name, [...byEnv.keys()])}`);
      continue;
    }
    const value = parseEnvValue(field, raw, problems);
    if (value !== undefined) {
      setPath(input, field.segments, value);
      fromEnvVar.set(field.path, raw);
    }
  }
  for (const [path, value] of Object.entries(options.overrides ?? {})) {
    const field = configFields.find((candidate) => candidate.path === path);
    if (field === undefined) problems.push(`override: unknown key "${path}"`);
    else setPath(input, field.segments, value);
  }

  const result = configSchema.safeParse(input);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const segments = issue.path.filter((part) => typeof part === 'string');
      const path = segments.join('.');
      const field = configFields.find((candidate) => candidate.path === path);
      const name = fromEnvVar.has(path) ? (field?.env ?? path) : path || '(root)';
      let got = '';
      if (fromEnvVar.has(path)) got = ` (got "${shown(field, fromEnvVar.get(path) ?? '')}")`;
      problems.push(`${name}: ${issue.message}${got}`);
    }
  }
  if (problems.length > 0) {
    throw new FanoutError(
      'config_invalid',
      `invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`,
      { details: { problems: problems.length } },
    );
  }
  return deepFreeze(result.data) as FanoutConfig;
}

/** loadConfig for a service's main: prints the problems and exits with code 2. */
export function loadConfigOrExit(options: LoadConfigOptions = {}): FanoutConfig {
  try {
    return loadConfig(options);
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(2);
  }
}
