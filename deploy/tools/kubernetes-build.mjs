// @ts-check
/**
 * Kubernetes components built from the published Go modules (Go module
 * proxy) into the cache, reused when present:
 * `<cache>/tools/kubernetes-<version>/<command>`.
 *
 * The one recipe for every Kubernetes command the project builds (the
 * chart tests' API server, deploy/tools/helm-test-cluster.mjs, and the local
 * cluster): the k8s.io/kubernetes module's go.mod replaces its k8s.io/* dependencies with
 * ./staging directories the published module does not contain, so the module
 * is downloaded, its go.mod made to require the published k8s.io/* modules of
 * the same release (v0.X.Y for v1.X.Y) and the commands built from that copy,
 * all in one `go build` so that they share compiled packages. Builds run under
 * `nice -n 19`.
 *
 * Environment: FANOUT_CACHE_DIR (as deploy/tools/helm.mjs), GO.
 */
import { existsSync } from 'node:fs';
import { chmod, cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand } from './run-command.mjs';
import { toolsDir } from './helm.mjs';

/** The commands a single-node cluster runs. */
export const clusterCommands = /** @type {const} */ ([
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kubelet',
  'kube-proxy',
]);

/** @param {string} version */
export function kubernetesDir(version) {
  return join(toolsDir(), `kubernetes-${version}`);
}

/**
 * @param {string} version
 * @param {string} command
 */
export function kubernetesBinary(version, command) {
  return join(kubernetesDir(version), command);
}

/**
 * Builds the missing commands of a Kubernetes release into the cache.
 * @param {string} version e.g. v1.34.4
 * @param {readonly string[]} commands e.g. clusterCommands
 * @param {{ log?: (line: string) => void }} [options]
 * @returns {Promise<Record<string, string>>} command -> binary
 */
export async function ensureKubernetes(version, commands, options = {}) {
  const log = options.log ?? (() => {});
  const target = kubernetesDir(version);
  /** @type {Record<string, string>} */
  const binaries = {};
  for (const command of commands) binaries[command] = kubernetesBinary(version, command);
  const missing = commands.filter((command) => !existsSync(kubernetesBinary(version, command)));
  if (missing.length === 0) return binaries;
  const go = process.env['GO'] || 'go';
  const env = { ...process.env, GOWORK: 'off', GOFLAGS: '-mod=mod', CGO_ENABLED: '0' };
  log(`downloading k8s.io/kubernetes@${version} from the Go module proxy`);
  const info = /** @type {{ Dir?: string }} */ (
    JSON.parse(
      await runCommand(go, ['mod', 'download', '-json', `k8s.io/kubernetes@${version}`], { env }),
    )
  );
  if (info.Dir === undefined) throw new Error('go mod download named no directory');
  const source = join(toolsDir(), `kubernetes-${version}-src`);
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
  const published = version.replace(/^v1\./, 'v0.');
  for (const module of staging) {
    text = text.replace(
      new RegExp(`^(\\s*${module.replaceAll('.', '\\.')}) v0\\.0\\.0$`, 'm'),
      `$1 ${published}`,
    );
  }
  await writeFile(goMod, text);
  await mkdir(target, { recursive: true });
  // The version the components report (/version, node status), as the release build sets it.
  const [, major, minor] = /^v(\d+)\.(\d+)\./.exec(version) ?? [];
  const ldflags = [
    `-X k8s.io/component-base/version.gitVersion=${version}`,
    `-X k8s.io/component-base/version.gitMajor=${major ?? ''}`,
    `-X k8s.io/component-base/version.gitMinor=${minor ?? ''}`,
    '-X k8s.io/component-base/version.gitTreeState=clean',
  ].join(' ');
  log(`building ${missing.join(', ')} ${version} (nice -n 19; this takes a while)`);
  await runCommand(
    'nice',
    [
      '-n',
      '19',
      go,
      'build',
      `-ldflags=${ldflags}`,
      '-o',
      `${target}/`,
      ...missing.map((command) => `./cmd/${command}`),
    ],
    { cwd: source, env },
  );
  for (const command of missing) await chmod(kubernetesBinary(version, command), 0o755);
  await rm(source, { recursive: true, force: true });
  return binaries;
}
