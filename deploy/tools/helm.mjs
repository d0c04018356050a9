#!/usr/bin/env node
// @ts-check
/**
 * The chart's tools, built or installed from package registries into the
 * cache (never downloaded as prebuilt binaries), reused when present:
 *
 *   - Helm, `go install helm.sh/helm/v3/cmd/helm@<helmVersion>` from the Go
 *     module proxy into `<cache>/tools/helm-<version>/helm`;
 *   - kubernetes-validate (PyPI), which carries the Kubernetes API JSON
 *     schemas of several releases, into a virtual environment
 *     `<cache>/tools/kubernetes-validate-<version>/`.
 *
 *   node deploy/tools/helm.mjs fetch          install both when missing
 *   node deploy/tools/helm.mjs status         where they are, as JSON
 *   node deploy/tools/helm.mjs helm ARGS...   run the pinned Helm
 *
 * Needs Go (1.24 or newer; an older go with toolchain support fetches a newer
 * toolchain from the module proxy by itself) and Python 3 with `venv`
 * (Debian: python3-venv).
 *
 * Environment:
 *   FANOUT_CACHE_DIR    cache root (default $XDG_CACHE_HOME/fanout, ~/.cache/fanout)
 *   GO, PYTHON          the go and python3 commands (default: from PATH)
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCommand } from './run-command.mjs';

/** Helm, pinned. */
export const helmVersion = 'v3.21.4';
/**
 * The Kubernetes minor version Helm assumes without a cluster (`helm template`,
 * `helm lint`): that of the client-go it is built with (v0.36 for Helm
 * v3.21.4). Release builds set it with -ldflags, as Helm's Makefile does;
 * without them `go install` leaves Helm believing in Kubernetes 1.20.
 */
const helmKubeMinor = '36';
/** kubernetes-validate (PyPI), pinned; it carries schemas of Kubernetes 1.25 to 1.35. */
export const kubernetesValidateVersion = '1.35.0';
/** The Kubernetes releases the chart is validated against: the oldest supported and the newest bundled. */
export const kubernetesVersions = /** @type {const} */ (['1.29.0', '1.35.0']);

/** The cache root, outside the repository (as deploy/kafka/local-kafka.mjs). */
export function cacheDir() {
  const explicit = process.env['FANOUT_CACHE_DIR'];
  if (explicit) return resolve(explicit);
  const base = process.env['XDG_CACHE_HOME'] || join(homedir(), '.cache');
  return join(base, 'fanout');
}

export function toolsDir() {
  return join(cacheDir(), 'tools');
}

/** Path of the pinned Helm binary (it may not exist yet). */
export function helmBinary() {
  return join(toolsDir(), `helm-${helmVersion}`, 'helm');
}

function kubernetesValidateDir() {
  return join(toolsDir(), `kubernetes-validate-${kubernetesValidateVersion}`);
}

/** Path of the kubernetes-validate command (it may not exist yet). */
export function kubernetesValidateBinary() {
  return join(kubernetesValidateDir(), 'bin', 'kubernetes-validate');
}

/**
 * Builds the pinned Helm with `go install` unless it is in the cache.
 * @param {{ log?: (line: string) => void }} [options]
 * @returns {Promise<string>} the binary
 */
export async function ensureHelm(options = {}) {
  const log = options.log ?? (() => {});
  const binary = helmBinary();
  if (existsSync(binary)) return binary;
  const go = process.env['GO'] || 'go';
  const target = join(toolsDir(), `helm-${helmVersion}`);
  await mkdir(target, { recursive: true });
  log(`building Helm ${helmVersion} with go install (module proxy) into ${target}`);
  const started = Date.now();
  const ldflags = [
    '-s',
    '-w',
    `-X helm.sh/helm/v3/internal/version.version=${helmVersion}`,
    `-X helm.sh/helm/v3/internal/version.gitTreeState=clean`,
    '-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1',
    `-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=${helmKubeMinor}`,
    '-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1',
    `-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=${helmKubeMinor}`,
  ].join(' ');
  await runCommand(
    go,
    ['install', '-trimpath', `-ldflags=${ldflags}`, `helm.sh/helm/v3/cmd/helm@${helmVersion}`],
    {
      env: { ...process.env, GOBIN: target, GOFLAGS: '-mod=mod', CGO_ENABLED: '0' },
    },
  );
  if (!existsSync(binary)) throw new Error(`go install finished without ${binary}`);
  log(`Helm ${helmVersion} built in ${Math.round((Date.now() - started) / 1000)} s`);
  return binary;
}

/**
 * Installs kubernetes-validate into its own virtual environment unless it is there.
 * @param {{ log?: (line: string) => void }} [options]
 * @returns {Promise<string>} the command
 */
export async function ensureKubernetesValidate(options = {}) {
  const log = options.log ?? (() => {});
  const binary = kubernetesValidateBinary();
  if (existsSync(binary)) return binary;
  const python = process.env['PYTHON'] || 'python3';
  const dir = kubernetesValidateDir();
  log(`installing kubernetes-validate ${kubernetesValidateVersion} (PyPI) into ${dir}`);
  await rm(dir, { recursive: true, force: true });
  await mkdir(toolsDir(), { recursive: true });
  try {
    await runCommand(python, ['-m', 'venv', dir]);
  } catch (error) {
    throw new Error(
      `${error instanceof Error ? error.message : String(error)}\n` +
        'Python 3 with the venv module is needed (Debian: apt-get install python3-venv).',
      { cause: error },
    );
  }
  const pip = join(dir, 'bin', 'pip');
  await runCommand(pip, [
    'install',
    '--quiet',
    '--disable-pip-version-check',
    `kubernetes-validate==${kubernetesValidateVersion}`,
  ]);
  if (!existsSync(binary)) throw new Error(`pip finished without ${binary}`);
  return binary;
}

/** @returns {{ helm: string | null, kubernetesValidate: string | null }} */
export function toolStatus() {
  return {
    helm: existsSync(helmBinary()) ? helmBinary() : null,
    kubernetesValidate: existsSync(kubernetesValidateBinary()) ? kubernetesValidateBinary() : null,
  };
}

async function main() {
  const [command, ...rest] = process.argv.slice(2);
  /** @param {string} line */
  const log = (line) => console.error(line);
  switch (command) {
    case 'fetch': {
      const helm = await ensureHelm({ log });
      const validate = await ensureKubernetesValidate({ log });
      console.log(JSON.stringify({ helm, kubernetesValidate: validate }));
      return 0;
    }
    case 'status':
      console.log(
        JSON.stringify({
          helmVersion,
          kubernetesValidateVersion,
          kubernetesVersions,
          ...toolStatus(),
        }),
      );
      return 0;
    case 'helm': {
      const helm = await ensureHelm({ log });
      const child = spawn(helm, rest, { stdio: 'inherit' });
      return new Promise((resolvePromise) => {
        child.once('exit', (code) => resolvePromise(code ?? 1));
      });
    }
    default:
      console.error('usage: node deploy/tools/helm.mjs fetch | status | helm ARGS...');
      return 2;
  }
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
