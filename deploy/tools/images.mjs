#!/usr/bin/env node
// @ts-check
/**
 * The service images (deploy/docker/*.Dockerfile) built without a Docker
 * engine: `buildah bud --isolation chroot --storage-driver vfs`, on a base
 * built here from Debian packages instead of the official
 * node:20-bookworm-slim (decision 038):
 *
 *   - the base `localhost/fanout/node-base:20-bookworm` is a
 *     `debootstrap --variant=minbase bookworm` root file system with the files
 *     of this machine's installed `nodejs` package (Node.js 20) copied in,
 *     trimmed like Debian's slim images (no documentation, manuals, locales,
 *     headers or apt lists);
 *   - each service image is built with `--build-arg NODE_IMAGE=<that base>`
 *     and exported to an OCI archive `<cache>/images/<service>-<key>.oci.tar`,
 *     where <key> covers the Dockerfile, its ignore file, the sources it
 *     copies and the base, so an unchanged image is reused, not rebuilt;
 *   - `bundle` unpacks an archive into an OCI runtime bundle (root file
 *     system and config.json from the image's configuration) for `runc run`;
 *   - `build kafka` builds the tests' Kafka image `localhost/fanout/kafka:<version>`
 *     (deploy/docker/kafka.Dockerfile, decision 043) on the same base from the
 *     broker's cached Maven jars (deploy/kafka/local-kafka.mjs) and Debian's
 *     Java 17 runtime, into `<cache>/images/kafka-<key>.oci.tar`, at the lowest
 *     CPU priority; `podman load -i <archive>` (deploy/tools/podman-docker-api.mjs)
 *     makes it an image a container engine runs;
 *   - `build k6` builds `localhost/fanout/k6:<k6 version>` for the k6 Job
 *     (deploy/k6/k6-job.yaml) on the same base: the k6 binary with the SSE
 *     extension that deploy/tools/k6.mjs builds (static, cached), as user
 *     12345, into `<cache>/images/k6-<key>.oci.tar`.
 *
 *   node deploy/tools/images.mjs base                   build the base unless cached
 *   node deploy/tools/images.mjs build [edge] [ingest] [bridge]  build the images unless cached
 *                                                      (edge and ingest when none is named); prints the archives
 *   node deploy/tools/images.mjs build kafka            the Kafka test image, likewise
 *   node deploy/tools/images.mjs build k6               the k6 image, likewise
 *   node deploy/tools/images.mjs status                 tools, base and archives, as JSON
 *   node deploy/tools/images.mjs bundle <service> <dir> unpack the image into an OCI bundle
 *
 * Needs root, Node.js 20 installed from a `nodejs` Debian package, and the
 * Debian packages buildah, runc and debootstrap; run as root with CI=true it
 * installs the missing ones with apt. Buildah's storage is kept in the cache
 * too (`<cache>/images/storage`), apart from the system's.
 *
 * Environment:
 *   FANOUT_CACHE_DIR   cache root (default $XDG_CACHE_HOME/fanout, ~/.cache/fanout)
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheDir, ensureKafkaJars, kafkaCacheDir, kafkaVersion } from '../kafka/local-kafka.mjs';
import { ensureK6, k6Version } from './k6.mjs';
import { runCommand } from './run-command.mjs';
import { installDebianPackages, isRoot, onPath } from './debian-tools.mjs';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The services with an image, as deploy/docker/<service>.Dockerfile. */
export const services = /** @type {const} */ (['edge', 'ingest', 'bridge']);
/**
 * What `build` without names builds, and what every local cluster loads: the
 * bridge (live resources, off in the chart by default) is built only when
 * named, or when a local cluster is installed with bridge.enabled=true.
 */
export const defaultServices = /** @type {const} */ (['edge', 'ingest']);

