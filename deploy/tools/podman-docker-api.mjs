#!/usr/bin/env node
// @ts-check
/**
 * A Docker-compatible API for Testcontainers on a machine without a Docker
 * engine: rootful Podman's `podman system service` on a socket of its own,
 * with the tests' Kafka image (`node deploy/tools/images.mjs build kafka`)
 * loaded into it (decision 043).
 *
 *   node deploy/tools/podman-docker-api.mjs up      build/load the Kafka image unless there,
 *                                                   start the service unless running; prints env
 *   node deploy/tools/podman-docker-api.mjs env     the variables for the tests, NAME=value a line
 *   node deploy/tools/podman-docker-api.mjs status  service, socket, images and containers, as JSON
 *   node deploy/tools/podman-docker-api.mjs down    removes every container of this Podman, stops
 *                                                   the service, removes the bridge; nothing of it
 *                                                   keeps running (the loaded image stays)
 *
 *   env $(node deploy/tools/podman-docker-api.mjs env) FANOUT_TEST_STATIC=0 npm test -- integration
 *
 * Everything of this Podman is its own, apart from the system's: storage,
 * run state, configuration, CNI network and event log live in
 * `<cache>/podman`, so `down` can remove all its containers without touching
 * anyone else's. What this machine needs, and what the configuration says:
 *
 *   - the overlay storage driver where the kernel has overlayfs, else vfs,
 *     each in a directory of its own (`storage-<driver>`): vfs works
 *     everywhere but copies the whole image for each container (about 9 s
 *     for the Kafka image here, against 0.1 s with overlay);
 *   - cgroups v1: `cgroup_manager = "cgroupfs"` (no systemd), runtime runc;
 *   - events to a file (no journald);
 *   - one CNI bridge network, `fanout-podman0` on 198.18.254.0/24: an address
 *     range reserved for tests (RFC 2544), beside the local cluster's
 *     198.18.0.0/24 and 198.19.0.0/16; containers' published ports reach
 *     127.0.0.1 on the host through CNI's portmap plugin.
 *
 * Needs root and the Debian packages podman, containernetworking-plugins,
 * iptables and catatonit; run as root with CI=true it installs the missing ones.
 *
 * Environment:
 *   FANOUT_CACHE_DIR   cache root (default $XDG_CACHE_HOME/fanout, ~/.cache/fanout)
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { cacheDir } from '../kafka/local-kafka.mjs';
import { ensureKafkaImage, kafkaImage } from './images.mjs';
import { runCommand } from './run-command.mjs';
import { installDebianPackages, isRoot, onPath } from './debian-tools.mjs';

/** The CNI network every container of this Podman joins unless told otherwise. */
export const podmanNetwork = /** @type {const} */ ({
  name: 'fanout-podman',
  bridge: 'fanout-podman0',
  subnet: '198.18.254.0/24',
  gateway: '198.18.254.1',
});

/** Label of the loaded image holding the archive it came from. */
const archiveLabel = 'dev.fanout.image-key';

/** The Debian packages this needs, by the command each provides. */
const debianPackages = /** @type {const} */ ({
  podman: 'podman',
  iptables: 'iptables',
  catatonit: 'catatonit',
});

export function podmanDir() {
  return join(cacheDir(), 'podman');
}

/** The Docker API socket. */
export function socketPath() {
  return join(podmanDir(), 'run', 'docker-api.sock');
}

const pidFile = () => join(podmanDir(), 'service.pid');
const logFile = () => join(podmanDir(), 'service.log');
const confFile = () => join(podmanDir(), 'containers.conf');
const networkDir = () => join(podmanDir(), 'networks');

/** The variables that point Testcontainers and the test runner at this Podman. */
export function testEnvironment() {
  return {
    DOCKER_HOST: `unix://${socketPath()}`,
    // Ryuk's image cannot be had without a registry; the tests stop their own containers.
    TESTCONTAINERS_RYUK_DISABLED: 'true',
    // "localhost" may resolve to ::1, where no published port of a CNI network answers.
    TESTCONTAINERS_HOST_OVERRIDE: '127.0.0.1',
    FANOUT_TEST_KAFKA: 'container',
    FANOUT_TEST_KAFKA_IMAGE: kafkaImage,
  };
}

/** `overlay` when the kernel has overlayfs, `vfs` otherwise. */
export function storageDriver() {
  try {
    return /\toverlay$/m.test(readFileSync('/proc/filesystems', 'utf8')) ? 'overlay' : 'vfs';
  } catch {
    return 'vfs';
  }
}

/** Global options of every podman command here: this Podman's own state and configuration. */
function globalOptions() {
  const dir = podmanDir();
  const driver = storageDriver();
  return [
    '--root',
    join(dir, `storage-${driver}`),
    '--runroot',
    join(dir, 'run', `storage-${driver}`),
    '--tmpdir',
    join(dir, 'run', 'libpod'),
    '--storage-driver',
    driver,
    '--cgroup-manager',
    'cgroupfs',
    '--events-backend',
    'file',
    '--network-config-dir',
    networkDir(),
    '--runtime',
    'runc',
  ];
}

