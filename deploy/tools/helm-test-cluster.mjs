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
 * `go install k8s.io/kubernetes/cmd/kube-apiserver` does not work: the
 * module's go.mod replaces its k8s.io/* dependencies with ./staging
 * directories that the published module does not contain. So the module is
 * downloaded, its go.mod made to require the published k8s.io/* modules of
 * the same release (v0.X.Y for v1.X.Y) instead, and the command built from
 * that copy.
 *
 * Environment: FANOUT_CACHE_DIR (as deploy/tools/helm.mjs), GO.
 */
import { existsSync } from 'node:fs';
import { cp, mkdir, readFile, rm, writeFile, chmod } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCommand } from './run-command.mjs';
import { toolsDir } from './helm.mjs';

/** The Kubernetes release of the API server, pinned. */
export const kubernetesVersion = 'v1.37.2';

export function kubeApiserverBinary() {
  return join(toolsDir(), `kube-apiserver-${kubernetesVersion}`, 'kube-apiserver');
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
 * Builds kube-apiserver unless it is in the cache.
 * @param {{ log?: (line: string) => void }} [options]
 */
export async function ensureKubeApiserver(options = {}) {
  const log = options.log ?? (() => {});
  const binary = kubeApiserverBinary();
  if (existsSync(binary)) return binary;
  const go = process.env['GO'] || 'go';
  const env = { ...process.env, GOWORK: 'off', GOFLAGS: '-mod=mod', CGO_ENABLED: '0' };
  log(`downloading k8s.io/kubernetes@${kubernetesVersion} from the Go module proxy`);
  const info = /** @type {{ Dir?: string }} */ (
    JSON.parse(
      await runCommand(go, ['mod', 'download', '-json', `k8s.io/kubernetes@${kubernetesVersion}`], {
        env,
      }),
    )
  );
  if (info.Dir === undefined) throw new Error('go mod download named no directory');
  const source = join(toolsDir(), `kube-apiserver-${kubernetesVersion}-src`);
  await rm(source, { recursive: true, force: true });
  await cp(info.Dir, source, { recursive: true });
  await runCommand('chmod', ['-R', 'u+w', source]);
  await rm(join(source, 'go.work'), { force: true });
  await rm(join(source, 'go.work.sum'), { force: true });
  const goMod = join(source, 'go.mod');
  let text = await readFile(goMod, 'utf8');
  const replace = /^replace \(\n([\s\S]*?)^\)\n/m.exec(text);
  if (replace?.[1] === undefined) throw new Error('no replace block in go.mod');
  const staging = [...replace[1].matchAll(/^\s*(k8s\.io\/\S+) => \.\/staging\//gm)].map(
    (match) => match[1] ?? '',
  );
  text = text.replace(replace[0], '');
  const published = kubernetesVersion.replace(/^v1\./, 'v0.');
  for (const module of staging) {
    text = text.replace(
      new RegExp(`^(\\s*${module.replaceAll('.', '\\.')}) v0\\.0\\.0$`, 'm'),
      `$1 ${published}`,
    );
  }
  await writeFile(goMod, text);
  log(`building kube-apiserver (${staging.length} staging modules as published ${published})`);
  const target = join(toolsDir(), `kube-apiserver-${kubernetesVersion}`);
  await mkdir(target, { recursive: true });
  // The version the server reports (/version), as the release build sets it; Helm checks the
  // chart's kubeVersion against it.
  const [, major, minor] = /^v(\d+)\.(\d+)\./.exec(kubernetesVersion) ?? [];
  const ldflags = [
    `-X k8s.io/component-base/version.gitVersion=${kubernetesVersion}`,
    `-X k8s.io/component-base/version.gitMajor=${major ?? ''}`,
    `-X k8s.io/component-base/version.gitMinor=${minor ?? ''}`,
    '-X k8s.io/component-base/version.gitTreeState=clean',
  ].join(' ');
  await runCommand(go, ['build', `-ldflags=${ldflags}`, '-o', binary, './cmd/kube-apiserver'], {
    cwd: source,
    env,
  });
  await chmod(binary, 0o755);
  await rm(source, { recursive: true, force: true });
  return binary;
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