/** The local base image, given to the Dockerfiles as NODE_IMAGE. */
export const baseImage = 'localhost/fanout/node-base:20-bookworm';
/** Debian release and mirror of the base. */
const suite = 'bookworm';
const mirror = 'http://deb.debian.org/debian';
/** Bumped when the way the base is made changes (part of its cache key). */
const baseRecipe = 'minbase+nodejs-dpkg+slim-trim/2';
/** Label holding the cache key of an image built here. */
const keyLabel = 'dev.fanout.image-key';

/** The Debian packages each command needs. */
const debianPackages = /** @type {const} */ ({
  buildah: 'buildah',
  runc: 'runc',
  debootstrap: 'debootstrap',
});

export function imagesDir() {
  return join(cacheDir(), 'images');
}

/** Global options of every buildah command: vfs storage of our own in the cache. */
function storageOptions() {
  return [
    '--root',
    join(imagesDir(), 'storage'),
    '--runroot',
    join(imagesDir(), 'run'),
    '--storage-driver',
    'vfs',
  ];
}

/** @param {readonly string[]} args */
function buildah(args) {
  return runCommand('buildah', [...storageOptions(), ...args], { tailLines: 60 });
}

/**
 * Runs a command with its output on standard error (long builds show progress).
 * @param {string} command
 * @param {readonly string[]} args
 * @param {{ cwd?: string }} [options]
 * @returns {Promise<void>}
 */
function runVisible(command, args, options = {}) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, stdio: ['ignore', 2, 2] });
    child.once('error', (error) => reject(new Error(`cannot run ${command}: ${error.message}`)));
    child.once('exit', (code, signal) => {
      if (code === 0) resolvePromise();
      else reject(new Error(`${command} ${args.join(' ')} failed (${signal ?? `exit ${code}`})`));
    });
  });
}

/** The missing commands among buildah, runc and debootstrap. */
export function missingTools() {
  return Object.keys(debianPackages).filter((command) => !onPath(command));
}

/**
 * Fails with what to do unless root and the tools are there; installs the
 * missing Debian packages when run as root with CI=true.
 * @param {(line: string) => void} log
 */
async function ensureTools(log) {
  if (!isRoot()) {
    throw new Error('building images needs root (buildah chroot isolation, debootstrap, runc)');
  }
  const missing = missingTools();
  if (missing.length === 0) return;
  const packages = missing.map((command) => debianPackages[/** @type {'runc'} */ (command)]);
  await installDebianPackages(missing, packages, log);
}

/** The installed nodejs Debian package: version and the files it installed. */
async function nodejsPackage() {
  let version;
  try {
    version = (await runCommand('dpkg-query', ['-W', '-f', '${Version}', 'nodejs'])).trim();
  } catch {
    throw new Error(
      'the base image copies the installed nodejs Debian package (Node.js 20), which is not installed',
    );
  }
  if (!process.versions.node.startsWith('20.')) {
    throw new Error(`the base image needs Node.js 20; this is ${process.versions.node}`);
  }
  // What a runtime image needs: node and the links to npm, npx and corepack, and the
  // packages under /usr/lib/node_modules as they are now (npm may have been updated in
  // place since the package was installed); not the headers or documentation.
  const paths = new Set();
  for (const path of (await runCommand('dpkg-query', ['-L', 'nodejs'])).split('\n')) {
    if (!path.startsWith('/usr/') || /^\/usr\/(include|share\/(doc|man))(\/|$)/.test(path))
      continue;
    const module = /^\/usr\/lib\/node_modules\/(@[^/]+\/)?[^/]+/.exec(path)?.[0];
    if (module !== undefined) paths.add(module);
    else if (existsSync(path) && !lstatSync(path).isDirectory()) paths.add(path);
  }
  return { version, files: [...paths].sort() };
}

/** @param {readonly (string | Buffer)[]} parts */
function shortHash(parts) {
  const hash = createHash('sha256');
  for (const part of parts) {
    hash.update(part);
    hash.update('\0');
  }
  return hash.digest('hex').slice(0, 16);
}

/**
 * The labels of an image in our storage, or undefined when it is not there.
 * @param {string} image
 * @returns {Promise<Record<string, string> | undefined>}
 */