/** Environment of every podman command here: our containers.conf, not the system's. */
function podmanEnv() {
  return {
    ...process.env,
    CONTAINERS_CONF: confFile(),
    // An empty registries list: nothing is pulled, every image is built here.
    CONTAINERS_REGISTRIES_CONF: join(podmanDir(), 'registries.conf'),
  };
}

/** @param {readonly string[]} args */
export function podman(args) {
  return runCommand('podman', [...globalOptions(), ...args], { env: podmanEnv(), tailLines: 40 });
}

/** The missing commands among podman, iptables and catatonit. */
export function missingTools() {
  return Object.keys(debianPackages).filter((command) => !onPath(command));
}

/** @param {(line: string) => void} log */
async function ensureTools(log) {
  if (!isRoot()) throw new Error('rootful Podman needs root');
  const missing = missingTools();
  if (missing.length === 0) return;
  const packages = [
    ...missing.map((command) => debianPackages[/** @type {'podman'} */ (command)]),
    'containernetworking-plugins',
  ];
  await installDebianPackages(missing, packages, log);
}

/**
 * The open files and processes limits of containers. Rootful Podman asks
 * for the kernel's maximum (or "unlimited" for -1), which a process without
 * CAP_SYS_RESOURCE, as root in this VM, may not raise its limits to: runc
 * fails with "error setting rlimits for ready process: ... operation not
 * permitted". So this process's hard limits, and for processes at most
 * 32768, the hard limit Podman 4.3.1 runs its own processes with.
 * @returns {string[]} `nofile=N:N`, `nproc=N:N`
 */
function containerLimits() {
  const limits = readFileSync('/proc/self/limits', 'utf8');
  /** @param {string} row */
  const hard = (row) => {
    const value = new RegExp(`^${row}\\s+\\S+\\s+(\\S+)`, 'm').exec(limits)?.[1];
    return value === undefined || value === 'unlimited' ? Infinity : Number(value);
  };
  const nofile = Math.min(hard('Max open files'), 1_048_576);
  const nproc = Math.min(hard('Max processes'), 32_768);
  return [`nofile=${nofile}:${nofile}`, `nproc=${nproc}:${nproc}`];
}

/** Writes containers.conf, an empty registries.conf and the CNI network. */
function writeConfiguration() {
  mkdirSync(join(podmanDir(), 'run'), { recursive: true });
  mkdirSync(networkDir(), { recursive: true });
  writeFileSync(
    confFile(),
    [
      '# Written by deploy/tools/podman-docker-api.mjs.',
      '[containers]',
      'log_driver = "k8s-file"',
      '# Containers get their own PID namespace and an init that reaps their children.',
      'init_path = "/usr/bin/catatonit"',
      `default_ulimits = [${containerLimits()
        .map((limit) => `"${limit}"`)
        .join(', ')}]`,
      '',
      '[engine]',
      'cgroup_manager = "cgroupfs"',
      'events_logger = "file"',
      `events_logfile_path = "${join(podmanDir(), 'events.log')}"`,
      'runtime = "runc"',
      '',
      '[network]',
      'network_backend = "cni"',
      'cni_plugin_dirs = ["/usr/lib/cni"]',
      `network_config_dir = "${networkDir()}"`,
      `default_network = "${podmanNetwork.name}"`,
      `default_subnet = "${podmanNetwork.subnet}"`,
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(podmanDir(), 'registries.conf'),
    '# No registry is reachable: images are built and loaded here.\nunqualified-search-registries = []\n',
  );
  const network = {
    cniVersion: '0.4.0',
    name: podmanNetwork.name,
    plugins: [
      {
        type: 'bridge',
        bridge: podmanNetwork.bridge,
        isGateway: true,
        ipMasq: true,
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          routes: [{ dst: '0.0.0.0/0' }],
          ranges: [[{ subnet: podmanNetwork.subnet, gateway: podmanNetwork.gateway }]],
        },
      },
      { type: 'portmap', capabilities: { portMappings: true } },
      { type: 'firewall' },
      { type: 'tuning' },
    ],
  };
  writeFileSync(
    join(networkDir(), `${podmanNetwork.name}.conflist`),
    `${JSON.stringify(network, null, 2)}\n`,
  );
}

/** The pid of the running service, or undefined. */
function servicePid() {
  if (!existsSync(pidFile())) return undefined;
  const pid = Number(readFileSync(pidFile(), 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
  } catch {
    return undefined;
  }
  // A reused pid is not ours: the service's command line names our socket.
  const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  return cmdline.some((arg) => arg.includes(socketPath())) ? pid : undefined;
}

/**
 * One Docker API request over the socket.
 * @param {string} path
 * @returns {Promise<{ status: number, body: string }>}
 */
export function apiGet(path) {
  return new Promise((resolvePromise, reject) => {
    const req = request({ socketPath: socketPath(), path, method: 'GET', timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, body }));
    });
    req.once('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.once('error', reject);
    req.end();
  });
}

