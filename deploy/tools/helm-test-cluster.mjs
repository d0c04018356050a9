#!/usr/bin/env node
// @ts-check
/**
 * A real Kubernetes API server for installing the chart in a test, without
 * containers: kube-apiserver built from the published Kubernetes modules
 * (Go module proxy) and etcd from Debian (`apt-get install etcd-server`).
 * No scheduler, controller manager or kubelet: objects are stored and
 * served, pods never run.
 *
 *   node deploy/tools/helm-test-cluster.mjs fetch    build kube-apiserver into the cache
 *   node deploy/tools/helm-test-cluster.mjs status   where it is, as JSON
 *
 * `go install k8s.io/kubernetes/cmd/kube-apiserver` does not work (the
 * module's go.mod replaces its k8s.io/* dependencies with ./staging
 * directories the published module lacks); deploy/tools/kubernetes-build.mjs
 * builds it from a copy that requires the published modules instead.
 *
 * Environment: FANOUT_CACHE_DIR (as deploy/tools/helm.mjs), GO.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureKubernetes, kubernetesBinary } from './kubernetes-build.mjs';

/** The Kubernetes release of the API server, pinned. */
export const kubernetesVersion = 'v1.37.2';

export function kubeApiserverBinary() {
  return kubernetesBinary(kubernetesVersion, 'kube-apiserver');
}

/** etcd from PATH (Debian's etcd-server package), or null. */
export function etcdBinary() {
  for (const dir of (process.env['PATH'] ?? '').split(':')) {
    const candidate = join(dir, 'etcd');
    if (dir !== '' && existsSync(candidate)) return candidate;
  }
  return null;
}

/**
 * Builds kube-apiserver unless it is in the cache (the recipe of
 * deploy/tools/kubernetes-build.mjs).
 * @param {{ log?: (line: string) => void }} [options]
 */
export async function ensureKubeApiserver(options = {}) {
  const binaries = await ensureKubernetes(kubernetesVersion, ['kube-apiserver'], options);
  return binaries['kube-apiserver'] ?? kubeApiserverBinary();
}

async function main() {
  const command = process.argv[2];
  /** @param {string} line */
  const log = (line) => console.error(line);
  if (command === 'fetch') {
    console.log(
      JSON.stringify({ kubeApiserver: await ensureKubeApiserver({ log }), etcd: etcdBinary() }),
    );
    return 0;
  }
  if (command === 'status') {
    const binary = kubeApiserverBinary();
    console.log(
      JSON.stringify({
        kubernetesVersion,
        kubeApiserver: existsSync(binary) ? binary : null,
        etcd: etcdBinary(),
      }),
    );
    return 0;
  }
  console.error('usage: node deploy/tools/helm-test-cluster.mjs fetch | status');
  return 2;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then(
    (code) => process.exit(code),
    (error) => {
      console.error(error instanceof Error ? error.message : String(error));
      process.exit(1);
    },
  );
}
