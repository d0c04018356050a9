/**
 * The Helm chart as tests see it: the pinned tools (deploy/tools/helm.mjs),
 * `helm template` of a profile, parsed objects, and offline validation of
 * every rendered object against the Kubernetes API schemas
 * (kubernetes-validate, strict) and the custom resources' schemas
 * (@kubernetes-models validators generated from the operators' CRDs).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka as KafkaV1 } from '@kubernetes-models/strimzi-kafka-operator/kafka.strimzi.io/v1/Kafka';
import { KafkaNodePool as KafkaNodePoolV1 } from '@kubernetes-models/strimzi-kafka-operator/kafka.strimzi.io/v1/KafkaNodePool';
import { KafkaTopic as KafkaTopicV1 } from '@kubernetes-models/strimzi-kafka-operator/kafka.strimzi.io/v1/KafkaTopic';
import { Kafka as KafkaV1beta2 } from '@kubernetes-models/strimzi-kafka-operator/kafka.strimzi.io/v1beta2/Kafka';
import { KafkaNodePool as KafkaNodePoolV1beta2 } from '@kubernetes-models/strimzi-kafka-operator/kafka.strimzi.io/v1beta2/KafkaNodePool';
import { KafkaTopic as KafkaTopicV1beta2 } from '@kubernetes-models/strimzi-kafka-operator/kafka.strimzi.io/v1beta2/KafkaTopic';
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { HTTPRoute } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute';
import { parseAllDocuments } from 'yaml';
import { repoRoot } from './repo-paths.js';

export const chartDir = join(repoRoot, 'helm', 'fanout');
export const profilesDir = join(repoRoot, 'helm', 'profiles');
const toolScript = join(repoRoot, 'deploy', 'tools', 'helm.mjs');

export interface ChartTools {
  readonly helm: string | null;
  readonly kubernetesValidate: string | null;
  readonly kubernetesVersions: readonly string[];
}

/** Where the pinned tools are (null when not installed: `node deploy/tools/helm.mjs fetch`). */
export function chartTools(): ChartTools {
  const result = spawnSync(process.execPath, [toolScript, 'status'], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${toolScript} status failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as ChartTools;
}

/**
 * Why the chart tests cannot run here, or undefined when they can. In CI a
 * missing tool is an error (CI installs them), so this throws there.
 */
export function missingToolsReason(tools: ChartTools): string | undefined {
  const missing = [
    tools.helm === null ? 'Helm' : undefined,
    tools.kubernetesValidate === null ? 'kubernetes-validate' : undefined,
  ].filter((name) => name !== undefined);
  if (missing.length === 0) return undefined;
  const reason = `${missing.join(' and ')} not installed: run node deploy/tools/helm.mjs fetch`;
  if (
    process.env['CI'] !== undefined &&
    process.env['CI'] !== '' &&
    process.env['CI'] !== 'false'
  ) {
    throw new Error(`${reason} (CI must install the chart tools; see .ci/run)`);
  }
  return reason;
}

/** The custom resources every profile may render, checked by the operators' own schemas. */
export const customResourceApis = [
  'kafka.strimzi.io/v1/Kafka',
  'kafka.strimzi.io/v1/KafkaNodePool',
  'kafka.strimzi.io/v1/KafkaTopic',
  'kafka.strimzi.io/v1beta2/Kafka',
  'kafka.strimzi.io/v1beta2/KafkaNodePool',
  'kafka.strimzi.io/v1beta2/KafkaTopic',
  'monitoring.coreos.com/v1/ServiceMonitor',
  'monitoring.coreos.com/v1/PrometheusRule',
  'gateway.networking.k8s.io/v1/HTTPRoute',
] as const;

interface Validatable {
  validate(): void;
}
type CustomResourceModel = new (data: Record<string, unknown>) => Validatable;

const customResourceModels: Readonly<Record<(typeof customResourceApis)[number], unknown>> = {
  'kafka.strimzi.io/v1/Kafka': KafkaV1,
  'kafka.strimzi.io/v1/KafkaNodePool': KafkaNodePoolV1,
  'kafka.strimzi.io/v1/KafkaTopic': KafkaTopicV1,
  'kafka.strimzi.io/v1beta2/Kafka': KafkaV1beta2,
  'kafka.strimzi.io/v1beta2/KafkaNodePool': KafkaNodePoolV1beta2,
  'kafka.strimzi.io/v1beta2/KafkaTopic': KafkaTopicV1beta2,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule,
  'gateway.networking.k8s.io/v1/HTTPRoute': HTTPRoute,
};

/** API groups of the built-in kinds kubernetes-validate knows. */
const builtInGroups = new Set([
  'v1',
  'apps/v1',
  'autoscaling/v2',
  'policy/v1',
  'networking.k8s.io/v1',
  'rbac.authorization.k8s.io/v1',
  'batch/v1',
]);

export interface K8sObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly [key: string]: unknown };
  readonly [key: string]: unknown;
}

