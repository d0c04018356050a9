#!/usr/bin/env node
// @ts-check
/**
 * `npm test`: the whole suite from any state of the checkout.
 *
 *   1. install npm packages if needed; 2. build (tsc -b);
 *   3. static checks — generated code fresh, lint, formatting
 *      (skip with FANOUT_TEST_STATIC=0);
 *   4. start ONE Kafka broker for the run (local jars, or Testcontainers when
 *      a Docker engine is reachable; FANOUT_TEST_KAFKA=local|container forces);
 *   5. run every compiled *.test.js with Node's test runner
 *      (`npm test -- <substring>...` keeps only matching files);
 *   6. stop the broker. The output ends with the test runner's summary.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { build, ensureInstalled, repoRoot, run } from '../deploy/local/workspace.mjs';

/** @param {string} line */
const say = (line) => console.log(`\n== ${line}`);

/**
 * Every *.test.js below `dir`, sorted, skipping node_modules.
 * @param {string} dir
 * @returns {string[]}
 */
function testFiles(dir) {
  if (!existsSync(dir)) return [];
  /** @type {string[]} */
  const found = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules') continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...testFiles(path));
    else if (entry.name.endsWith('.test.js')) found.push(path);
  }
  return found.sort();
}

function allTestFiles() {
  const services = join(repoRoot, 'services');
  const packages = readdirSync(services, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => join(services, entry.name, 'dist'));
  return [...packages, join(repoRoot, 'test', 'dist')].flatMap(testFiles);
}

async function staticChecks() {
  say('static checks: generated code, lint, formatting');
  await run('npm', ['run', '--silent', 'generate:check']);
  await run('npm', ['run', '--silent', 'lint']);
  await run(join(repoRoot, 'node_modules', '.bin', 'prettier'), [
    '--check',
    '--log-level',
    'warn',
    '.',
  ]);
}

/**
 * @param {string[]} files
 * @param {NodeJS.ProcessEnv} env
 * @returns {Promise<number>}
 */
function nodeTest(files, env) {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [
        '--enable-source-maps',
        '--test',
        '--test-reporter=spec',
        '--test-concurrency=1',
        '--test-timeout=300000',
        ...files,
      ],
      { cwd: repoRoot, env, stdio: 'inherit' },
    );
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

async function main() {
  const filters = process.argv.slice(2);
  await ensureInstalled((line) => say(line));
  await build((line) => say(line));
  if (process.env['FANOUT_TEST_STATIC'] !== '0') await staticChecks();

  const files = allTestFiles().filter(
    (file) => filters.length === 0 || filters.some((filter) => file.includes(filter)),
  );
  if (files.length === 0) {
    console.error(`no test files found${filters.length ? ` matching ${filters.join(', ')}` : ''}`);
    return 1;
  }

  const { startKafkaEnvironment } = await import(
    join(repoRoot, 'test', 'dist', 'support', 'kafka-environment.js')
  );
  say('starting Kafka for the run');
  /** @type {import('./support/kafka-environment.js').KafkaEnvironment} */
  const kafka = await startKafkaEnvironment();
  console.log(`Kafka (${kafka.kind}) on ${kafka.brokers.join(',')}`);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await kafka.stop().catch(() => {});
  };
  for (const signal of /** @type {const} */ (['SIGINT', 'SIGTERM'])) {
    process.once(signal, () => {
      void stop().then(() => process.exit(130));
    });
  }

  say(`running ${files.length} test files`);
  for (const file of files) console.log(`  ${relative(repoRoot, file)}`);
  const code = await nodeTest(files, {
    ...process.env,
    FANOUT_TEST_KAFKA_BROKERS: kafka.brokers.join(','),
  });
  await stop();
  return code;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  },
);
