#!/usr/bin/env node
// @ts-check
/**
 * Keeps the Helm chart in step with the services' configuration schema
 * (services/shared/src/config-schema.ts):
 *
 *   - the `config` and `secretConfig` blocks of helm/fanout/values.yaml (between
 *     `# BEGIN generated config` and `# END generated config`): every key of the
 *     schema with its cluster default and its description as a comment;
 *   - `properties.config` and `properties.secretConfig` of
 *     helm/fanout/values.schema.json: the schema's JSON Schema with
 *     `additionalProperties: false` on every section, so an unknown or
 *     misspelt key fails `helm install`. The rest of that file (the chart's
 *     own values) is written by hand.
 *
 *   node deploy/tools/helm-values.mjs write    regenerate both (npm run docs:generate runs it)
 *   node deploy/tools/helm-values.mjs check    exit 1 when either is stale (a test runs it)
 *
 * New schema sections and keys are picked up by walking the schema; only the
 * keys the chart sets itself (chartOwned) and the cluster defaults
 * (clusterDefaults) are named here. Needs `tsc -b services/shared` first.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as prettier from 'prettier';
import { configFields, configJsonSchema } from '@fanout/shared';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const valuesFile = join(repoRoot, 'helm', 'fanout', 'values.yaml');
export const valuesSchemaFile = join(repoRoot, 'helm', 'fanout', 'values.schema.json');

const begin = '# BEGIN generated config';
const end = '# END generated config';

/**
 * Keys the chart derives from its own values; they are not accepted under
 * `config` (the schema refuses them) so there is one place to set each.
 * @type {Readonly<Record<string, string>>}
 */
export const chartOwned = {
  'kafka.brokers': 'kafka.external.bootstrapServers, or the Strimzi bootstrap Service',
  'kafka.ssl': 'kafka.external.tls.enabled, or kafka.strimzi.tls',
  'kafka.saslMechanism': 'kafka.external.sasl.mechanism',
  'kafka.saslUsername': 'kafka.external.sasl.username',
  'kafka.saslPassword': 'kafka.external.sasl.password or kafka.external.sasl.existingSecret',
  'bridge.leaseToken':
    'bridge.leaseToken (a Secret the chart creates, or bridge.leaseToken.existingSecret)',
  'edge.resources.bridgeToken':
    'bridge.leaseToken (a Secret the chart creates, or bridge.leaseToken.existingSecret)',
};

/**
 * Defaults that differ in a cluster from the services' own (which suit one
 * machine): listen on every interface, replicate the topic three times.
 * @type {Readonly<Record<string, unknown>>}
 */
export const clusterDefaults = {
  'telemetry.metricsHost': '0.0.0.0',
  'ingest.host': '0.0.0.0',
  'edge.host': '0.0.0.0',
  'kafka.replicationFactor': 3,
  // Edges find each other through the EndpointSlices of the chart's headless Service (its name
  // and, for `dns`, its DNS name are filled in by the chart when left empty).
  'cluster.membership': 'kubernetes',
  'cluster.kubernetesPortName': 'http',
  // Clients reach the edges through the Service or the Ingress, not at the pod URLs a rebalance
  // close would name (docs/guides/scaling.md, Routing); turn it on when they can.
  'cluster.rebalance': false,
};

/**
 * Keys the chart fills in when they are left empty (templates/_helpers.tpl,
 * fanout.configJson and fanout.edge.env), noted in their comments.
 * @type {Readonly<Record<string, string>>}
 */
export const chartFilled = {
  'cluster.advertisedUrl': 'empty: the chart sets http://$(POD_IP):<edge.port> per pod',
  'cluster.memberId': 'empty with dns membership: the chart sets $(POD_IP) per pod',
  'cluster.dnsName': "empty with dns membership: the chart's headless Service",
  'cluster.kubernetesService': "empty with kubernetes membership: the chart's headless Service",
  'edge.resources.bridgeKubernetesService':
    "empty, with bridge.enabled and neither bridgeDnsName nor bridges set: the bridges' headless Service",
};