/** True when the socket answers the Docker API's /_ping. */
async function answers() {
  try {
    return (await apiGet('/_ping')).status === 200;
  } catch {
    return false;
  }
}

/**
 * Loads the Kafka image's archive unless the loaded image came from it.
 * @param {(line: string) => void} log
 */
async function ensureKafkaImageLoaded(log) {
  const built = await ensureKafkaImage({ log });
  const key = /kafka-([0-9a-f]{16})\.oci\.tar$/.exec(built.archive)?.[1];
  const loaded = await podman([
    'image',
    'inspect',
    '--format',
    `{{ index .Labels "${archiveLabel}" }}`,
    kafkaImage,
  ]).catch(() => '');
  if (loaded.trim() === key) return;
  log(`loading ${built.archive} into Podman`);
  await podman(['load', '--input', built.archive]);
  const names = await podman(['image', 'inspect', '--format', '{{ .RepoTags }}', kafkaImage]).catch(
    () => '',
  );
  if (!names.includes(kafkaImage)) {
    throw new Error(`after podman load, no image is named ${kafkaImage}`);
  }
}

/**
 * Starts the service unless it runs; loads the Kafka image first.
 * @param {{ log?: (line: string) => void }} [options]
 */
export async function up(options = {}) {
  const log = options.log ?? ((line) => console.error(`podman-docker-api: ${line}`));
  await ensureTools(log);
  writeConfiguration();
  await ensureKafkaImageLoaded(log);
  if (servicePid() !== undefined && (await answers())) return testEnvironment();
  rmSync(socketPath(), { force: true });
  const out = openSync(logFile(), 'a');
  const child = spawn(
    'podman',
    [...globalOptions(), 'system', 'service', '--time=0', `unix://${socketPath()}`],
    { env: podmanEnv(), stdio: ['ignore', out, out], detached: true },
  );
  child.unref();
  if (child.pid === undefined) throw new Error('podman system service did not start');
  writeFileSync(pidFile(), `${child.pid}\n`);
  const deadline = Date.now() + 30_000;
  while (!(await answers())) {
    if (servicePid() === undefined) {
      throw new Error(`podman system service exited; see ${logFile()}`);
    }
    if (Date.now() > deadline) throw new Error(`no answer on ${socketPath()} in 30 s`);
    await sleep(200);
  }
  const version = JSON.parse((await apiGet('/version')).body);
  log(`Podman ${version.Version} serves the Docker API ${version.ApiVersion} on ${socketPath()}`);
  return testEnvironment();
}

/**
 * Removes every container of this Podman and stops the service.
 * @param {{ log?: (line: string) => void }} [options]
 */
export async function down(options = {}) {
  const log = options.log ?? ((line) => console.error(`podman-docker-api: ${line}`));
  if (existsSync(confFile()) && onPath('podman')) {
    const ids = (await podman(['ps', '--all', '--quiet']).catch(() => ''))
      .split('\n')
      .filter((id) => id !== '');
    if (ids.length > 0) {
      log(`removing ${ids.length} container(s)`);
      await podman(['rm', '--force', '--volumes', '--time', '10', ...ids]);
    }
    await podman(['volume', 'prune', '--force']).catch(() => '');
  }
  const pid = servicePid();
  if (pid !== undefined) {
    process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + 15_000;
    while (servicePid() !== undefined && Date.now() < deadline) await sleep(100);
    if (servicePid() !== undefined) {
      log(`the service did not stop in 15 s; killing it (pid ${pid})`);
      process.kill(pid, 'SIGKILL');
    }
    log('stopped the service');
  }
  rmSync(pidFile(), { force: true });
  rmSync(socketPath(), { force: true });
  // CNI leaves the bridge up after its last container; nothing else of it stays.
  if (existsSync(`/sys/class/net/${podmanNetwork.bridge}`)) {
    await runCommand('ip', ['link', 'delete', podmanNetwork.bridge]).catch(() => '');
  }
}

export async function status() {
  const running = servicePid();
  const containers =
    existsSync(confFile()) && onPath('podman')
      ? (
          await podman(['ps', '--all', '--format', '{{ .ID }} {{ .Image }} {{ .Status }}']).catch(
            () => '',
          )
        )
          .split('\n')
          .filter((line) => line !== '')
      : [];
  return {
    missingTools: missingTools(),
    service: running ?? null,
    answers: running !== undefined && (await answers()),
    socket: socketPath(),
    image: kafkaImage,
    containers,
  };
}

const invokedAsScript =
  process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1];
if (invokedAsScript) {
  const [command] = process.argv.slice(2);
  const print = (/** @type {Record<string, string>} */ env) => {
    for (const [name, value] of Object.entries(env)) console.log(`${name}=${value}`);
  };
  try {
    if (command === 'up') print(await up());
    else if (command === 'env') print(testEnvironment());
    else if (command === 'down') await down();
    else if (command === 'status') console.log(JSON.stringify(await status(), null, 2));
    else {
      console.error('usage: node deploy/tools/podman-docker-api.mjs up | env | status | down');
      process.exit(2);
    }
  } catch (error) {
    console.error(`podman-docker-api: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
}
