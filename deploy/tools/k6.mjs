#!/usr/bin/env node
// @ts-check
/**
 * k6 for the load scripts (`test/load/`): k6 v1 with the `k6/x/sse`
 * extension (`deploy/tools/k6/`), built with Go from the Go module proxy and
 * cached under `<cache>/tools/k6-<hash>/k6`, where <hash> covers the Go
 * module's sources, so a changed extension or k6 version builds anew and an
 * unchanged one is reused. gRPC and WebSocket are k6's own modules.
 *
 *   node deploy/tools/k6.mjs build     build unless cached; prints the binary's path
 *   node deploy/tools/k6.mjs path      the path, whether or not it is built yet
 *   node deploy/tools/k6.mjs run ...   build unless cached, then run k6 with the arguments
 *
 * What xk6 would do (a main package importing k6 and the extension) is the
 * module in `deploy/tools/k6/`, with its go.sum pinning every dependency
 * (decision 030). Environment:
 *   FANOUT_CACHE_DIR   cache root (default $XDG_CACHE_HOME/fanout, ~/.cache/fanout)
 *   FANOUT_LOAD_K6     use this k6 binary instead (it must have k6/x/sse); the
 *                      former name FANOUT_K6 works for this release, with a warning
 *   GO                 the go command (default: go from PATH; Go ≥ 1.25)
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheDir } from '../kafka/local-kafka.mjs';

const moduleDir = join(dirname(fileURLToPath(import.meta.url)), 'k6');

/**
 * Every file of the Go module, sorted, for the cache key.
 * @param {string} dir
 * @returns {string[]}
 */
function moduleFiles(dir) {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) =>
      entry.isDirectory() ? moduleFiles(join(dir, entry.name)) : [join(dir, entry.name)],
    )
    .sort();
}

/** The k6 version the module requires (`go.k6.io/k6 vX.Y.Z` in go.mod). */
export function k6Version() {
  const goMod = readFileSync(join(moduleDir, 'go.mod'), 'utf8');
  const version = /^\s*go\.k6\.io\/k6 (v\S+)/m.exec(goMod)?.[1];
  if (version === undefined) throw new Error('deploy/tools/k6/go.mod requires no go.k6.io/k6');
  return version;
}

/**
 * FANOUT_LOAD_K6, or its former name FANOUT_K6 (which the services would
 * read as a setting of their own) with a warning.
 * @returns {string | undefined}
 */
function explicitK6() {
  if (process.env['FANOUT_LOAD_K6']) return process.env['FANOUT_LOAD_K6'];
  const former = process.env['FANOUT_K6'];
  if (!former) return undefined;
  console.error(
    'k6: FANOUT_K6 is deprecated and will be ignored in the next release: set FANOUT_LOAD_K6',
  );
  return former;
}

/** Where the binary for the current sources is (or will be). */
export function k6Path() {
  const explicit = explicitK6();
  if (explicit) return explicit;
  const hash = createHash('sha256');
  for (const file of moduleFiles(moduleDir)) {
    hash.update(relative(moduleDir, file));
    hash.update('\0');
    hash.update(readFileSync(file));
  }
  return join(
    cacheDir(),
    'tools',
    `k6-${k6Version()}-${hash.digest('hex').slice(0, 12)}`,
    process.platform === 'win32' ? 'k6.exe' : 'k6',
  );
}

/**
 * @param {string} command
 * @param {readonly string[]} args
 * @param {import('node:child_process').SpawnOptions} options
 * @returns {Promise<void>}
 */
function run(command, args, options) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: 'inherit', ...options });
    child.once('error', (error) => reject(new Error(`cannot run ${command}: ${error.message}`)));
    child.once('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${command} ${args.join(' ')} failed (${signal ?? `exit ${code}`})`));
    });
  });
}

/**
 * Builds k6 unless the binary for the current sources exists; returns its path.
 * @param {{ log?: (line: string) => void }} [options]
 */
export async function ensureK6(options = {}) {
  const log = options.log ?? ((line) => console.error(`k6: ${line}`));
  const target = k6Path();
  if (existsSync(target)) return target;
  if (explicitK6()) throw new Error(`FANOUT_LOAD_K6=${target} does not exist`);
  const go = process.env['GO'] || 'go';
  const started = Date.now();
  log(`building k6 ${k6Version()} with k6/x/sse (Go module proxy; a few minutes on 2 cores)`);
  mkdirSync(dirname(target), { recursive: true });
  const partial = `${target}.partial-${process.pid}`;
  try {
    await run(go, ['build', '-trimpath', '-buildvcs=false', '-mod=readonly', '-o', partial, '.'], {
      cwd: moduleDir,
      env: { ...process.env, CGO_ENABLED: '0', GOFLAGS: '', GOWORK: 'off' },
    });
    renameSync(partial, target);
  } finally {
    rmSync(partial, { force: true });
  }
  log(`built ${target} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return target;
}

const invokedAsScript =
  process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1];
if (invokedAsScript) {
  const [command = 'build', ...rest] = process.argv.slice(2);
  try {
    if (command === 'path') {
      console.log(k6Path());
    } else if (command === 'build') {
      console.log(await ensureK6());
    } else if (command === 'run') {
      const k6 = await ensureK6();
      await run(k6, rest, {}).catch(() => process.exit(1));
    } else {
      console.error('usage: node deploy/tools/k6.mjs build | path | run <k6 arguments>');
      process.exit(2);
    }
  } catch (error) {
    console.error(`k6: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
}