/** Ports the services listen on and the chart's Services publish. */
export const publishedPorts = [
  'telemetry.metricsPort',
  'ingest.grpcPort',
  'ingest.httpPort',
  'edge.port',
];

/** @typedef {import('@fanout/shared').ConfigField} ConfigField */

/** @param {ConfigField} field */
const isSecret = (field) => field.secret;

/** @param {ConfigField} field */
function defaultOf(field) {
  return Object.hasOwn(clusterDefaults, field.path)
    ? clusterDefaults[field.path]
    : field.defaultValue;
}

/**
 * @param {Record<string, unknown>} node
 * @param {readonly string[]} segments
 */
function childAt(node, segments) {
  /** @type {Record<string, unknown> | undefined} */
  let current = node;
  for (const segment of segments) {
    const properties = /** @type {Record<string, Record<string, unknown>> | undefined} */ (
      current?.['properties']
    );
    current = properties?.[segment];
  }
  return current;
}

/**
 * The JSON Schema of the leaves `keep` selects, nested as in the configuration.
 * @param {(field: ConfigField) => boolean} keep
 * @param {string} description
 * @returns {Record<string, unknown>}
 */
function schemaOf(keep, description) {
  const full = /** @type {Record<string, unknown>} */ (configJsonSchema());
  /** @type {Record<string, unknown>} */
  const root = { description, type: 'object', additionalProperties: false, properties: {} };
  for (const field of configFields) {
    if (Object.hasOwn(chartOwned, field.path) || !keep(field)) continue;
    let node = root;
    field.segments.forEach((segment, index) => {
      const properties = /** @type {Record<string, Record<string, unknown>>} */ (
        node['properties']
      );
      if (index === field.segments.length - 1) {
        const leaf = { ...childAt(full, field.segments) };
        const value = defaultOf(field);
        if (value !== undefined) leaf['default'] = value;
        // The chart publishes these ports in its Services, so they must be fixed (not 0).
        if (publishedPorts.includes(field.path)) leaf['minimum'] = 1;
        properties[segment] = leaf;
        return;
      }
      const section = childAt(full, field.segments.slice(0, index + 1));
      properties[segment] ??= {
        description: /** @type {string | undefined} */ (section?.['description']) ?? '',
        type: 'object',
        additionalProperties: false,
        properties: {},
      };
      node = properties[segment];
    });
  }
  return root;
}

/** @returns {{ config: Record<string, unknown>, secretConfig: Record<string, unknown> }} */
export function configValueSchemas() {
  return {
    config: schemaOf(
      (field) => !isSecret(field),
      "The services' configuration (services/shared/src/config-schema.ts), rendered into the ConfigMap read through FANOUT_CONFIG_FILE. kafka.brokers, kafka.ssl and kafka.sasl* are set from `kafka`; secret keys are under secretConfig.",
    ),
    secretConfig: schemaOf(
      isSecret,
      "Secret keys of the services' configuration, rendered into a Secret as FANOUT_* environment variables.",
    ),
  };
}

/** @param {unknown} value */
function yamlScalar(value) {
  return JSON.stringify(value);
}

/** @param {ConfigField} field */
function comment(field) {
  const type = field.kind === 'enum' ? `one of ${field.values.join(', ')}` : field.type;
  const filled = Object.hasOwn(chartFilled, field.path)
    ? ` Chart: ${chartFilled[field.path]}.`
    : '';
  return `# -- ${field.description}${filled} (${type}; ${field.env})`;
}

/**
 * The YAML of one block (`config` or `secretConfig`).
 * @param {string} name
 * @param {(field: ConfigField) => boolean} keep
 */
