#!/usr/bin/env node
// @ts-check
/**
 * `npm test`: the whole suite from any state of the checkout.
 *
 *   1. install npm packages when node_modules is missing or older than the lock file;
 *   2. build every TypeScript project (tsc -b) and the edge bundle;
 *   3. static checks: generated code fresh, lint, formatting
 *      (skipped with FANOUT_TEST_STATIC=0);
 *   4. start ONE Kafka broker for the run (local jars, or Testcontainers when a
 *      Docker engine answers; FANOUT_TEST_KAFKA=local|container forces one)
 *      and pass it to every test file as FANOUT_TEST_KAFKA_BROKERS;
 *   5. run every compiled *.test.js with Node's test runner, one file at a time
 *      (`npm test -- <substring>...` keeps the files whose path contains one);
 *   6. stop the broker without a word: the output ends with the test runner's
 *      summary, and the exit code is the test runner's.
 *
 * Nothing from node_modules is loaded before phase 1 has run.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
/**
 * Timeout of node --test. Node 20 applies it to each test file's process as a
 * whole too, so it must exceed the longest file: a chaos scenario starts its
 * own broker and processes and runs steps bounded by their own timeouts
 * (110 s each), which on a busy two-core machine took over 120 s in all.
 */
const testTimeoutMs = 300_000;
/**
 * The opt-in tests on the local Kubernetes cluster (FANOUT_TEST_CLUSTER=1)
 * build the cluster's components unless cached and run scenarios of several
 * minutes each: their files get 90 minutes.
 */
const fileTimeoutMs = process.env['FANOUT_TEST_CLUSTER'] === '1' ? 90 * 60_000 : testTimeoutMs;

/** @param {string} line */
const phase = (line) => console.log(`\n== ${line}`);

class PhaseFailed extends Error {}

/**
 * Runs a command with inherited stdio; rejects when it fails.
 * @param {string} command
 * @param {readonly string[]} args
 * @returns {Promise<void>}
 */
function run(command, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: repoRoot, stdio: 'inherit' });
    child.once('error', (error) =>
      reject(new PhaseFailed(`cannot run ${command}: ${error.message}`)),
    );
    child.once('exit', (code, signal) => {
      if (code === 0) resolve();
      else
        reject(
          new PhaseFailed(
            `${[command, ...args].join(' ')} failed (${signal ?? `exit code ${code}`})`,
          ),
        );
    });
  });
}

function installNeeded() {
  const installed = join(repoRoot, 'node_modules', '.package-lock.json');
  const lock = join(repoRoot, 'package-lock.json');
  if (!existsSync(installed)) return true;
  return existsSync(lock) && statSync(installed).mtimeMs < statSync(lock).mtimeMs;
}

async function install() {
  if (!installNeeded()) return;
  const lock = existsSync(join(repoRoot, 'package-lock.json'));
  phase(lock ? 'installing npm packages (npm ci)' : 'installing npm packages (npm install)');
  await run(npm, [lock ? 'ci' : 'install', '--no-audit', '--no-fund']);
}