async function imageLabels(image) {
  try {
    const text = await buildah(['inspect', '--type', 'image', image]);
    const info = /** @type {{ OCIv1?: { config?: { Labels?: Record<string, string> } } }} */ (
      JSON.parse(text)
    );
    return info.OCIv1?.config?.Labels ?? {};
  } catch {
    return undefined;
  }
}

/**
 * Makes the base root file system: debootstrap minbase, trimmed, with the
 * nodejs package's files; returns the tar of it.
 * @param {string} dir
 * @param {readonly string[]} nodeFiles
 * @param {(line: string) => void} log
 */
async function makeBaseRootfs(dir, nodeFiles, log) {
  const rootfs = join(dir, 'rootfs');
  rmSync(rootfs, { recursive: true, force: true });
  log(`debootstrap --variant=minbase ${suite} from ${mirror} (about a minute)`);
  await runCommand('debootstrap', ['--variant=minbase', suite, rootfs, mirror], { tailLines: 40 });
  // What Debian's slim images leave out, and what only apt's next run needs.
  await runCommand('sh', [
    '-c',
    [
      'set -e',
      'cd "$1"',
      'rm -rf var/cache/apt/archives/*.deb var/cache/apt/*.bin var/lib/apt/lists/* var/log/* tmp/*',
      'rm -rf usr/share/man/* usr/share/info/* usr/share/lintian usr/share/linda',
      'find usr/share/doc -mindepth 2 ! -name copyright ! -type d -delete',
      'find usr/share/doc -mindepth 1 -type d -empty -delete',
      'find usr/share/locale -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +',
    ].join('\n'),
    'trim',
    rootfs,
  ]);
  log(`copying the nodejs package (${nodeFiles.join(' ')})`);
  const list = join(dir, 'nodejs.files');
  writeFileSync(list, nodeFiles.map((path) => path.slice(1)).join('\n') + '\n');
  await runCommand('sh', [
    '-c',
    'tar -C / -cf - -T "$1" | tar -C "$2" --no-overwrite-dir -xf -',
    'copy',
    list,
    rootfs,
  ]);
  const tar = join(dir, 'rootfs.tar');
  await runCommand('tar', ['--numeric-owner', '-C', rootfs, '-cf', `${tar}.partial`, '.']);
  renameSync(`${tar}.partial`, tar);
  rmSync(rootfs, { recursive: true, force: true });
  return tar;
}

/**
 * Builds the base image unless our storage holds the one for this machine's
 * Node.js package and this recipe; returns its name.
 * @param {{ log?: (line: string) => void }} [options]
 */