function yamlBlock(name, keep) {
  const lines = [`${name}:`];
  /** @type {string[]} */
  let open = [];
  /** @type {Set<string>} */
  const notedSections = new Set();
  for (const field of configFields) {
    if (!keep(field)) continue;
    const parents = field.segments.slice(0, -1);
    let common = 0;
    while (common < open.length && common < parents.length && open[common] === parents[common]) {
      common++;
    }
    for (let depth = common; depth < parents.length; depth++) {
      const section = parents.slice(0, depth + 1);
      const description = /** @type {string | undefined} */ (
        childAt(/** @type {Record<string, unknown>} */ (configJsonSchema()), section)?.[
          'description'
        ]
      );
      lines.push(`${'  '.repeat(depth + 1)}# ${description ?? section.join('.')}`);
      lines.push(`${'  '.repeat(depth + 1)}${section[depth] ?? ''}:`);
      const owned = Object.keys(chartOwned).filter(
        (path) => path.startsWith(`${section.join('.')}.`) && path.split('.').length === depth + 2,
      );
      if (name === 'config' && owned.length > 0 && !notedSections.has(section.join('.'))) {
        notedSections.add(section.join('.'));
        for (const path of owned) {
          lines.push(
            `${'  '.repeat(depth + 2)}# ${path}: set by the chart from ${chartOwned[path]}.`,
          );
        }
      }
    }
    open = parents;
    const indent = '  '.repeat(field.segments.length);
    lines.push(`${indent}${comment(field)}`);
    lines.push(`${indent}${field.segments.at(-1) ?? ''}: ${yamlScalar(defaultOf(field))}`);
  }
  return lines;
}

function generatedBlock() {
  return [
    ...yamlBlock('config', (field) => !Object.hasOwn(chartOwned, field.path) && !isSecret(field)),
    '',
    "# Secret keys of the same schema, rendered into the chart's Secret as FANOUT_* environment",
    '# variables (empty ones are left out). Or keep them in secrets.existingSecret.',
    ...yamlBlock(
      'secretConfig',
      (field) => !Object.hasOwn(chartOwned, field.path) && isSecret(field),
    ),
  ];
}

/** @param {string} text @param {string} file */
async function format(text, file) {
  const options = (await prettier.resolveConfig(file)) ?? {};
  return prettier.format(text, { ...options, filepath: file });
}

/** values.yaml with the generated block replaced. */
export async function renderValues() {
  const current = readFileSync(valuesFile, 'utf8');
  const from = current.indexOf(begin);
  const to = current.indexOf(end);
  if (from === -1 || to === -1 || to < from) {
    throw new Error(`${valuesFile}: markers "${begin}" and "${end}" not found`);
  }
  const text = `${current.slice(0, from)}${begin}\n${generatedBlock().join('\n')}\n${current.slice(to)}`;
  return format(text, valuesFile);
}

/** values.schema.json with properties.config and properties.secretConfig replaced. */
export async function renderValuesSchema() {
  const current = /** @type {Record<string, unknown>} */ (
    JSON.parse(readFileSync(valuesSchemaFile, 'utf8'))
  );
  const properties = /** @type {Record<string, unknown>} */ (current['properties'] ?? {});
  const { config, secretConfig } = configValueSchemas();
  const next = { ...current, properties: { ...properties, config, secretConfig } };
  return format(`${JSON.stringify(next, null, 2)}\n`, valuesSchemaFile);
}

async function main() {
  const mode = process.argv[2];
  const outputs = [
    { file: valuesFile, text: await renderValues() },
    { file: valuesSchemaFile, text: await renderValuesSchema() },
  ];
  if (mode === 'write') {
    for (const { file, text } of outputs) {
      writeFileSync(file, text);
      console.log(`wrote ${file.slice(repoRoot.length + 1)}`);
    }
    return 0;
  }
  if (mode === 'check') {
    const stale = outputs.filter(({ file, text }) => readFileSync(file, 'utf8') !== text);
    for (const { file } of stale) {
      console.error(
        `${file.slice(repoRoot.length + 1)} is out of date with the configuration schema; run npm run docs:generate`,
      );
    }
    return stale.length === 0 ? 0 : 1;
  }
  console.error('usage: node deploy/tools/helm-values.mjs write | check');
  return 2;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then(
    (code) => process.exit(code),
    (error) => {
      console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
      process.exit(1);
    },
  );
}
