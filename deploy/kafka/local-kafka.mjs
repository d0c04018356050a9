#!/usr/bin/env node
// @ts-check
/**
 * A real, single-node Apache Kafka broker (KRaft, combined broker+controller)
 * for development, tests and CI, run from its Maven Central jars: no Docker,
 * no tarball download.
 *
 *   node deploy/kafka/local-kafka.mjs fetch             jars into the cache only
 *   node deploy/kafka/local-kafka.mjs start [options]   run until Ctrl-C / SIGTERM
 *       --port N             client listener port (default: a free port)
 *       --controller-port N  controller listener port (default: a free port)
 *       --host ADDR          address of every listener (default 127.0.0.1); another
 *                            local address serves clients in network namespaces
 *                            routed to it (deploy/tools/local-cluster.mjs)
 *       --data-dir DIR       data directory (default: a new temporary directory)
 *       --keep-data          keep the temporary data directory after stopping
 *       --sasl-user NAME:PASSWORD
 *                            also listen for SASL clients (PLAIN, SCRAM-SHA-256,
 *                            SCRAM-SHA-512) with this one user
 *       --sasl-port N        that SASL listener's port (default: a free port)
 *   node deploy/kafka/local-kafka.mjs status            the cache, as JSON
 *
 * `start` prints one JSON line to stdout once the broker answers metadata
 * requests: {"event":"ready","bootstrap":"127.0.0.1:PORT",...} (with
 * "saslBootstrap" when a SASL listener was asked for). Everything else
 * goes to stderr; the broker's own log is `broker.log` in the data directory.
 * It stops the broker on SIGINT, SIGTERM or SIGHUP, and when its standard
 * input is a pipe or socket that closes (its parent went away). On Linux the
 * JVM also gets SIGTERM if this process dies without cleaning up.
 *
 * Environment (FANOUT_LOCAL_* names, which the services' configuration
 * loader leaves alone, so they can be set for `npm start` too):
 *   FANOUT_CACHE_DIR                cache root (default $XDG_CACHE_HOME/fanout, ~/.cache/fanout)
 *   FANOUT_LOCAL_KAFKA_HEAP         maximum JVM heap (default 768m)
 *   FANOUT_LOCAL_KAFKA_JVM_OPTS     extra JVM options, appended (space-separated)
 *   FANOUT_LOCAL_KAFKA_CDS=0        do not use a class-data-sharing archive
 *   JAVA, MVN                       the java and mvn commands (default: from PATH)
 * The former names FANOUT_KAFKA_HEAP, FANOUT_KAFKA_JVM_OPTS and
 * FANOUT_KAFKA_CDS still work for this release, with a warning.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, fstatSync, readFileSync } from 'node:fs';
import {
  mkdir,
  mkdtemp,
  open,
  readdir,
  readFile,
  realpath,
  rename,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { basename, delimiter, dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const pomFile = join(here, 'pom.xml');
/** The listeners' address unless StartOptions.host says otherwise. */
const host = '127.0.0.1';
/** Written into the libs directory last, before it is renamed into place. */
const completeMarker = '.complete';

/** The Kafka version pinned in pom.xml. */
export const kafkaVersion = (() => {
  const match = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(readFileSync(pomFile, 'utf8'));
  if (match?.[1] === undefined) throw new Error(`no <kafka.version> in ${pomFile}`);
  return match[1];
})();

/** The cache root, outside the repository. */
export function cacheDir() {
  const explicit = process.env['FANOUT_CACHE_DIR'];
  if (explicit) return resolve(explicit);
  const base = process.env['XDG_CACHE_HOME'] || join(homedir(), '.cache');
  return join(base, 'fanout');
}

/** `<cache>/kafka-<version>`: the jars (`libs/`) and class-data-sharing archives (`cds/`). */
export function kafkaCacheDir() {
  return join(cacheDir(), `kafka-${kafkaVersion}`);
}

/** @param {string} line */
/**
 * A KRaft cluster id: 16 random bytes in base64url, drawn again when it
 * would start with "-" (the storage tool would read it as an option), as
 * Kafka's own Uuid.randomUuid() does.
 */