export interface HelmResult {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

export function runHelm(helm: string, args: readonly string[]): HelmResult {
  const result = spawnSync(helm, args, {
    cwd: repoRoot,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, HELM_CACHE_HOME: join(tmpdir(), 'fanout-helm-cache') },
  });
  if (result.error !== undefined) throw result.error;
  return { status: result.status ?? 1, stdout: result.stdout, stderr: result.stderr };
}

/** `--api-versions` for every custom resource, as a cluster with the operators would serve. */
export function allApiVersionArgs(): string[] {
  return customResourceApis.flatMap((api) => ['--api-versions', api]);
}

export function parseObjects(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((document) => document.toJS() as unknown)
    .filter((value): value is K8sObject => typeof value === 'object' && value !== null);
}

/** `helm template` with values files and `--set` pairs; throws with Helm's message on failure. */
export function renderChart(
  helm: string,
  options: { files?: readonly string[]; set?: readonly string[]; extraArgs?: readonly string[] },
): K8sObject[] {
  const args = ['template', 'fanout', chartDir, '--namespace', 'events', ...allApiVersionArgs()];
  for (const file of options.files ?? []) args.push('-f', file);
  for (const pair of options.set ?? []) args.push('--set', pair);
  args.push(...(options.extraArgs ?? []));
  const result = runHelm(helm, args);
  if (result.status !== 0) throw new Error(`helm ${args.join(' ')} failed:\n${result.stderr}`);
  return parseObjects(result.stdout);
}

/** Problems of the objects against the Kubernetes API schemas (strict) and the CRD schemas. */
export function validateObjects(
  tools: ChartTools,
  objects: readonly K8sObject[],
  kubernetesVersion: string,
): string[] {
  const problems: string[] = [];
  const builtIn: K8sObject[] = [];
  for (const object of objects) {
    const api = `${object.apiVersion}/${object.kind}`;
    if (builtInGroups.has(object.apiVersion)) {
      builtIn.push(object);
    } else if (Object.hasOwn(customResourceModels, api)) {
      const Model = customResourceModels[
        api as keyof typeof customResourceModels
      ] as CustomResourceModel;
      try {
        new Model(object).validate();
      } catch (error) {
        problems.push(
          `${api} ${object.metadata.name}: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
    } else {
      problems.push(`${api} ${object.metadata.name}: no schema to validate it against`);
    }
  }
  if (builtIn.length === 0) return problems;
  const dir = mkdtempSync(join(tmpdir(), 'fanout-chart-'));
  try {
    const file = join(dir, 'objects.json');
    // kubernetes-validate reads YAML; JSON is YAML, one object per document.
    writeFileSync(file, builtIn.map((object) => `---\n${JSON.stringify(object)}\n`).join(''));
    const result = spawnSync(
      tools.kubernetesValidate ?? 'kubernetes-validate',
      ['--strict', '--quiet', '--no-warn', '-k', kubernetesVersion, file],
      { encoding: 'utf8' },
    );
    if (result.status !== 0) {
      problems.push(
        `kubernetes-validate ${kubernetesVersion}: ${`${result.stdout}${result.stderr}`.replaceAll(file, 'rendered')}`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return problems;
}

export function findObject(objects: readonly K8sObject[], kind: string, name: string): K8sObject {
  const found = objects.find((object) => object.kind === kind && object.metadata.name === name);
  if (found === undefined) {
    const have = objects.map((object) => `${object.kind}/${object.metadata.name}`).join(', ');
    throw new Error(`no ${kind}/${name} among ${have}`);
  }
  return found;
}
