/**
 * The leaves of the configuration schema, walked once: path, environment
 * variable, kind, default and description. The loader, the docs table and
 * the Helm values check all read this list, so they cannot drift apart.
 */
import type { z } from 'zod';
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
