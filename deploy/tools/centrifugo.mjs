#!/usr/bin/env node
// @ts-check
/**
 * Centrifugo for the side-by-side benchmark (bench-only; `npm test` never
 * needs it): `go install github.com/centrifugal/centrifugo/v6@<version>`
 * through the Go module proxy into `<cache>/tools/centrifugo-<version>/`.
 * Whatever happens is written to `<cache>/tools/centrifugo-status.json`
 * (`{ binary }` or `{ error }`).
 *
 *   node deploy/tools/centrifugo.mjs build [version]   (default: latest)
 *
 * The benchmark suite (`npm run bench`, target `centrifugo`;
 * test/bench/centrifugo-target.ts) runs the binary named by
 * FANOUT_BENCH_CENTRIFUGO_BIN when it is set — any Centrifugo v6 binary,
 * e.g. one built from source where the module proxy does not serve
 * Centrifugo — and otherwise the one this script recorded; with neither it
 * reports Centrifugo as not run, with the reason (this script's error).
 * FANOUT_BENCH_CENTRIFUGO_VERSION names the version in the results when
 * `centrifugo version` cannot (a build without release flags says 0.0.0).
 *
 *   FANOUT_BENCH_CENTRIFUGO_BIN=/path/to/centrifugo npm run bench -- --targets fanout,centrifugo
 *
 * Environment of this script: FANOUT_CACHE_DIR (cache root), GO (the go
 * command), GOPROXY (as Go reads it; the default is the public Go module proxy).
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
    // The proxy's address says nothing the reader needs; its answer does.
    const reason = output
      .trim()
      .split('\n')
      .slice(-3)
      .join(' ')
      .replace(/reading https?:\/\/\S+: /g, 'the Go module proxy answers ')
      .replace(/\s+/g, ' ');
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
    console.error(
      'usage: node deploy/tools/centrifugo.mjs build [version]\n' +
        '(npm run bench runs FANOUT_BENCH_CENTRIFUGO_BIN instead when it is set)',
    );
    process.exit(2);
  }
  const result = await buildCentrifugo(version);
  if ('error' in result) {
    console.error(`centrifugo: ${result.error}`);
    process.exit(1);
  }
  console.log(result.binary);
}