export async function ensureBase(options = {}) {
  const log = options.log ?? ((line) => console.error(`images: ${line}`));
  await ensureTools(log);
  const node = await nodejsPackage();
  const key = shortHash([baseRecipe, suite, process.arch, node.version]);
  const labels = await imageLabels(baseImage);
  if (labels?.[keyLabel] === key) return { image: baseImage, key };
  const started = Date.now();
  const dir = join(imagesDir(), `node-base-${key}`);
  mkdirSync(dir, { recursive: true });
  // Root file systems of other Node.js packages or recipes are of no further use.
  for (const entry of readdirSync(imagesDir())) {
    if (entry.startsWith('node-base-') && join(imagesDir(), entry) !== dir) {
      rmSync(join(imagesDir(), entry), { recursive: true, force: true });
    }
  }
  const tar = existsSync(join(dir, 'rootfs.tar'))
    ? join(dir, 'rootfs.tar')
    : await makeBaseRootfs(dir, node.files, log);
  writeFileSync(
    join(dir, 'Containerfile'),
    [
      '# Debian bookworm (debootstrap minbase) with the nodejs package of the build machine.',
      'FROM scratch',
      `ADD ${relative(dir, tar)} /`,
      `ENV NODE_VERSION=${process.versions.node}`,
      'CMD ["node"]',
      '',
    ].join('\n'),
  );
  log(`building ${baseImage}`);
  await buildah([
    'bud',
    '--isolation',
    'chroot',
    '--label',
    `${keyLabel}=${key}`,
    '--tag',
    baseImage,
    '--file',
    join(dir, 'Containerfile'),
    dir,
  ]);
  log(`built ${baseImage} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return { image: baseImage, key };
}

/** Sources an image copies (the Dockerfiles' COPY lines; ignore-file entries never reach it). */
function contextFiles() {
  /** @type {string[]} */
  const found = ['package.json', 'package-lock.json', 'tsconfig.json'];
  /** @param {string} dir */
  const walk = (dir) => {
    for (const entry of readdirSync(join(repoRoot, dir), { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules' && entry.name !== 'dist') walk(path);
      } else if (!entry.name.endsWith('.tsbuildinfo')) {
        found.push(path);
      }
    }
  };
  walk('services');
  // The edge image bundles its build with this script (edge.Dockerfile).
  found.push(join('deploy', 'tools', 'edge-bundle.mjs'));
  return found.sort();
}

/**
 * The cache key of a service image: Dockerfile, ignore file, sources, base.
 * @param {string} service
 * @param {string} baseKey
 */
function imageKey(service, baseKey) {
  const dockerfile = join('deploy', 'docker', `${service}.Dockerfile`);
  const parts = [baseKey];
  for (const file of [dockerfile, `${dockerfile}.dockerignore`, ...contextFiles()]) {
    parts.push(file, readFileSync(join(repoRoot, file)));
  }
  return shortHash(parts);
}

/** @param {string} service @param {string} key */
function archivePath(service, key) {
  return join(imagesDir(), `${service}-${key}.oci.tar`);
}

/** @returns {string} */
function version() {
  const manifest = /** @type {{ version: string }} */ (
    JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8'))
  );
  return manifest.version;
}

/**
 * Where this machine's npm is told to trust a CA file of its own (a proxy
 * that intercepts TLS), the build's RUN steps get the same trust: the file
 * and an npmrc naming it, mounted read-only into the base's npm global
 * configuration (`/usr/etc/npmrc`) for each RUN step and never committed to
 * an image. Without such a file, nothing is mounted.
 * @returns {Promise<string[]>} buildah bud options
 */
async function npmTrustVolumes() {
  const cafile = (await runCommand('npm', ['config', 'get', 'cafile']).catch(() => '')).trim();
  if (cafile === '' || cafile === 'null' || cafile === 'undefined' || !existsSync(cafile)) {
    return [];
  }
  const npmrc = join(imagesDir(), 'build-npmrc');
  writeFileSync(npmrc, 'cafile=/usr/etc/fanout-build-ca.crt\n');
  return [
    '--volume',
    `${cafile}:/usr/etc/fanout-build-ca.crt:ro`,
    '--volume',
    `${npmrc}:/usr/etc/npmrc:ro`,
  ];
}

/**
 * Builds a service image unless its archive is cached; returns the archive.
 * @param {string} service
 * @param {{ log?: (line: string) => void }} [options]
 */
export async function ensureImage(service, options = {}) {
  const log = options.log ?? ((line) => console.error(`images: ${line}`));
  if (!services.includes(/** @type {'edge'} */ (service))) {
    throw new Error(`no image for ${service}; the images are ${services.join(', ')}`);
  }
  const base = await ensureBase({ log });
  const key = imageKey(service, base.key);
  const archive = archivePath(service, key);
  if (existsSync(archive)) return { service, archive, reused: true, seconds: 0 };
  const started = Date.now();
  const tag = `localhost/fanout/${service}:${version()}`;
  const dockerfile = join(repoRoot, 'deploy', 'docker', `${service}.Dockerfile`);
  log(`building ${tag} from deploy/docker/${service}.Dockerfile on ${base.image}`);
  await runVisible(
    'buildah',
    [
      ...storageOptions(),
      'bud',
      '--isolation',
      'chroot',
      '--network',
      'host',
      ...(await npmTrustVolumes()),
      '--build-arg',
      `NODE_IMAGE=${base.image}`,
      '--ignorefile',
      `${dockerfile}.dockerignore`,
      '--label',
      `${keyLabel}=${key}`,
      '--tag',
      tag,
      '--file',
      dockerfile,
      '.',
    ],
    { cwd: repoRoot },
  );
  await exportArchive(tag, archive);
  // Intermediate stages of this build are of no further use; the base stays.
  await buildah(['rmi', '--prune']).catch(() => '');
  const seconds = Math.round((Date.now() - started) / 1000);
  log(`built ${tag} in ${seconds} s: ${archive}`);
  return { service, archive, reused: false, seconds };
}

/**
 * Writes a built image to its OCI archive (atomically: a partial file is
 * renamed once complete) and removes the archives of older keys named
 * `<prefix>-<key>.oci.tar` when `prefix` is given.
 * @param {string} image
 * @param {string} archive
 * @param {string} [prefix]
 */
async function exportArchive(image, archive, prefix) {
  const partial = `${archive}.partial-${process.pid}`;
  try {
    await buildah(['push', image, `oci-archive:${partial}:${image}`]);
    renameSync(partial, archive);
  } finally {
    rmSync(partial, { force: true });
  }
  if (prefix === undefined) return;
  // Archives of older keys are of no further use.
  const older = new RegExp(`^${prefix}-[0-9a-f]{16}\\.oci\\.tar$`);
  for (const entry of readdirSync(imagesDir())) {
    if (older.test(entry) && join(imagesDir(), entry) !== archive) {
      rmSync(join(imagesDir(), entry), { force: true });
    }
  }
}

/** The tests' Kafka image (deploy/docker/kafka.Dockerfile), named like the official one's. */
export const kafkaImage = `localhost/fanout/kafka:${kafkaVersion}`;
/** Files of the Kafka image besides its Dockerfile: deploy/docker/kafka/. */
const kafkaImageFiles = join('deploy', 'docker', 'kafka');

/**
 * The broker's jars in the cache (names and sizes), or undefined before
 * `node deploy/kafka/local-kafka.mjs fetch`.
 * @returns {{ dir: string, jars: { name: string, size: number }[] } | undefined}
 */
function kafkaJarsIfFetched() {
  const dir = join(kafkaCacheDir(), 'libs');
  if (!existsSync(join(dir, '.complete'))) return undefined;
  const jars = readdirSync(dir)
    .filter((name) => name.endsWith('.jar'))
    .sort()
    .map((name) => ({ name, size: statSync(join(dir, name)).size }));
  return { dir, jars };
}

/**
 * The cache key of the Kafka image: base, Dockerfile, its files, the jars.
 * @param {string} baseKey
 * @param {{ jars: { name: string, size: number }[] }} jars
 */
function kafkaImageKey(baseKey, jars) {
  const parts = [baseKey, kafkaVersion];
  const dockerfile = join('deploy', 'docker', 'kafka.Dockerfile');
  const files = readdirSync(join(repoRoot, kafkaImageFiles))
    .sort()
    .map((name) => join(kafkaImageFiles, name));
  for (const file of [dockerfile, ...files]) {
    parts.push(file, readFileSync(join(repoRoot, file)));
  }
  for (const jar of jars.jars) parts.push(`${jar.name} ${jar.size}`);
  return shortHash(parts);
}

/**
 * Builds the Kafka test image unless its archive is cached; returns the
 * archive. Fetches the broker's jars first when the cache has none. The
 * build context is made in the cache (the jars are not in the repository):
 * `libs/` with the jars, `docker/` with deploy/docker/kafka/. Its RUN steps
 * install Debian's openjdk-17-jre-headless from the Debian mirror.
 * @param {{ log?: (line: string) => void }} [options]
 */
export async function ensureKafkaImage(options = {}) {
  const log = options.log ?? ((line) => console.error(`images: ${line}`));
  const base = await ensureBase({ log });
  await ensureKafkaJars({ log });
  const jars = kafkaJarsIfFetched();
  if (jars === undefined) throw new Error('the Kafka jars are not in the cache');
  const key = kafkaImageKey(base.key, jars);
  const archive = archivePath('kafka', key);
  if (existsSync(archive))
    return { service: 'kafka', archive, image: kafkaImage, reused: true, seconds: 0 };
  const started = Date.now();
  const context = join(imagesDir(), `kafka-context-${process.pid}`);
  rmSync(context, { recursive: true, force: true });
  try {
    mkdirSync(context, { recursive: true });
    cpSync(jars.dir, join(context, 'libs'), {
      recursive: true,
      filter: (source) => !source.endsWith('.complete'),
    });
    cpSync(join(repoRoot, kafkaImageFiles), join(context, 'docker'), { recursive: true });
    log(`building ${kafkaImage} from deploy/docker/kafka.Dockerfile on ${base.image}`);
    await runVisible('nice', [
      '-n',
      '19',
      'buildah',
      ...storageOptions(),
      'bud',
      '--isolation',
      'chroot',
      '--network',
      'host',
      '--build-arg',
      `BASE_IMAGE=${base.image}`,
      '--label',
      `${keyLabel}=${key}`,
      '--tag',
      kafkaImage,
      '--file',
      join(repoRoot, 'deploy', 'docker', 'kafka.Dockerfile'),
      context,
    ]);
  } finally {
    rmSync(context, { recursive: true, force: true });
  }
  await exportArchive(kafkaImage, archive, 'kafka');
  const seconds = Math.round((Date.now() - started) / 1000);
  log(`built ${kafkaImage} in ${seconds} s: ${archive}`);
  return { service: 'kafka', archive, image: kafkaImage, reused: false, seconds };
}

/** The k6 image of the k6 Job, tagged with the k6 version it runs. */
export function k6Image() {
  return `localhost/fanout/k6:${k6Version()}`;
}

/**
 * Builds the k6 image unless its archive is cached; returns the archive.
 * Builds the k6 binary first unless cached (deploy/tools/k6.mjs; Go and the
 * Go module proxy). The build context in the cache holds the binary and a
 * Containerfile: the base, the binary as /usr/bin/k6, user 12345 (the Job's
 * securityContext), entry point k6. Nothing is fetched by the build itself.
 * @param {{ log?: (line: string) => void }} [options]
 */
export async function ensureK6Image(options = {}) {
  const log = options.log ?? ((line) => console.error(`images: ${line}`));
  const base = await ensureBase({ log });
  const binary = await ensureK6({ log });
  const image = k6Image();
  const containerfile = [
    '# k6 with the SSE extension (deploy/tools/k6.mjs) on the local Debian base.',
    'ARG BASE_IMAGE',
    'FROM ${BASE_IMAGE}',
    'COPY k6 /usr/bin/k6',
    'USER 12345:12345',
    'WORKDIR /tmp',
    'ENTRYPOINT ["/usr/bin/k6"]',
    '',
  ].join('\n');
  // The binary's directory name carries the hash of the k6 module's sources.
  const key = shortHash([base.key, image, containerfile, binary]);
  const archive = archivePath('k6', key);
  if (existsSync(archive)) return { service: 'k6', archive, image, reused: true, seconds: 0 };
  const started = Date.now();
  const context = join(imagesDir(), `k6-context-${process.pid}`);
  rmSync(context, { recursive: true, force: true });
  try {
    mkdirSync(context, { recursive: true });
    cpSync(binary, join(context, 'k6'));
    writeFileSync(join(context, 'Containerfile'), containerfile);
    log(`building ${image} on ${base.image}`);
    await runVisible('nice', [
      '-n',
      '19',
      'buildah',
      ...storageOptions(),
      'bud',
      '--isolation',
      'chroot',
      '--build-arg',
      `BASE_IMAGE=${base.image}`,
      '--label',
      `${keyLabel}=${key}`,
      '--tag',
      image,
      '--file',
      join(context, 'Containerfile'),
      context,
    ]);
  } finally {
    rmSync(context, { recursive: true, force: true });
  }
  await exportArchive(image, archive, 'k6');
  const seconds = Math.round((Date.now() - started) / 1000);
  log(`built ${image} in ${seconds} s: ${archive}`);
  return { service: 'k6', archive, image, reused: false, seconds };
}

/**
 * The OCI image configuration and layers of an archive written by `ensureImage`.
 * @param {string} layoutDir an extracted OCI archive
 */
function readLayout(layoutDir) {
  /** @param {string} digest */
  const blob = (digest) => join(layoutDir, 'blobs', ...digest.split(':'));
  const index = /** @type {{ manifests: { digest: string }[] }} */ (
    JSON.parse(readFileSync(join(layoutDir, 'index.json'), 'utf8'))
  );
  const manifestDigest = index.manifests[0]?.digest;
  if (manifestDigest === undefined) throw new Error('the OCI archive holds no manifest');
  const manifest =
    /** @type {{ config: { digest: string }, layers: { digest: string, mediaType: string }[] }} */ (
      JSON.parse(readFileSync(blob(manifestDigest), 'utf8'))
    );
  const config =
    /** @type {{ config?: { Entrypoint?: string[], Cmd?: string[], Env?: string[], WorkingDir?: string, User?: string }, architecture: string }} */ (
      JSON.parse(readFileSync(blob(manifest.config.digest), 'utf8'))
    );
  return {
    config: config.config ?? {},
    layers: manifest.layers.map((layer) => ({ path: blob(layer.digest), type: layer.mediaType })),
  };
}

/**
 * Applies one layer to a root file system, whiteouts included (OCI image spec).
 * @param {string} rootfs
 * @param {{ path: string, type: string }} layer
 */
async function applyLayer(rootfs, layer) {
  const compression = layer.type.endsWith('+gzip') ? ['-z'] : [];
  const entries = (await runCommand('tar', [...compression, '-tf', layer.path]))
    .split('\n')
    .filter((entry) => entry !== '');
  for (const entry of entries) {
    const name = entry.replace(/^\.\//, '').replace(/\/$/, '');
    const base = name.split('/').at(-1) ?? '';
    const parent = dirname(name);
    if (base === '.wh..wh..opq') {
      const dir = join(rootfs, parent);
      if (existsSync(dir)) {
        for (const child of readdirSync(dir)) rmSync(join(dir, child), { recursive: true });
      }
    } else if (base.startsWith('.wh.')) {
      rmSync(join(rootfs, parent, base.slice('.wh.'.length)), { recursive: true, force: true });
    }
  }
  await runCommand('tar', [
    ...compression,
    '-xf',
    layer.path,
    '-C',
    rootfs,
    '--numeric-owner',
    '--same-permissions',
    '--exclude=.wh.*',
    '--exclude=*/.wh.*',
  ]);
}

/**
 * Unpacks a service image into an OCI runtime bundle for `runc run`: the
 * image's layers as `rootfs` (read-only in the container), and config.json
 * with the image's entry point, environment, working directory and user
 * (plus `env`), in new PID, mount, IPC and UTS namespaces but the host's
 * network namespace.
 * @param {string} archive
 * @param {string} bundle
 * @param {{ env?: readonly string[] }} [options]
 */
export async function unpackBundle(archive, bundle, options = {}) {
  const layoutDir = join(bundle, 'image');
  const rootfs = join(bundle, 'rootfs');
  mkdirSync(layoutDir, { recursive: true });
  mkdirSync(rootfs, { recursive: true });
  await runCommand('tar', ['-xf', archive, '-C', layoutDir]);
  const { config, layers } = readLayout(layoutDir);
  for (const layer of layers) await applyLayer(rootfs, layer);
  rmSync(layoutDir, { recursive: true, force: true });
  await runCommand('runc', ['spec', '--bundle', bundle]);
  const specPath = join(bundle, 'config.json');
  const spec =
    /** @type {{ process: Record<string, unknown>, root: Record<string, unknown>, hostname?: string, mounts: Record<string, unknown>[], linux: { namespaces: { type: string }[] } }} */ (
      JSON.parse(readFileSync(specPath, 'utf8'))
    );
  const [uid = '0', gid = uid] = (config.User ?? '0').split(':');
  if (!/^\d+$/.test(uid) || !/^\d+$/.test(gid)) {
    throw new Error(`the image's user ${config.User} is not numeric`);
  }
  spec.process = {
    ...spec.process,
    terminal: false,
    user: { uid: Number(uid), gid: Number(gid) },
    args: [...(config.Entrypoint ?? []), ...(config.Cmd ?? [])],
    env: [...(config.Env ?? []), ...(options.env ?? [])],
    cwd: config.WorkingDir || '/',
  };
  spec.root = { path: 'rootfs', readonly: true };
  spec.hostname = 'fanout';
  spec.mounts.push({
    destination: '/tmp',
    type: 'tmpfs',
    source: 'tmpfs',
    options: ['nosuid', 'nodev', 'mode=1777', 'size=64m'],
  });
  spec.linux.namespaces = spec.linux.namespaces.filter((namespace) => namespace.type !== 'network');
  writeFileSync(specPath, `${JSON.stringify(spec, null, 2)}\n`);
  return { bundle, args: /** @type {string[]} */ (spec.process['args']) };
}

