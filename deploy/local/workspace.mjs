// @ts-check
/**
 * Brings a checkout to a runnable state: npm packages installed (when missing
 * or older than the lock file), TypeScript built and the edge bundled. Shared by `npm start`
 * and `npm test`, so both work as the first command on a fresh clone.
 */
import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Absolute path of the repository root. */
export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * Runs a command with inherited stdio; rejects with its exit status.
 * @param {string} command
 * @param {readonly string[]} args
 * @param {{ cwd?: string, env?: NodeJS.ProcessEnv, stdio?: 'inherit' | 'ignore' }} [options]
 * @returns {Promise<void>}
 */
export function run(command, args, options = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd ?? repoRoot,
      env: options.env ?? process.env,
      stdio: options.stdio ?? 'inherit',
    });
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${command} ${args.join(' ')} failed (${signal ?? `exit ${code}`})`));
    });
  });
}

/** True when node_modules is missing or older than the lock file. */
export function installNeeded() {
  const lock = join(repoRoot, 'package-lock.json');
  const installed = join(repoRoot, 'node_modules', '.package-lock.json');
  if (!existsSync(installed)) return true;
  if (!existsSync(lock)) return false;
  return statSync(installed).mtimeMs < statSync(lock).mtimeMs;
}

/**
 * Installs npm packages if needed, exactly as pinned by the lock file
 * (`npm ci`; `npm install` only when there is no lock file).
 * @param {(line: string) => void} [say]
 */
export async function ensureInstalled(say = () => {}) {
  if (!installNeeded()) return;
  say('installing npm packages');
  const lock = existsSync(join(repoRoot, 'package-lock.json'));
  await run('npm', [lock ? 'ci' : 'install', '--no-audit', '--no-fund']);
}

/**
 * Compiles every TypeScript project (incremental; fast when nothing changed),
 * then bundles the edge (`services/edge/dist/bundle/edge.js`, decision 050).
 * @param {(line: string) => void} [say]
 */
export async function build(say = () => {}) {
  say('building (tsc -b)');
  await run(process.execPath, [join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-b']);
  say('bundling the edge');
  await run(process.execPath, [join(repoRoot, 'deploy', 'tools', 'edge-bundle.mjs')], {
    stdio: 'ignore',
  });
}
