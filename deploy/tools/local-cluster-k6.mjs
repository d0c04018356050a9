// @ts-check
/**
 * The k6 Job example (deploy/k6/k6-job.yaml) run in the local cluster
 * (deploy/tools/local-cluster.mjs) against the installed release:
 *
 *   npm run cluster -- k6 [SCRIPT] [NAME=VALUE ...]
 *
 * 1. builds the k6 image unless cached (`images.mjs build k6`) and imports it
 *    into the cluster's containerd;
 * 2. creates (or replaces) the ConfigMaps the Job mounts: `fanout-k6-scripts`
 *    with test/load/*.js and `fanout-k6-proto` with proto/fanout/v1/;
 * 3. renders the Job from deploy/k6/k6-job.yaml: the local image (pull
 *    policy Never), K6_SCRIPT = SCRIPT (default ws-subscribers.js), the
 *    Services' ClusterIPs in place of their DNS names (the cluster has no
 *    DNS), requests that fit the one small node, and every NAME=VALUE as an
 *    environment variable (FANOUT_LOAD_SUBSCRIBERS=500, …);
 * 4. deletes a Job left from an earlier run, creates this one, waits until it
 *    succeeds or fails, and prints the k6 pod's log (its summary and
 *    thresholds), then deletes the Job (with its pod) and the ConfigMaps.
 *    k6 exits non-zero when a threshold fails, which fails the Job: the
 *    command then fails too.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse } from 'yaml';
import { ensureK6Image } from './images.mjs';

/**
 * @typedef {object} ClusterAccess
 * @property {string} repoRoot
 * @property {string} namespace
 * @property {(line: string) => void} log
 * @property {(method: string, path: string, body?: unknown) => Promise<{ status: number, body: string }>} api
 * @property {(archive: string, name: string) => void} importImage
 * @property {() => Promise<{ services: Record<string, { clusterIP: string, ports: Record<string, { port: number }> }> }>} services
 */

const jobName = 'fanout-k6';

/**
 * @param {string} dir
 * @param {(name: string) => boolean} keep
 * @returns {Record<string, string>}
 */
function filesOf(dir, keep) {
  /** @type {Record<string, string>} */
  const data = {};
  for (const name of readdirSync(dir).sort()) {
    if (keep(name)) data[name] = readFileSync(join(dir, name), 'utf8');
  }
  return data;
}

/**
 * Creates or replaces a ConfigMap.
 * @param {ClusterAccess} access
 * @param {string} name
 * @param {Record<string, string>} data
 */
async function putConfigMap(access, name, data) {
  const base = `/api/v1/namespaces/${access.namespace}/configmaps`;
  const body = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data };
  let res = await access.api('PUT', `${base}/${name}`, body);
  if (res.status === 404) res = await access.api('POST', base, body);
  if (res.status >= 300) throw new Error(`ConfigMap ${name}: ${res.status} ${res.body}`);
}

/**
 * The Job of deploy/k6/k6-job.yaml for this cluster.
 * @param {string} repoRoot
 * @param {{ image: string, script: string, env: Record<string, string> }} options
 */
export function renderJob(repoRoot, options) {
  const job = parse(readFileSync(join(repoRoot, 'deploy', 'k6', 'k6-job.yaml'), 'utf8'));
  const container = job.spec.template.spec.containers[0];
  container.image = options.image;
  container.imagePullPolicy = 'Never';
  // One node of 2 cores with the release on it: the example's 2 cores would never schedule.
  container.resources = { requests: { cpu: '500m', memory: '256Mi' }, limits: { memory: '2Gi' } };
  /** @type {{ name: string, value: string }[]} */
  const env = container.env;
  const set = (/** @type {string} */ name, /** @type {string} */ value) => {
    const found = env.find((entry) => entry.name === name);
    if (found) found.value = value;
    else env.push({ name, value });
  };
  set('K6_SCRIPT', options.script);
  for (const [name, value] of Object.entries(options.env)) set(name, value);
  return job;
}

