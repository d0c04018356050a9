/**
 * The leaves of the configuration schema, walked once: path, environment
 * variable, kind, default and description. The loader, the docs table and
 * the Helm values check all read this list, so they cannot drift apart.
 */
import { z } from 'zod';
import { configSchema } from './config-schema.js';

export type ConfigFieldKind = 'string' | 'number' | 'boolean' | 'enum' | 'list';

export interface ConfigField {
  /** Dotted path, e.g. `kafka.clientId`. */
  readonly path: string;
  readonly segments: readonly string[];
  /** Environment variable, e.g. `FANOUT_KAFKA_CLIENT_ID`. */
  readonly env: string;
  readonly kind: ConfigFieldKind;
  /** For enums, the allowed values. */
  readonly values: readonly string[];
  /** The type with its limits, for people: `integer, 0–65535`, `list, at least 1 item`. */
  readonly type: string;
  readonly defaultValue: unknown;
  readonly description: string;
  /** Secret values are never printed. */
  readonly secret: boolean;
}

interface Def {
  readonly type: string;
  readonly innerType?: z.ZodType;
  readonly shape?: Record<string, z.ZodType>;
  readonly element?: z.ZodType;
  readonly entries?: Record<string, string>;
  readonly defaultValue?: unknown;
}

function defOf(schema: z.ZodType): Def {
  return (schema as unknown as { _zod: { def: Def } })._zod.def;
}

/** Strips default/prefault/optional wrappers. */
function unwrap(schema: z.ZodType): { inner: z.ZodType; defaultValue: unknown } {
  let current = schema;
  let defaultValue: unknown = undefined;
  for (;;) {
    const def = defOf(current);
    if ((def.type === 'default' || def.type === 'prefault') && def.innerType !== undefined) {
      if (def.type === 'default' && defaultValue === undefined) defaultValue = def.defaultValue;
      current = def.innerType;
    } else if (def.type === 'optional' && def.innerType !== undefined) {
      current = def.innerType;
    } else {
      return { inner: current, defaultValue };
    }
  }
}

/** Environment variable naming the JSON configuration file. */
export const configFileEnv = 'FANOUT_CONFIG_FILE';

/** The environment variable of a key: `['kafka', 'clientId']` → `FANOUT_KAFKA_CLIENT_ID`. */
export function envName(segments: readonly string[]): string {
  return `FANOUT_${segments
    .map((segment) => segment.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase())
    .join('_')}`;
}

function kindOf(schema: z.ZodType): { kind: ConfigFieldKind; values: readonly string[] } {
  const def = defOf(schema);
  switch (def.type) {
    case 'string':
      return { kind: 'string', values: [] };
    case 'number':
      return { kind: 'number', values: [] };
    case 'boolean':
      return { kind: 'boolean', values: [] };
    case 'enum':
      return { kind: 'enum', values: Object.values(def.entries ?? {}) };
    case 'array':
      return { kind: 'list', values: [] };
    default:
      throw new Error(`config schema: unsupported leaf type ${def.type}`);
  }
}

const maxSafe = Number.MAX_SAFE_INTEGER;

/** The limits of a leaf as its JSON Schema states them. */
function limits(schema: z.ZodType): string {
  const json = z.toJSONSchema(schema) as Record<string, unknown>;
  const number = (key: string): number | undefined =>
    typeof json[key] === 'number' ? json[key] : undefined;
  const exclusiveMinimum = number('exclusiveMinimum');
  const min =
    number('minimum') ??
    (exclusiveMinimum !== undefined && json['type'] === 'integer'
      ? exclusiveMinimum + 1
      : undefined);
  const maximum = number('maximum');
  const max = maximum !== undefined && maximum < maxSafe ? maximum : undefined;
  if (min !== undefined && max !== undefined) return `${min}–${max}`;
  if (min !== undefined) return `≥ ${min}`;
  if (max !== undefined) return `≤ ${max}`;
  const minItems = number('minItems');
  if (minItems !== undefined) return `at least ${minItems} ${minItems === 1 ? 'item' : 'items'}`;
  if (json['format'] === 'uri') return 'URL';
  if (number('minLength') === 1) return 'non-empty';
  return '';
}

function typeLabel(schema: z.ZodType, kind: ConfigFieldKind, values: readonly string[]): string {
  if (kind === 'enum') return `one of ${values.join(', ')}`;
  const base = kind === 'number' && z.toJSONSchema(schema)['type'] === 'integer' ? 'integer' : kind;
  const limit = limits(schema);
  return limit === '' ? base : `${base}, ${limit}`;
}

function walk(schema: z.ZodType, segments: readonly string[], out: ConfigField[]): void {
  const { inner, defaultValue } = unwrap(schema);
  const def = defOf(inner);
  if (def.type === 'object' && def.shape !== undefined) {
    for (const [key, child] of Object.entries(def.shape)) walk(child, [...segments, key], out);
    return;
  }
  const { kind, values } = kindOf(inner);
  const path = segments.join('.');
  out.push({
    path,
    segments,
    env: envName(segments),
    kind,
    values,
    type: typeLabel(inner, kind, values),
    defaultValue,
    description: schema.description ?? '',
    secret: /password|secret|token/i.test(path),
  });
}

export const configFields: readonly ConfigField[] = (() => {
  const out: ConfigField[] = [];
  walk(configSchema, [], out);
  return Object.freeze(out);
})();

/** Description of a section (`kafka`, `edge`, …). */
export function sectionDescription(section: string): string {
  const shape = defOf(configSchema).shape ?? {};
  return shape[section]?.description ?? '';
}
