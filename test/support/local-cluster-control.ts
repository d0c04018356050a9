/**
 * The local single-node Kubernetes cluster (deploy/tools/local-cluster.mjs)
 * as tests drive it: the script's commands, its status, whether a test may
 * run it, and requests to the API server as the cluster's admin.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { repoRoot } from './repo-paths.js';
import { runToEnd } from './run-to-end.js';

export const localClusterScript = join(repoRoot, 'deploy', 'tools', 'local-cluster.mjs');

export interface LocalClusterStatus {
  readonly root: boolean;
  readonly missingPackages: readonly string[];
  readonly stateDir: string;
  readonly network: { readonly nodeAddress: string; readonly podCidr: string };
}

export interface ReleaseService {
  readonly clusterIP: string;
  readonly ports: Readonly<Record<string, { port: number; nodePort?: number }>>;
}

export interface ReleaseServices {
  readonly nodeAddress: string;
  readonly services: Readonly<Record<string, ReleaseService>>;
}

export interface PodSummary {
  readonly name: string;
  readonly ip: string;
  readonly ready: boolean;
  /** Marked for deletion (terminating). */
  readonly deleting: boolean;
}

export function localClusterStatus(): LocalClusterStatus {
  const result = spawnSync(process.execPath, [localClusterScript, 'status'], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${localClusterScript} status failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as LocalClusterStatus;
}

/** Why a cluster test cannot run here; undefined when it can. */
export function localClusterSkipReason(): string | undefined {
  if (process.env['FANOUT_TEST_CLUSTER'] !== '1') {
    return 'opt-in: FANOUT_TEST_CLUSTER=1 (builds Kubernetes unless cached; see the head of this file)';
  }
  if (process.getuid?.() !== 0) return 'the cluster needs root';
  const status = localClusterStatus();
  if (status.missingPackages.length > 0) {
    return `Debian packages missing: ${status.missingPackages.join(' ')}`;
  }
  if (spawnSync(process.env['GO'] ?? 'go', ['version']).status !== 0) {
    return 'go not found (the Kubernetes components are built with it)';
  }
  return undefined;
}

/** Runs the cluster script to its end (`up`, `install`, `upgrade`, `kubectl`, …); its output. */
export function localCluster(...args: string[]): Promise<string> {
  return runToEnd(process.execPath, [localClusterScript, ...args], {
    cwd: repoRoot,
    name: 'local-cluster',
    tailChars: 6000,
  });
}

/** A request to the API server as the cluster's admin; the parsed answer. */
export function clusterApi(
  status: LocalClusterStatus,
  method: string,
  path: string,
  body?: unknown,
): Promise<unknown> {
  const pki = (name: string) => readFileSync(join(status.stateDir, 'pki', name));
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: status.network.nodeAddress,
        port: 6443,
        method,
        path,
        ca: pki('ca.crt'),
        cert: pki('admin.crt'),
        key: pki('admin.key'),
        headers:
          payload === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': payload.length },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          const code = res.statusCode ?? 0;
          if (code >= 200 && code < 300) resolve(JSON.parse(text));
          else reject(new Error(`${method} ${path}: ${code} ${text.slice(0, 300)}`));
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

interface PodList {
  items: {
    metadata: { name: string; deletionTimestamp?: string };
    status: { podIP?: string; conditions?: { type: string; status: string }[] };
  }[];
}

/** The pods of one component of the release (`edge`, `ingest`). */
export async function releasePods(
  status: LocalClusterStatus,
  component: string,
  namespace = 'fanout',
): Promise<PodSummary[]> {
  const selector = encodeURIComponent(`app.kubernetes.io/component=${component}`);
  const list = (await clusterApi(
    status,
    'GET',
    `/api/v1/namespaces/${namespace}/pods?labelSelector=${selector}`,
  )) as PodList;
  return list.items.map((pod) => ({
    name: pod.metadata.name,
    ip: pod.status.podIP ?? '',
    ready: pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true,
    deleting: pod.metadata.deletionTimestamp !== undefined,
  }));
}

/** The Service of the release whose name ends with `suffix` (`-edge`, `-ingest`). */
export function releaseService(services: ReleaseServices, suffix: string): ReleaseService {
  const found = Object.entries(services.services).find(([name]) => name.endsWith(suffix));
  if (found === undefined) throw new Error(`no Service *${suffix} in ${JSON.stringify(services)}`);
  return found[1];
}