function newClusterId() {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

function say(line) {
  process.stderr.write(`local-kafka: ${line}\n`);
}

/** Former names of the tooling variables, read for one more release. */
const formerNames = /** @type {const} */ ({
  FANOUT_LOCAL_KAFKA_HEAP: 'FANOUT_KAFKA_HEAP',
  FANOUT_LOCAL_KAFKA_JVM_OPTS: 'FANOUT_KAFKA_JVM_OPTS',
  FANOUT_LOCAL_KAFKA_CDS: 'FANOUT_KAFKA_CDS',
});
/** @type {Set<string>} */
const warnedFormerNames = new Set();

/**
 * A tooling variable of this script, or its former name (with a warning:
 * the services read FANOUT_KAFKA_* as their own configuration).
 * @param {keyof typeof formerNames} name
 * @returns {string | undefined}
 */
export function toolingEnv(name) {
  const value = process.env[name];
  if (value !== undefined && value !== '') return value;
  const former = formerNames[name];
  const old = process.env[former];
  if (old === undefined || old === '') return undefined;
  if (!warnedFormerNames.has(former)) {
    warnedFormerNames.add(former);
    say(`${former} is deprecated and will be ignored in the next release: set ${name} instead`);
  }
  return old;
}

/** @param {unknown} error */
function messageOf(error) {
  return error instanceof Error ? error.message : String(error);
}

/** @param {unknown} error @param {string} code */
function hasCode(error, code) {
  return error instanceof Error && 'code' in error && error.code === code;
}

/**
 * Runs a command to completion and collects its output. The command gets its
 * own process group, so a terminal's Ctrl-C reaches only this process, which
 * decides what to stop and in which order (`signal`).
 * @param {string} command
 * @param {readonly string[]} args
 * @param {{ signal?: AbortSignal | undefined, name?: string }} [options]
 * @returns {Promise<string>} stdout and stderr, interleaved
 */
function capture(command, args, options = {}) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    let output = '';
    /** @param {Buffer} chunk */
    const collect = (chunk) => {
      output = (output + chunk.toString()).slice(-64_000);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.once('error', (error) => {
      if (error.name === 'AbortError') reject(error);
      else reject(new Error(`cannot run ${command}: ${error.message}`, { cause: error }));
    });
    child.once('close', (code, signal) => {
      if (code === 0) resolvePromise(output);
      else {
        const status = signal ?? `exit code ${code}`;
        const name = options.name ?? basename(command);
        reject(new Error(`${name} failed (${status}):\n${output.slice(-4000)}`));
      }
    });
  });
}

