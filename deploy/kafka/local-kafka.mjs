#!/usr/bin/env node
// @ts-check
/**
 * A real, single-node Apache Kafka broker (KRaft, combined broker+controller)
 * for development, tests and CI, started from its Maven Central jars — no
 * Docker, no tarball download.
 *
 *   node deploy/kafka/local-kafka.mjs fetch             jars into the cache only
 *   node deploy/kafka/local-kafka.mjs start [options]   run until Ctrl-C / SIGTERM
 *       --port N             client listener port (default: a free port)
 *       --controller-port N  controller listener port (default: a free port)
 *       --data-dir DIR       data directory (default: a new temporary directory); one that
 *                            holds a formatted log is reused, so a restart keeps the data
 *       --keep-data          keep the data directory after stopping
 *
 * `start` prints one JSON line to stdout once the broker answers metadata
 * requests: {"event":"ready","bootstrap":"127.0.0.1:PORT",...}. Everything else
 * goes to stderr; the broker's own log is `broker.log` in the data directory.
 * It stops the broker when it gets SIGINT, SIGTERM or SIGHUP, or when its
 * standard input is a pipe that closes (its parent went away).
 *
 * Environment: FANOUT_CACHE_DIR (default $XDG_CACHE_HOME/fanout or
 * ~/.cache/fanout) holds kafka-<version>/libs; FANOUT_KAFKA_HEAP (default
 * 768m) caps the JVM heap; JAVA (default `java`) and MVN (default `mvn`).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, fstatSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, open, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const pom = join(here, 'pom.xml');
const host = '127.0.0.1';

/** The Kafka version pinned in pom.xml. */
export const kafkaVersion = (() => {
  const match = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(readFileSync(pom, 'utf8'));
  if (match?.[1] === undefined) throw new Error(`no <kafka.version> in ${pom}`);
  return match[1];
})();

/** Where the jars are cached, outside the repository. */
export function cacheDir() {
  if (process.env['FANOUT_CACHE_DIR']) return resolve(process.env['FANOUT_CACHE_DIR']);
  const base = process.env['XDG_CACHE_HOME'] || join(homedir(), '.cache');
  return join(base, 'fanout');
}

/** @param {string} line */
function log(line) {
  process.stderr.write(`local-kafka: ${line}\n`);
}

/**
 * @param {string} command
 * @param {readonly string[]} args
 * @param {{ quiet?: boolean }} [options]
 * @returns {Promise<string>} combined output
 */
function exec(command, args, options = {}) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    /** @param {Buffer} chunk */
    const collect = (chunk) => {
      output += chunk.toString();
      if (!options.quiet) process.stderr.write(chunk);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.once('error', (error) =>
      reject(new Error(`cannot run ${command}: ${error.message}`, { cause: error })),
    );
    child.once('exit', (code) => {
      if (code === 0) resolvePromise(output);
      else
        reject(
          new Error(`${command} ${args.join(' ')} exited with ${code}:\n${output.slice(-4000)}`),
        );
    });
  });
}

/**
 * Makes sure the broker's jars are in the cache; resolves them with Maven the
 * first time (about 10-30 s), then never calls Maven again for this version.
 * @returns {Promise<string>} the directory holding the jars
 */
