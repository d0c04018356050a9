// @ts-check
/**
 * Host commands that come from Debian packages: whether they are on the
 * PATH, and installing the missing ones with apt — only as root with CI=true;
 * elsewhere the caller fails with the apt command to run.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand } from './run-command.mjs';

/** @param {string} command */
export function onPath(command) {
  return (process.env['PATH'] ?? '')
    .split(':')
    .some((dir) => dir !== '' && existsSync(join(dir, command)));
}

export function isCi() {
  const ci = process.env['CI'];
  return ci !== undefined && ci !== '' && ci !== 'false';
}

export function isRoot() {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/**
 * Installs `packages` (for the `missing` commands) with apt when running in
 * CI; otherwise fails naming the commands and the apt command.
 * @param {readonly string[]} missing
 * @param {readonly string[]} packages
 * @param {(line: string) => void} log
 */
export async function installDebianPackages(missing, packages, log) {
  if (!isCi()) {
    throw new Error(
      `${missing.join(', ')} not installed (Debian: apt-get install --no-install-recommends ${packages.join(' ')})`,
    );
  }
  log(`installing ${packages.join(' ')} with apt`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  await runCommand('apt-get', ['update', '-qq'], { env });
  await runCommand('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages], {
    env,
  });
}