async function build() {
  phase('building (tsc -b)');
  await run(process.execPath, [join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-b']);
  await run(process.execPath, [join(repoRoot, 'deploy', 'tools', 'edge-bundle.mjs')]);
}

async function staticChecks() {
  phase('static checks: generated code, lint, formatting');
  const manifest = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8'));
  /** @type {Record<string, string>} */
  const scripts = manifest.scripts ?? {};
  for (const script of ['generate:check', 'lint']) {
    if (scripts[script] === undefined) {
      throw new PhaseFailed(`package.json has no "${script}" script; static checks cannot run`);
    }
    await run(npm, ['run', '--silent', script]);
  }
  await run(process.execPath, [
    join(repoRoot, 'node_modules', 'prettier', 'bin', 'prettier.cjs'),
    '--check',
    '--log-level',
    'warn',
    '.',
  ]);
}

/**
 * Every *.test.js below `dir`, skipping node_modules.
 * @param {string} dir
 * @returns {string[]}
 */
function testFilesIn(dir) {
  if (!existsSync(dir)) return [];
  /** @type {string[]} */
  const found = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules') continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...testFilesIn(path));
    else if (entry.isFile() && entry.name.endsWith('.test.js')) found.push(path);
  }
  return found;
}

/** `services/*\/dist/**\/*.test.js` and `test/dist/**\/*.test.js`, sorted. */
function allTestFiles() {
  const services = join(repoRoot, 'services');
  const roots = readdirSync(services, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => join(services, entry.name, 'dist'));
  roots.push(join(repoRoot, 'test', 'dist'));
  return roots.flatMap(testFilesIn).sort();
}

/**
 * @typedef {object} KafkaEnvironment
 * @property {string[]} brokers
 * @property {'local' | 'container'} kind
 * @property {() => Promise<void>} stop
 */

/** @returns {Promise<KafkaEnvironment>} */
async function startKafka() {
  /** @type {typeof import('./support/start-kafka-environment.js')} */
  const support = await import(
    pathToFileURL(join(repoRoot, 'test', 'dist', 'support', 'start-kafka-environment.js')).href
  );
  const kind = await support.chooseKafkaEnvironmentKind();
  if (kind === 'local') {
    /** @type {typeof import('../deploy/kafka/local-kafka.mjs')} */
    const localKafka = await import(
      pathToFileURL(join(repoRoot, 'deploy', 'kafka', 'local-kafka.mjs')).href
    );
    await localKafka.ensureKafkaJars({ log: (line) => console.log(line) });
  }
  const started = Date.now();
  const kafka = await support.startKafkaEnvironment(kind);
  console.log(`Kafka (${kafka.kind}) on ${kafka.brokers.join(',')} in ${Date.now() - started} ms`);
  return kafka;
}

/**
 * @param {string[]} files
 * @param {NodeJS.ProcessEnv} env
 * @returns {{ child: import('node:child_process').ChildProcess, exit: Promise<number> }}
 */
function nodeTest(files, env) {
  const child = spawn(
    process.execPath,
    [
      '--enable-source-maps',
      '--test',
      '--test-reporter=spec',
      '--test-concurrency=1',
      `--test-timeout=${fileTimeoutMs}`,
      ...files,
    ],
    { cwd: repoRoot, env, stdio: 'inherit' },
  );
  const exit = new Promise((resolve) => {
    child.once('error', () => resolve(1));
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
  return { child, exit };
}

let interrupted = false;

async function main() {
  const filters = process.argv.slice(2);
  /** @type {KafkaEnvironment | undefined} */
  let kafka;
  /** @type {Promise<KafkaEnvironment> | undefined} */
  let starting;
  /** @type {ReturnType<typeof nodeTest> | undefined} */
  let tests;
  const stopKafka = async () => {
    const environment = kafka ?? (await starting?.catch(() => undefined));
    kafka = undefined;
    await environment?.stop().catch(() => {});
  };
  for (const signal of /** @type {const} */ (['SIGINT', 'SIGTERM'])) {
    process.on(signal, () => {
      if (interrupted) return;
      interrupted = true;
      // A terminal's Ctrl-C reaches the test processes too; a SIGTERM may not.
      if (signal === 'SIGTERM') tests?.child.kill('SIGTERM');
      void (async () => {
        await tests?.exit;
        await stopKafka();
        process.exit(signal === 'SIGINT' ? 130 : 143);
      })();
    });
  }

  await install();
  await build();
  if (process.env['FANOUT_TEST_STATIC'] !== '0') await staticChecks();

  const files = allTestFiles().filter(
    (file) => filters.length === 0 || filters.some((filter) => file.includes(filter)),
  );
  if (files.length === 0) {
    throw new PhaseFailed(
      `no test files found${filters.length > 0 ? ` matching ${filters.join(', ')}` : ''}`,
    );
  }

  phase('starting Kafka for the run');
  starting = startKafka();
  kafka = await starting;
  if (interrupted) return new Promise(() => {}); // the signal handler exits

  phase(`running ${files.length} test file${files.length === 1 ? '' : 's'}`);
  for (const file of files) console.log(`  ${relative(repoRoot, file)}`);
  tests = nodeTest(files, { ...process.env, FANOUT_TEST_KAFKA_BROKERS: kafka.brokers.join(',') });
  const code = await tests.exit;
  if (interrupted) return new Promise(() => {});
  await stopKafka();
  return code;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    if (interrupted) return; // the signal handler exits
    console.error(`\nnpm test: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