/**
 * Runs the k6 Job to its end; resolves with its log, rejects when it fails.
 * @param {ClusterAccess} access
 * @param {{ script?: string, env?: Record<string, string>, timeoutMs?: number }} [options]
 */
export async function runK6Job(access, options = {}) {
  const { log, namespace } = access;
  const built = await ensureK6Image({ log });
  access.importImage(built.archive, built.image);
  await putConfigMap(
    access,
    'fanout-k6-scripts',
    filesOf(join(access.repoRoot, 'test', 'load'), (name) => name.endsWith('.js')),
  );
  await putConfigMap(
    access,
    'fanout-k6-proto',
    filesOf(join(access.repoRoot, 'proto', 'fanout', 'v1'), (name) => name.endsWith('.proto')),
  );
  const { services } = await access.services();
  const service = (/** @type {string} */ suffix) => {
    const found = Object.entries(services).find(([name]) => name.endsWith(suffix));
    if (!found) throw new Error(`no Service *${suffix}; install the release first`);
    return found[1];
  };
  const edge = service('-edge');
  const ingest = service('-ingest');
  const job = renderJob(access.repoRoot, {
    image: built.image,
    script: options.script ?? 'ws-subscribers.js',
    env: {
      FANOUT_LOAD_EDGE_URL: `http://${edge.clusterIP}:${edge.ports['http']?.port ?? 8081}`,
      FANOUT_LOAD_INGEST_URL: `http://${ingest.clusterIP}:${ingest.ports['http']?.port ?? 8080}`,
      FANOUT_LOAD_INGEST_GRPC: `${ingest.clusterIP}:${ingest.ports['grpc']?.port ?? 50051}`,
      ...options.env,
    },
  });
  const jobs = `/apis/batch/v1/namespaces/${namespace}/jobs`;
  const old = await access.api('DELETE', `${jobs}/${jobName}`, { propagationPolicy: 'Foreground' });
  if (old.status === 200 || old.status === 202) {
    log(`deleting the earlier ${jobName} Job`);
    while ((await access.api('GET', `${jobs}/${jobName}`)).status !== 404) await sleep(500);
  }
  const created = await access.api('POST', jobs, job);
  if (created.status >= 300) throw new Error(`Job: ${created.status} ${created.body}`);
  log(
    `Job ${jobName} created (${job.spec.template.spec.containers[0].env
      .map((/** @type {{ name: string, value: string }} */ e) => `${e.name}=${e.value}`)
      .join(' ')})`,
  );
  const deadline = Date.now() + (options.timeoutMs ?? 30 * 60_000);
  /** @type {{ succeeded?: number, failed?: number }} */
  let status;
  for (;;) {
    const res = await access.api('GET', `${jobs}/${jobName}`);
    status = res.status === 200 ? (JSON.parse(res.body).status ?? {}) : {};
    if ((status.succeeded ?? 0) > 0 || (status.failed ?? 0) > 0) break;
    if (Date.now() > deadline) throw new Error(`Job ${jobName} did not finish in time`);
    await sleep(2000);
  }
  const selector = encodeURIComponent(`job-name=${jobName}`);
  const pods = JSON.parse(
    (await access.api('GET', `/api/v1/namespaces/${namespace}/pods?labelSelector=${selector}`))
      .body,
  );
  const pod = pods.items?.[0]?.metadata?.name;
  const logs =
    pod === undefined
      ? '(no pod)'
      : (await access.api('GET', `/api/v1/namespaces/${namespace}/pods/${pod}/log`)).body;
  // The log is read: the Job, its pod and the ConfigMaps go (they are not the release's,
  // `helm uninstall` would leave them in the namespace).
  await access.api('DELETE', `${jobs}/${jobName}`, { propagationPolicy: 'Background' });
  for (const name of ['fanout-k6-scripts', 'fanout-k6-proto']) {
    await access.api('DELETE', `/api/v1/namespaces/${namespace}/configmaps/${name}`);
  }
  if ((status.succeeded ?? 0) > 0) return { succeeded: true, pod, logs };
  throw new Error(`Job ${jobName} failed (pod ${pod}):\n${logs.slice(-6000)}`);
}