export async function ensureKafkaJars() {
  const versionDir = join(cacheDir(), `kafka-${kafkaVersion}`);
  const libs = join(versionDir, 'libs');
  const marker = join(versionDir, 'complete');
  if (existsSync(marker) && existsSync(libs)) return libs;
  await mkdir(versionDir, { recursive: true });
  const staging = await mkdtemp(join(versionDir, 'libs-'));
  log(`fetching Apache Kafka ${kafkaVersion} jars from Maven Central into ${libs}`);
  const started = Date.now();
  try {
    await exec(
      process.env['MVN'] || 'mvn',
      [
        '-q',
        '-B',
        '-f',
        pom,
        'dependency:copy-dependencies',
        '-DincludeScope=runtime',
        `-DoutputDirectory=${staging}`,
      ],
      { quiet: true },
    );
    const jars = (await readdir(staging)).filter((name) => name.endsWith('.jar'));
    if (!jars.some((name) => name.startsWith(`kafka_2.13-${kafkaVersion}`))) {
      throw new Error(`Maven resolved no kafka_2.13-${kafkaVersion} jar`);
    }
    await rm(libs, { recursive: true, force: true });
    await rename(staging, libs);
    await writeFile(marker, `${jars.length} jars\n`);
    log(`fetched ${jars.length} jars in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return libs;
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
}

/** @returns {Promise<number>} a port that was free on 127.0.0.1 a moment ago */
export function freePort() {
  return new Promise((resolvePromise, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolvePromise(port));
    });
  });
}

/**
 * @param {number} port
 * @returns {Promise<boolean>}
 */
function portFree(port) {
  return new Promise((resolvePromise) => {
    const server = createServer();
    server.once('error', () => resolvePromise(false));
    server.listen(port, host, () => server.close(() => resolvePromise(true)));
  });
}

/**
 * @param {{ port: number, controllerPort: number, dataDir: string }} options
 */
function serverProperties({ port, controllerPort, dataDir }) {
  return [
    '# Written by deploy/kafka/local-kafka.mjs: one KRaft node, broker and controller, loopback only.',
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.bootstrap.servers=${host}:${controllerPort}`,
    `listeners=PLAINTEXT://${host}:${port},CONTROLLER://${host}:${controllerPort}`,
    `advertised.listeners=PLAINTEXT://${host}:${port},CONTROLLER://${host}:${controllerPort}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    `log.dirs=${join(dataDir, 'logs')}`,
    'num.partitions=1',
    'default.replication.factor=1',
    'min.insync.replicas=1',
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=1',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    'group.initial.rebalance.delay.ms=0',
    'auto.create.topics.enable=false',
    'delete.topic.enable=true',
    'log.retention.check.interval.ms=10000',
    'log.segment.delete.delay.ms=1000',
    'num.network.threads=2',
    'num.io.threads=4',
    '',
  ].join('\n');
}

/** @param {string} logFile */
function log4jProperties(logFile) {
  return [
    'status = error',
    'appender.file.type = File',
    'appender.file.name = file',
    `appender.file.fileName = ${logFile}`,
    'appender.file.layout.type = PatternLayout',
    'appender.file.layout.pattern = [%d] %p %m (%c)%n',
    'rootLogger.level = INFO',
    'rootLogger.appenderRef.file.ref = file',
    'logger.kafka.name = kafka',
    'logger.kafka.level = INFO',
    'logger.apache.name = org.apache',
    'logger.apache.level = WARN',
    '',
  ].join('\n');
}

/** @param {string} file @param {number} lines */
function tail(file, lines) {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no broker log)';
  }
}

/**
 * Waits until the broker answers a metadata request (kafkajs admin).
 * @param {string} bootstrap
 * @param {number} deadline epoch ms
 * @param {() => string | undefined} failed returns a reason when the JVM died
 */
async function waitForMetadata(bootstrap, deadline, failed) {
  const { default: kafkajs } = await import('kafkajs');
  const kafka = new kafkajs.Kafka({
    clientId: 'fanout-local-kafka',
    brokers: [bootstrap],
    logLevel: kafkajs.logLevel.NOTHING,
    connectionTimeout: 1000,
    requestTimeout: 2000,
    retry: { retries: 0 },
  });
  for (;;) {
    const reason = failed();
    if (reason !== undefined) throw new Error(reason);
    const admin = kafka.admin();
    try {
      await admin.connect();
      const cluster = await admin.describeCluster();
      if (cluster.brokers.length > 0 && cluster.controller !== null) return;
    } catch {
      // not up yet
    } finally {
      await admin.disconnect().catch(() => {});
    }
    if (Date.now() > deadline) throw new Error('broker did not answer metadata requests in time');
    await sleep(150);
  }
}

/**
 * @typedef {object} LocalKafka
 * @property {string} bootstrap host:port for clients
 * @property {number} port
 * @property {number} controllerPort
 * @property {number} pid the JVM's process id
 * @property {string} dataDir
 * @property {string} logFile
 * @property {() => Promise<void>} stop stops the JVM and removes the data unless kept
 */

/**
 * Formats storage and starts a broker; resolves once it serves metadata.
 * @param {{ port?: number, controllerPort?: number, dataDir?: string, keepData?: boolean, timeoutMs?: number }} [options]
 * @returns {Promise<LocalKafka>}
 */
export async function startLocalKafka(options = {}) {
  const libs = await ensureKafkaJars();
  const port = options.port ?? (await freePort());
  const controllerPort = options.controllerPort ?? (await freePort());
  if (!(await portFree(port))) throw new Error(`port ${host}:${port} is already in use`);
  if (!(await portFree(controllerPort))) {
    throw new Error(`controller port ${host}:${controllerPort} is already in use`);
  }
  const ownDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'fanout-kafka-')));
  await mkdir(dataDir, { recursive: true });
  const properties = join(dataDir, 'server.properties');
  const logFile = join(dataDir, 'broker.log');
  const log4j = join(dataDir, 'log4j2.properties');
  await writeFile(properties, serverProperties({ port, controllerPort, dataDir }));
  await writeFile(log4j, log4jProperties(logFile));

  const java = process.env['JAVA'] || 'java';
  const jvm = [
    '-Xms128m',
    `-Xmx${process.env['FANOUT_KAFKA_HEAP'] || '768m'}`,
    '-XX:+UseSerialGC',
    '-XX:TieredStopAtLevel=1',
    '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${pathToFileURL(log4j).href}`,
    `-Djava.io.tmpdir=${dataDir}`,
    '-cp',
    join(libs, '*'),
  ];
  const started = Date.now();
  // A data directory that was formatted before is reused as it is (a restart keeps the log).
  if (!existsSync(join(dataDir, 'logs', 'meta.properties'))) {
    const clusterId = randomBytes(16).toString('base64url');
    const format = ['kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', properties];
    await exec(java, [...jvm, ...format, '--standalone'], { quiet: true });
  }

  const out = await open(join(dataDir, 'jvm.out'), 'a');
  const broker = spawn(java, [...jvm, 'kafka.Kafka', properties], {
    stdio: ['ignore', out.fd, out.fd],
  });
  await out.close();
  /** @type {string | undefined} */
  let exited;
  const exit = new Promise((resolveExit) => {
    broker.once('exit', (code, signal) => {
      exited = `broker JVM exited (${signal ?? `code ${code}`})`;
      resolveExit(undefined);
    });
  });
  broker.once('error', (error) => {
    exited = `cannot start ${java}: ${error.message}`;
  });

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (exited === undefined) {
      broker.kill('SIGTERM');
      const killed = await Promise.race([exit.then(() => false), sleep(20_000).then(() => true)]);
      if (killed) {
        broker.kill('SIGKILL');
        await exit;
      }
    }
    if (ownDir && !options.keepData) await rm(dataDir, { recursive: true, force: true });
  };

  const bootstrap = `${host}:${port}`;
  try {
    await waitForMetadata(bootstrap, started + (options.timeoutMs ?? 60_000), () =>
      exited === undefined
        ? undefined
        : `${exited}; last lines of ${logFile}:\n${tail(logFile, 30)}\n${tail(join(dataDir, 'jvm.out'), 10)}`,
    );
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const detail = exited === undefined ? `\nlast lines of ${logFile}:\n${tail(logFile, 30)}` : '';
    await stop();
    throw new Error(`Kafka ${kafkaVersion} failed to start on ${bootstrap}: ${message}${detail}`, {
      cause: error,
    });
  }
  return {
    bootstrap,
    port,
    controllerPort,
    pid: broker.pid ?? -1,
    dataDir,
    logFile,
    stop,
  };
}