/** @param {string} file */
function sha256(file) {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/**
 * @param {string} libs
 * @param {string} pomDigest
 */
async function jarsComplete(libs, pomDigest) {
  try {
    const marker = JSON.parse(await readFile(join(libs, completeMarker), 'utf8'));
    return typeof marker === 'object' && marker !== null && marker.pom === pomDigest;
  } catch {
    return false;
  }
}

/**
 * Makes sure the broker's jars are in the cache and match pom.xml. The first
 * time (or after pom.xml changed) Maven resolves them into a temporary
 * directory that is renamed into place once complete; afterwards this only
 * reads a marker file and never runs Maven.
 * @param {{ log?: (line: string) => void, signal?: AbortSignal }} [options]
 * @returns {Promise<string>} the directory holding the jars
 */
export async function ensureKafkaJars(options = {}) {
  const log = options.log ?? say;
  const versionDir = kafkaCacheDir();
  const libs = join(versionDir, 'libs');
  const pomDigest = sha256(pomFile);
  if (await jarsComplete(libs, pomDigest)) return libs;

  await mkdir(versionDir, { recursive: true });
  const staging = await mkdtemp(join(versionDir, 'libs.fetching-'));
  log(`fetching Apache Kafka ${kafkaVersion} jars from Maven Central into ${libs}`);
  const started = Date.now();
  try {
    await capture(
      process.env['MVN'] || 'mvn',
      [
        '-q',
        '-B',
        '-f',
        pomFile,
        'dependency:copy-dependencies',
        '-DincludeScope=runtime',
        `-DoutputDirectory=${staging}`,
      ],
      { signal: options.signal },
    );
    const jars = (await readdir(staging)).filter((name) => name.endsWith('.jar')).sort();
    if (!jars.includes(`kafka_2.13-${kafkaVersion}.jar`)) {
      throw new Error(`Maven resolved no kafka_2.13-${kafkaVersion}.jar (got ${jars.join(', ')})`);
    }
    const marker = { kafka: kafkaVersion, pom: pomDigest, fetched: new Date().toISOString(), jars };
    await writeFile(join(staging, completeMarker), `${JSON.stringify(marker, null, 2)}\n`);
    await publishDirectory(staging, libs, () => jarsComplete(libs, pomDigest));
    await rm(join(versionDir, 'complete'), { force: true }); // marker of an older layout
    log(`fetched ${jars.length} jars in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return libs;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/**
 * Renames `staging` to `target`. If `target` exists (a concurrent fetch won,
 * or it is outdated), keeps it when `targetIsGood`, replaces it otherwise.
 * @param {string} staging
 * @param {string} target
 * @param {() => Promise<boolean>} targetIsGood
 */
async function publishDirectory(staging, target, targetIsGood) {
  try {
    await rename(staging, target);
    return;
  } catch (error) {
    if (!hasCode(error, 'ENOTEMPTY') && !hasCode(error, 'EEXIST')) throw error;
  }
  if (await targetIsGood()) return;
  const old = `${target}.old-${randomBytes(4).toString('hex')}`;
  await rename(target, old);
  await rename(staging, target);
  await rm(old, { recursive: true, force: true });
}

/** @returns {Promise<number>} a port that was free on the address (127.0.0.1) a moment ago */
export function freePort(address = host) {
  return new Promise((resolvePromise, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, address, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolvePromise(port));
    });
  });
}

/** @param {number} port @param {string} address @returns {Promise<boolean>} */
function portFree(port, address) {
  return new Promise((resolvePromise) => {
    const server = createServer();
    server.once('error', () => resolvePromise(false));
    server.listen(port, address, () => server.close(() => resolvePromise(true)));
  });
}

/**
 * @typedef {object} SaslListener
 * @property {string} username the one user, for PLAIN and both SCRAM mechanisms
 * @property {string} password
 * @property {number} [port] the listener's port (default: a free one)
 */

/** The SASL mechanisms the SASL listener accepts. */
export const saslMechanisms = /** @type {const} */ (['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512']);

/** User names and passwords go into a JAAS line and the storage tool's arguments unquoted. */
const credentialPattern = /^[A-Za-z0-9._-]{1,64}$/;

/** @param {SaslListener} sasl */
function checkCredentials(sasl) {
  for (const [what, value] of [
    ['user name', sasl.username],
    ['password', sasl.password],
  ]) {
    if (!credentialPattern.test(value)) {
      throw new Error(`SASL ${what} must be 1-64 characters of A-Z a-z 0-9 . _ -`);
    }
  }
}

/**
 * The SASL listener's settings: SASL_PLAINTEXT with PLAIN (its one user in
 * the listener's JAAS configuration) and SCRAM-SHA-256/512 (credentials in
 * the cluster metadata, written when the storage is formatted). Clients
 * that want TLS as well put a TLS proxy in front of it.
 * @param {SaslListener} sasl
 */
function saslProperties(sasl) {
  const jaas = (/** @type {string} */ mechanism, /** @type {string} */ module) =>
    `listener.name.sasl.${mechanism}.sasl.jaas.config=${module} required${
      mechanism === 'plain' ? ` user_${sasl.username}="${sasl.password}"` : ''
    };`;
  return [
    `sasl.enabled.mechanisms=${saslMechanisms.join(',')}`,
    `listener.name.sasl.sasl.enabled.mechanisms=${saslMechanisms.join(',')}`,
    jaas('plain', 'org.apache.kafka.common.security.plain.PlainLoginModule'),
    jaas('scram-sha-256', 'org.apache.kafka.common.security.scram.ScramLoginModule'),
    jaas('scram-sha-512', 'org.apache.kafka.common.security.scram.ScramLoginModule'),
  ];
}

/** @param {SaslListener} sasl @returns {string[]} the storage tool's arguments */
function scramCredentialArgs(sasl) {
  return saslMechanisms
    .filter((mechanism) => mechanism.startsWith('SCRAM-'))
    .flatMap((mechanism) => [
      '--add-scram',
      `${mechanism}=[name=${sasl.username},password=${sasl.password}]`,
    ]);
}

/**
 * @param {{ host: string, port: number, controllerPort: number, saslPort: number | undefined,
 *   sasl: SaslListener | undefined, dataDir: string }} options
 */
function serverProperties({ host, port, controllerPort, saslPort, sasl, dataDir }) {
  const listeners = [`PLAINTEXT://${host}:${port}`, `CONTROLLER://${host}:${controllerPort}`];
  const protocols = ['PLAINTEXT:PLAINTEXT', 'CONTROLLER:PLAINTEXT'];
  if (sasl !== undefined && saslPort !== undefined) {
    listeners.push(`SASL://${host}:${saslPort}`);
    protocols.push('SASL:SASL_PLAINTEXT');
  }
  return [
    '# Written by deploy/kafka/local-kafka.mjs: one KRaft node, broker and controller, loopback only.',
    'process.roles=broker,controller',
    'node.id=1',
    // Dynamic quorum (KIP-853): the storage tool's --standalone makes this node the only voter.
    `controller.quorum.bootstrap.servers=${host}:${controllerPort}`,
    `listeners=${listeners.join(',')}`,
    `advertised.listeners=${listeners.join(',')}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    `listener.security.protocol.map=${protocols.join(',')}`,
    ...(sasl === undefined ? [] : saslProperties(sasl)),
    `log.dirs=${join(dataDir, 'logs')}`,
    'num.partitions=1',
    'default.replication.factor=1',
    'min.insync.replicas=1',
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=1',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'transaction.state.log.num.partitions=1',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    'share.coordinator.state.topic.num.partitions=1',
    'group.initial.rebalance.delay.ms=0',
    'auto.create.topics.enable=false',
    'delete.topic.enable=true',
    'log.retention.check.interval.ms=5000',
    'log.segment.delete.delay.ms=1000',
    'file.delete.delay.ms=1000',
    'num.network.threads=2',
    'num.io.threads=4',
    'num.recovery.threads.per.data.dir=1',
    'background.threads=2',
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
    'logger.clients.name = org.apache.kafka.clients',
    'logger.clients.level = WARN',
    '',
  ].join('\n');
}

/**
 * Reads `key=value` lines.
 * @param {string} file
 * @returns {Map<string, string>}
 */
function readProperties(file) {
  const entries = new Map();
  if (!existsSync(file)) return entries;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const match = /^\s*([^#=\s][^=]*?)\s*=\s*(.*)$/.exec(line);
    if (match?.[1] !== undefined && match[2] !== undefined) entries.set(match[1], match[2]);
  }
  return entries;
}

/** @param {string} file @param {number} lines */
function tail(file, lines) {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return `(no ${basename(file)})`;
  }
}

/**
 * Finds a command on PATH (or returns it when it is a path).
 * @param {string} command
 * @returns {string | undefined}
 */
function which(command) {
  if (command.includes('/')) return existsSync(command) ? command : undefined;
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (dir !== '' && existsSync(join(dir, command))) return join(dir, command);
  }
  return undefined;
}

/**
 * On Linux, `setpriv --pdeathsig SIGTERM` makes the kernel send the JVM
 * SIGTERM when this process dies, even by SIGKILL; the JVM then shuts down
 * cleanly. It execs the JVM, so the child's pid is the JVM's.
 * @param {string} java
 * @param {string[]} args
 * @returns {[string, string[]]}
 */
function withParentDeathSignal(java, args) {
  const setpriv = process.platform === 'linux' ? which('setpriv') : undefined;
  return setpriv === undefined
    ? [java, args]
    : [setpriv, ['--pdeathsig', 'SIGTERM', '--', java, ...args]];
}

/**
 * Identifies the JVM build, the jars and the options, so a class-data-sharing
 * archive is only reused by the exact combination that wrote it.
 * @param {string} java
 * @param {string} libs
 * @param {readonly string[]} jvmOptions
 * @returns {Promise<string | undefined>}
 */
async function archiveKey(java, libs, jvmOptions) {
  const found = which(java);
  if (found === undefined) return undefined;
  const javaHome = dirname(dirname(await realpath(found)));
  const hash = createHash('sha256');
  hash.update(await readFile(join(javaHome, 'release'), 'utf8'));
  for (const lib of ['lib/server/libjvm.so', 'lib/server/libjvm.dylib']) {
    const info = await stat(join(javaHome, lib)).catch(() => undefined);
    if (info !== undefined) hash.update(`${lib} ${info.size} ${info.mtimeMs}`);
  }
  for (const jar of (await readdir(libs)).sort()) {
    if (jar.endsWith('.jar')) hash.update(`${jar} ${(await stat(join(libs, jar))).size}\n`);
  }
  hash.update(jvmOptions.join(' '));
  return hash.digest('hex').slice(0, 16);
}

/**
 * @typedef {object} ClassDataSharing
 * @property {string[]} options JVM options
 * @property {(usable: boolean) => Promise<void>} settle after the JVM exited:
 *   keeps a newly written archive when the JVM exited normally
 */

/**
 * A dynamic class-data-sharing archive (the JDK's AppCDS) per JVM build and
 * jar set, like Apache Kafka's own container image uses: the first run writes
 * it at exit (`-XX:ArchiveClassesAtExit`), later runs map it
 * (`-XX:SharedArchiveFile`) and start about 40% faster. A stale or unreadable
 * archive only makes the JVM print a warning and start without it.
 * @param {string} name
 * @param {string} java
 * @param {string} libs
 * @param {readonly string[]} jvmOptions
 * @returns {Promise<ClassDataSharing>}
 */
async function classDataSharing(name, java, libs, jvmOptions) {
  const none = { options: [], settle: async () => {} };
  if (toolingEnv('FANOUT_LOCAL_KAFKA_CDS') === '0') return none;
  const key = await archiveKey(java, libs, jvmOptions).catch(() => undefined);
  if (key === undefined) return none;
  const dir = join(kafkaCacheDir(), 'cds');
  const archive = join(dir, `${name}-${key}.jsa`);
  if (existsSync(archive))
    return { options: [`-XX:SharedArchiveFile=${archive}`], settle: none.settle };
  await mkdir(dir, { recursive: true });
  const pending = join(dir, `${name}-${key}.${process.pid}-${randomBytes(3).toString('hex')}.tmp`);
  return {
    options: [`-XX:ArchiveClassesAtExit=${pending}`],
    async settle(usable) {
      const written = await stat(pending).catch(() => undefined);
      if (!usable || written === undefined || written.size === 0) {
        await rm(pending, { force: true });
        return;
      }
      for (const old of await readdir(dir)) {
        if (old.startsWith(`${name}-`) && old.endsWith('.jsa')) {
          await rm(join(dir, old), { force: true });
        }
      }
      await rename(pending, archive).catch(() => rm(pending, { force: true }));
    },
  };
}

/**
 * Waits until the broker answers a metadata request with itself as a live
 * broker and a controller (kafkajs admin `describeCluster`).
 * @param {string} bootstrap
 * @param {number} deadline epoch ms
 * @param {() => string | undefined} failed a reason once the JVM has died
 * @param {AbortSignal | undefined} signal
 */
async function waitForMetadata(bootstrap, deadline, failed, signal) {
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
    signal?.throwIfAborted();
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
    if (Date.now() > deadline) throw new Error('it did not answer metadata requests in time');
    await sleep(100, undefined, signal ? { signal } : {});
  }
}

/**
 * @typedef {object} JvmExit
 * @property {number | null} code
 * @property {NodeJS.Signals | null} signal
 * @property {Error} [error] set when the JVM could not be started at all
 */

/**
 * @typedef {object} LocalKafka
 * @property {string} bootstrap `127.0.0.1:PORT` for clients
 * @property {number} port
 * @property {number} controllerPort
 * @property {string | undefined} saslBootstrap `127.0.0.1:PORT` of the SASL listener, if any
 * @property {number | undefined} saslPort
 * @property {number} pid the JVM's process id
 * @property {string} dataDir
 * @property {string} logFile the broker's log
 * @property {string} version the Kafka version
 * @property {number} startMs from the call to ready, including storage formatting
 * @property {Promise<JvmExit>} exited resolves when the JVM has exited, for any reason
 * @property {() => Promise<void>} stop stops the JVM (SIGTERM, SIGKILL after
 *   30 s) and removes a temporary data directory unless it is kept; idempotent
 */

/**
 * @typedef {object} StartOptions
 * @property {number} [port] client listener port (default: a free one)
 * @property {number} [controllerPort] controller listener port (default: a free one)
 * @property {string} [dataDir] data directory, reused if already formatted, never
 *   removed (default: a new temporary directory, removed on stop)
 * @property {boolean} [keepData] keep the temporary data directory
 * @property {string} [host] address of every listener, advertised as is (default 127.0.0.1)
 * @property {SaslListener} [sasl] also a SASL_PLAINTEXT listener with this user;
 *   the SCRAM credentials are written when the storage is formatted, so a
 *   reused data directory keeps the ones it was formatted with
 * @property {number} [timeoutMs] how long to wait for the broker (default 60 000)
 * @property {AbortSignal} [signal] aborting stops whatever was started and rejects
 */

/**
 * Formats storage (unless the data directory already is) and starts a
 * broker; resolves once it serves metadata.
 * @param {StartOptions} [options]
 * @returns {Promise<LocalKafka>}
 */
export async function startLocalKafka(options = {}) {
  const started = Date.now();
  const { signal } = options;
  signal?.throwIfAborted();
  const libs = await ensureKafkaJars(signal ? { signal } : {});

  const ownDir = options.dataDir === undefined;
  const dataDir = resolve(options.dataDir ?? (await mkdtemp(join(tmpdir(), 'fanout-kafka-'))));
  const removeData = ownDir && options.keepData !== true;
  const { sasl } = options;
  const listenHost = options.host ?? host;
  if (sasl !== undefined) checkCredentials(sasl);
  const properties = join(dataDir, 'server.properties');
  const logFile = join(dataDir, 'broker.log');
  const jvmOut = join(dataDir, 'jvm.out');
  const log4j = join(dataDir, 'log4j2.properties');
  const formatted = existsSync(join(dataDir, 'logs', 'meta.properties'));

  /** @type {import('node:child_process').ChildProcess | undefined} */
  let broker;
  try {
    await mkdir(dataDir, { recursive: true });
    const { port, controllerPort, saslPort } = await choosePorts(options, properties);
    await writeFile(
      properties,
      serverProperties({ host: listenHost, port, controllerPort, saslPort, sasl, dataDir }),
    );
    await writeFile(log4j, log4jProperties(logFile));

    const java = process.env['JAVA'] || 'java';
    if (which(java) === undefined) {
      throw new Error(`${java} not found: install a Java 17+ runtime, or set JAVA`);
    }
    const userOptions = (toolingEnv('FANOUT_LOCAL_KAFKA_JVM_OPTS') ?? '')
      .split(/\s+/)
      .filter(Boolean);
    // The same for every run (and part of the class-data-sharing archive's key).
    const vmOptions = [
      '-Xms256m',
      `-Xmx${toolingEnv('FANOUT_LOCAL_KAFKA_HEAP') ?? '768m'}`,
      // Measured on 2 cores: C1 only and the serial collector start the
      // broker in ~60% of the default time; a test broker never gets hot.
      '-XX:+UseSerialGC',
      '-XX:TieredStopAtLevel=1',
      '-XX:-UsePerfData',
      '-XX:+ExitOnOutOfMemoryError',
      '-Djava.awt.headless=true',
      ...userOptions,
    ];
    const jvmOptions = [
      ...vmOptions,
      `-Djava.io.tmpdir=${dataDir}`,
      `-Dkafka.logs.dir=${dataDir}`,
      `-Dlog4j2.configurationFile=${pathToFileURL(log4j).href}`,
    ];
    const classPath = ['-cp', join(libs, '*')];

    if (!formatted) {
      const cds = await classDataSharing('storage', java, libs, vmOptions);
      const clusterId = newClusterId();
      const [command, args] = withParentDeathSignal(java, [
        ...jvmOptions,
        ...cds.options,
        ...classPath,
        'kafka.tools.StorageTool',
        'format',
        '--cluster-id',
        clusterId,
        '--config',
        properties,
        '--standalone',
        ...(sasl === undefined ? [] : scramCredentialArgs(sasl)),
      ]);
      try {
        await capture(command, args, { signal, name: 'the storage tool' });
        await cds.settle(true);
      } catch (error) {
        await cds.settle(false);
        if (signal?.aborted) throw signal.reason;
        throw new Error(`formatting ${join(dataDir, 'logs')} failed: ${messageOf(error)}`, {
          cause: error,
        });
      }
    }

    const cds = await classDataSharing('broker', java, libs, vmOptions);
    const out = await open(jvmOut, 'a');
    const [command, args] = withParentDeathSignal(java, [
      ...jvmOptions,
      ...cds.options,
      ...classPath,
      'kafka.Kafka',
      properties,
    ]);
    // Its own process group: a terminal's Ctrl-C reaches only this process,
    // and whoever owns the broker stops it when it is ready to (`npm start`
    // drains ingest and edge first), with SIGTERM, which Kafka's shutdown hook
    // handles cleanly.
    const child = spawn(command, args, { stdio: ['ignore', out.fd, out.fd], detached: true });
    broker = child;
    await out.close();
    /** @type {JvmExit | undefined} */
    let exit;
    /** @type {Promise<JvmExit>} */
    const exited = new Promise((resolveExit) => {
      child.once('error', (error) => {
        exit ??= { code: null, signal: null, error };
        resolveExit(exit);
      });
      child.once('exit', (code, exitSignal) => {
        exit ??= { code, signal: exitSignal };
        resolveExit(exit);
      });
    });
    // A JVM killed by SIGKILL may have left half an archive behind.
    const settled = exited.then((result) =>
      cds.settle(result.error === undefined && result.signal !== 'SIGKILL'),
    );

    /** @type {Promise<void> | undefined} */
    let stopping;
    const stop = () =>
      (stopping ??= (async () => {
        if (exit === undefined) {
          child.kill('SIGTERM');
          const done = await Promise.race([exited, sleep(30_000, undefined)]);
          if (done === undefined) {
            say(`broker did not stop within 30 s; killing it (pid ${child.pid})`);
            child.kill('SIGKILL');
            await exited;
          }
        }
        await settled;
        if (removeData) await rm(dataDir, { recursive: true, force: true });
      })());

    const bootstrap = `${listenHost}:${port}`;
    try {
      await waitForMetadata(
        bootstrap,
        started + (options.timeoutMs ?? 60_000),
        () => {
          if (exit === undefined) return undefined;
          if (exit.error !== undefined) return `cannot start ${java}: ${exit.error.message}`;
          return `the JVM exited (${exit.signal ?? `exit code ${exit.code}`})`;
        },
        signal,
      );
    } catch (error) {
      if (signal?.aborted) {
        await stop();
        throw signal.reason;
      }
      const detail = `${tail(logFile, 30)}\n--- ${jvmOut}:\n${tail(jvmOut, 10)}`;
      await stop();
      throw new Error(
        `Kafka ${kafkaVersion} did not start on ${bootstrap}: ${messageOf(error)}\n--- ${logFile}:\n${detail}`,
        { cause: error },
      );
    }
    return {
      bootstrap,
      port,
      controllerPort,
      saslBootstrap: saslPort === undefined ? undefined : `${listenHost}:${saslPort}`,
      saslPort,
      pid: child.pid ?? -1,
      dataDir,
      logFile,
      version: kafkaVersion,
      startMs: Date.now() - started,
      exited,
      stop,
    };
  } catch (error) {
    if (broker === undefined && removeData) await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
}

/**
 * Ports from the options, else those of a reused data directory when still
 * free, else free ones.
 * @param {StartOptions} options
 * @param {string} previousProperties
 */
async function choosePorts(options, previousProperties) {
  const previous = readProperties(previousProperties);
  const address = options.host ?? host;
  /** @param {string} listener */
  const previousPort = (listener) => {
    const match = new RegExp(`${listener}://[^,]*:(\\d+)`).exec(previous.get('listeners') ?? '');
    return match?.[1] === undefined ? undefined : Number(match[1]);
  };
  /**
   * @param {number | undefined} given
   * @param {number | undefined} reused
   * @param {string} what
   * @param {number[]} avoid
   */
  const pick = async (given, reused, what, ...avoid) => {
    if (given !== undefined) {
      if (!(await portFree(given, address))) {
        throw new Error(`${what} port ${address}:${given} is in use`);
      }
      return given;
    }
    if (reused !== undefined && !avoid.includes(reused) && (await portFree(reused, address))) {
      return reused;
    }
    for (;;) {
      const port = await freePort(address);
      if (!avoid.includes(port)) return port;
    }
  };
  const port = await pick(options.port, previousPort('PLAINTEXT'), 'client');
  const controllerPort = await pick(
    options.controllerPort,
    previousPort('CONTROLLER'),
    'controller',
    port,
  );
  if (port === controllerPort) throw new Error('--port and --controller-port must differ');
  const saslPort =
    options.sasl === undefined
      ? undefined
      : await pick(options.sasl.port, previousPort('SASL'), 'SASL', port, controllerPort);
  if (saslPort !== undefined && (saslPort === port || saslPort === controllerPort)) {
    throw new Error('--sasl-port must differ from --port and --controller-port');
  }
  return { port, controllerPort, saslPort };
}

/** @param {string[]} args @returns {StartOptions} */
function parseStartArgs(args) {
  /** @type {StartOptions} */
  const options = {};
  /** @type {{ username: string, password: string } | undefined} */
  let saslUser;
  /** @type {number | undefined} */
  let saslPort;
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
    else if (arg === '--host') options.host = value();
    else if (arg === '--keep-data') options.keepData = true;
    else if (arg === '--sasl-user') {
      const raw = value();
      const colon = raw.indexOf(':');
      if (colon <= 0) throw new Error(`--sasl-user must be NAME:PASSWORD`);
      saslUser = { username: raw.slice(0, colon), password: raw.slice(colon + 1) };
    } else if (arg === '--sasl-port') saslPort = port(value());
    else throw new Error(`unknown option ${arg}`);
  }
  if (saslPort !== undefined && saslUser === undefined) {
    throw new Error('--sasl-port needs --sasl-user');
  }
  if (saslUser !== undefined) {
    options.sasl = saslPort === undefined ? saslUser : { ...saslUser, port: saslPort };
  }
  return options;
}

/** True when standard input is a pipe or a socket, which closes when the parent goes away. */
function stdinFromParent() {
  try {
    const info = fstatSync(0);
    return info.isFIFO() || info.isSocket();
  } catch {
    return false;
  }
}

async function status() {
  const libs = join(kafkaCacheDir(), 'libs');
  const fetched = await jarsComplete(libs, sha256(pomFile));
  const jars = fetched ? (await readdir(libs)).filter((name) => name.endsWith('.jar')) : [];
  const cds = await readdir(join(kafkaCacheDir(), 'cds')).catch(() => []);
  process.stdout.write(
    `${JSON.stringify({ version: kafkaVersion, cache: kafkaCacheDir(), fetched, jars: jars.length, cdsArchives: cds.filter((name) => name.endsWith('.jsa')) })}\n`,
  );
}

/** @param {string[]} args */
async function start(args) {
  const options = parseStartArgs(args);
  const abort = new AbortController();
  const starting = startLocalKafka({ ...options, signal: abort.signal });
  /** @type {Promise<void> | undefined} */
  let shuttingDown;
  /** @param {string} why @param {number} code */
  const shutdown = (why, code) =>
    (shuttingDown ??= (async () => {
      abort.abort(new Error(why));
      const kafka = await starting.catch(() => undefined);
      if (kafka !== undefined) {
        say(`stopping the broker (${why})`);
        await kafka.stop();
        say('stopped');
      }
      process.exit(code);
    })());
  for (const signal of /** @type {const} */ (['SIGINT', 'SIGTERM', 'SIGHUP'])) {
    process.on(signal, () => void shutdown(signal, 0));
  }
  // A parent that died leaves broken pipes; writing to them must not stop the cleanup.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});
  if (stdinFromParent()) {
    process.stdin.on('end', () => void shutdown('standard input closed', 0));
    process.stdin.on('error', () => void shutdown('standard input closed', 0));
    process.stdin.resume();
  }

  let kafka;
  try {
    kafka = await starting;
  } catch (error) {
    if (abort.signal.aborted) return; // shutdown() exits
    throw error;
  }
  process.stdout.write(
    `${JSON.stringify({
      event: 'ready',
      bootstrap: kafka.bootstrap,
      port: kafka.port,
      controllerPort: kafka.controllerPort,
      ...(kafka.saslBootstrap === undefined
        ? {}
        : { saslBootstrap: kafka.saslBootstrap, saslPort: kafka.saslPort }),
      pid: kafka.pid,
      dataDir: kafka.dataDir,
      logFile: kafka.logFile,
      version: kafka.version,
      startMs: kafka.startMs,
    })}\n`,
  );
  say(`Apache Kafka ${kafka.version} ready on ${kafka.bootstrap} in ${kafka.startMs} ms`);
  if (kafka.saslBootstrap !== undefined) {
    say(`SASL (${saslMechanisms.join(', ')}) on ${kafka.saslBootstrap}`);
  }
  say(`log: ${kafka.logFile}`);
  const exit = await kafka.exited;
  if (shuttingDown !== undefined) return;
  say(
    `the broker stopped on its own (${exit.signal ?? `exit code ${exit.code}`}); last lines of ${kafka.logFile}:\n${tail(kafka.logFile, 30)}`,
  );
  await shutdown('broker exited', 1);
}

const usage = `usage: local-kafka.mjs fetch
       local-kafka.mjs start [--port N] [--controller-port N] [--host ADDR] [--data-dir DIR] [--keep-data]
                             [--sasl-user NAME:PASSWORD [--sasl-port N]]
       local-kafka.mjs status
`;

async function main() {
  const [command, ...args] = process.argv.slice(2);
  if (command === 'fetch') {
    const started = Date.now();
    const libs = await ensureKafkaJars();
    say(`Apache Kafka ${kafkaVersion} jars ready in ${libs} (${Date.now() - started} ms)`);
  } else if (command === 'start') {
    await start(args);
  } else if (command === 'status') {
    await status();
  } else if (command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(usage);
  } else {
    process.stderr.write(usage);
    process.exitCode = 2;
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error) => {
    say(messageOf(error));
    process.exit(1);
  });
}