/** The base and the cached archives of the current sources, as JSON-friendly values. */
export async function status() {
  const missing = missingTools();
  /** @type {Record<string, string | null>} */
  const archives = {};
  let baseKey = null;
  if (missing.length === 0 && isRoot()) {
    try {
      const node = await nodejsPackage();
      const key = shortHash([baseRecipe, suite, process.arch, node.version]);
      baseKey = (await imageLabels(baseImage))?.[keyLabel] === key ? key : null;
      for (const service of services) {
        const archive = archivePath(service, imageKey(service, key));
        archives[service] = existsSync(archive) ? archive : null;
      }
      const jars = kafkaJarsIfFetched();
      const kafka = jars === undefined ? undefined : archivePath('kafka', kafkaImageKey(key, jars));
      archives['kafka'] = kafka !== undefined && existsSync(kafka) ? kafka : null;
    } catch {
      baseKey = null;
    }
  }
  return { root: isRoot(), missingTools: missing, base: baseKey ? baseImage : null, archives };
}

/** @param {string} path */
function sizeOf(path) {
  return `${(statSync(path).size / 1024 / 1024).toFixed(0)} MiB`;
}

const invokedAsScript =
  process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1];
if (invokedAsScript) {
  const [command = 'build', ...rest] = process.argv.slice(2);
  try {
    if (command === 'base') {
      console.log((await ensureBase()).image);
    } else if (command === 'build') {
      const wanted = rest.length > 0 ? rest : [...defaultServices];
      for (const service of wanted) {
        const built =
          service === 'kafka'
            ? await ensureKafkaImage()
            : service === 'k6'
              ? await ensureK6Image()
              : await ensureImage(service);
        console.log(`${service}\t${built.archive}\t${sizeOf(built.archive)}`);
      }
    } else if (command === 'status') {
      console.log(JSON.stringify(await status(), null, 2));
    } else if (command === 'bundle' && rest.length === 2) {
      const [service = '', bundle = ''] = rest;
      const built = await ensureImage(service);
      if (existsSync(bundle) && readdirSync(bundle).length > 0) {
        throw new Error(`${bundle} is not empty`);
      }
      console.log(JSON.stringify(await unpackBundle(built.archive, bundle)));
    } else {
      console.error(
        'usage: node deploy/tools/images.mjs base | build [edge] [ingest] [bridge] [kafka] [k6] | status | bundle <service> <dir>',
      );
      process.exit(2);
    }
  } catch (error) {
    console.error(`images: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
}
