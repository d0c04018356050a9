#!/usr/bin/env node
// @ts-check
/**
 * Centrifugo for the side-by-side benchmark (bench-only; `npm test` never
 * needs it): `go install github.com/centrifugal/centrifugo/v6@<version>`
 * through the Go module proxy into `<cache>/tools/centrifugo-<version>/`.
 * Whatever happens is written to `<cache>/tools/centrifugo-status.json`
 * (`{ binary }` or `{ error }`), which the benchmark runner reads to run
 * Centrifugo or to say why it could not.
 *
 *   node deploy/tools/centrifugo.mjs build [version]   (default: latest)
 *
 * Environment: FANOUT_CACHE_DIR (cache root), GO (the go command),
 * GOPROXY (as Go reads it; the default is the public Go module proxy).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheDir } from '../kafka/local-kafka.mjs';

const modulePath = 'github.com/centrifugal/centrifugo/v6';

export function statusFile() {
  return join(cacheDir(), 'tools', 'centrifugo-status.json');
}

/**
 * @param {string} go
 * @param {string[]} args
 * @param {NodeJS.ProcessEnv} env
 * @returns {Promise<{ code: number | null, output: string }>}
 */
function run(go, args, env) {
  return new Promise((resolve) => {
    const child = spawn(go, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const collect = (/** @type {Buffer} */ chunk) => {
      output = (output + chunk.toString('utf8')).slice(-8000);
      process.stderr.write(chunk);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.once('error', (error) => resolve({ code: -1, output: error.message }));
    child.once('exit', (code) => resolve({ code, output }));
  });
}

/** @param {string} version */
export async function buildCentrifugo(version = 'latest') {
  const dir = join(cacheDir(), 'tools', `centrifugo-${version}`);
  const binary = join(dir, 'centrifugo');
  mkdirSync(dir, { recursive: true });
  if (version !== 'latest' && existsSync(binary)) {
    writeFileSync(statusFile(), JSON.stringify({ binary, version }) + '\n');
    return { binary };
  }
  const go = process.env['GO'] || 'go';
  const started = Date.now();
  const { code, output } = await run(go, ['install', '-trimpath', `${modulePath}@${version}`], {
    ...process.env,
    GOBIN: dir,
    CGO_ENABLED: '0',
    GOFLAGS: '-buildvcs=false',
  });
  if (code !== 0 || !existsSync(binary)) {
    const reason = output.trim().split('\n').slice(-3).join(' ');
    const error = `go install ${modulePath}@${version} failed: ${reason}`;
    writeFileSync(statusFile(), JSON.stringify({ error, at: new Date().toISOString() }) + '\n');
    return { error };
  }
  writeFileSync(
    statusFile(),
    JSON.stringify({ binary, version, seconds: (Date.now() - started) / 1000 }) + '\n',
  );
  return { binary };
}

const invokedAsScript =
  process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1];
if (invokedAsScript) {
  const [command = 'build', version = 'latest'] = process.argv.slice(2);
  if (command !== 'build') {
    console.error('usage: node deploy/tools/centrifugo.mjs build [version]');
    process.exit(2);
  }
  const result = await buildCentrifugo(version);
  if ('error' in result) {
    console.error(`centrifugo: ${result.error}`);
    process.exit(1);
  }
  console.log(result.binary);
}