/** @param {string[]} args */
function parseStartArgs(args) {
  /** @type {{ port?: number, controllerPort?: number, dataDir?: string, keepData?: boolean }} */
  const options = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const value = () => {
      const next = args[++i];
      if (next === undefined) throw new Error(`${arg} needs a value`);
      return next;
    };
    /** @param {string} raw */
    const port = (raw) => {
      const n = Number(raw);
      if (!Number.isInteger(n) || n < 1 || n > 65535) {
        throw new Error(`${arg} must be a port number 1-65535 (got "${raw}")`);
      }
      return n;
    };
    if (arg === '--port') options.port = port(value());
    else if (arg === '--controller-port') options.controllerPort = port(value());
    else if (arg === '--data-dir') options.dataDir = resolve(value());
    else if (arg === '--keep-data') options.keepData = true;
    else throw new Error(`unknown option ${arg}`);
  }
  return options;
}

/** True when standard input is a pipe, which closes when the parent goes away. */
function stdinIsPipe() {
  try {
    return fstatSync(0).isFIFO();
  } catch {
    return false;
  }
}

async function main() {
  const [command, ...args] = process.argv.slice(2);
  if (command === 'fetch') {
    const libs = await ensureKafkaJars();
    log(`Apache Kafka ${kafkaVersion} jars ready in ${libs}`);
    return;
  }
  if (command !== 'start') {
    process.stderr.write(
      'usage: local-kafka.mjs fetch | start [--port N] [--controller-port N] [--data-dir DIR] [--keep-data]\n',
    );
    process.exitCode = 2;
    return;
  }
  const options = parseStartArgs(args);
  /** @type {LocalKafka | undefined} */
  let kafka;
  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    if (kafka !== undefined) {
      log('stopping broker');
      await kafka.stop();
    }
    process.exit(0);
  };
  for (const signal of /** @type {const} */ (['SIGINT', 'SIGTERM', 'SIGHUP'])) {
    process.on(signal, () => void shutdown());
  }
  if (stdinIsPipe()) {
    process.stdin.resume();
    process.stdin.on('end', () => void shutdown());
    process.stdin.on('error', () => void shutdown());
  }
  const started = Date.now();
  kafka = await startLocalKafka(options);
  if (stopping) {
    await kafka.stop();
    return;
  }
  process.stdout.write(
    `${JSON.stringify({
      event: 'ready',
      bootstrap: kafka.bootstrap,
      port: kafka.port,
      controllerPort: kafka.controllerPort,
      pid: kafka.pid,
      dataDir: kafka.dataDir,
      logFile: kafka.logFile,
      version: kafkaVersion,
      startMs: Date.now() - started,
    })}\n`,
  );
  log(`Apache Kafka ${kafkaVersion} ready on ${kafka.bootstrap} in ${Date.now() - started} ms`);
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error) => {
    log(error instanceof Error ? error.message : String(error));
    process.exit(1);
  });
}
