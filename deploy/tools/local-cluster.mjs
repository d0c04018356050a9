#!/usr/bin/env node
// @ts-check
/**
 * A real single-node Kubernetes cluster on this machine (decision 039,
 * docs/guides/local-cluster.md): etcd (Debian's etcd-server), kube-apiserver,
 * kube-controller-manager, kube-scheduler, kubelet and kube-proxy (iptables
 * mode) built from the published Kubernetes modules, Debian's containerd
 * (CRI plugin) and runc, CNI bridge networking (Debian's
 * containernetworking-plugins), and a Kafka broker from the Maven jars
 * (deploy/kafka/local-kafka.mjs) for the chart's `kafka.external`.
 *
 *   npm run cluster -- up          build what is missing, start everything, wait for the node
 *   npm run cluster -- install     helm install the chart with the local images (values below);
 *                                  `install --set bridge.enabled=true --set ...` also builds and
 *                                  loads the bridge image (a few more minutes the first time)
 *   npm run cluster -- upgrade ARGS...   helm upgrade it with the same values and ARGS (--set ...)
 *   npm run cluster -- k6 [SCRIPT] [NAME=VALUE ...]   the k6 Job against the release (local-cluster-k6.mjs)
 *   npm run cluster -- uninstall   helm uninstall it
 *   npm run cluster -- status      processes, network and node, as JSON
 *   npm run cluster -- env         KUBECONFIG and addresses, as shell assignments
 *   npm run cluster -- kubectl ARGS...   kubectl (built on first use) against the cluster
 *   npm run cluster -- down [--purge]    stop everything, remove what `up` created
 *
 * Everything runs inside a network namespace of its own (`fanout-cluster`),
 * entered with `nsenter --net` (the mount namespace stays the host's, so
 * containerd and the kubelet see the same mounts). The namespace reaches the
 * host through one veth pair and has no default route, so nothing in it can
 * send to any other address. Addresses come from 198.18.0.0/15, reserved for
 * benchmarking (RFC 2544) and used by no real network:
 *
 *   198.18.255.1/30   host end of the veth pair (`fanout-host`)
 *   198.18.255.2/30   the node (`fanout-node` in the namespace): API server :6443,
 *                     kubelet :10250, Kafka :9092, NodePorts
 *   198.18.0.0/24     pods, on the bridge `fanout0` (gateway 198.18.0.1)
 *   198.19.0.0/16     Services (ClusterIPs); `kubernetes` is 198.19.0.1
 *
 * The host gets routes to the pod and Service ranges through the node, so a
 * client on the host reaches ClusterIPs, pods and NodePorts directly. etcd
 * and the components' health ports listen on the namespace's loopback.
 *
 * State (certificates, kubeconfigs, etcd, containerd, kubelet, Kafka data,
 * logs) lives in `$FANOUT_LOCAL_CLUSTER_DIR` (default `<cache>/cluster`); builds in
 * `<cache>/tools/kubernetes-<version>/` (deploy/tools/kubernetes-build.mjs).
 * `down` stops every process `up` started (by the ids it recorded), the pod
 * containers and their shims, unmounts what they mounted under the state
 * directory, deletes the pods' network namespaces, the cluster's namespace
 * (its veth, bridge and iptables rules go with it) and the pods' cgroups;
 * `--purge` also removes the state directory.
 *
 * Needs root, Go, and the Debian packages etcd-server, containerd, runc,
 * containernetworking-plugins, iptables, conntrack, openssl and buildah.
 *
 * Environment: FANOUT_CACHE_DIR, FANOUT_LOCAL_CLUSTER_DIR, GO.
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  openSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmdirSync,
  unlinkSync,
} from 'node:fs';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { cacheDir } from '../kafka/local-kafka.mjs';
import { ensureHelm } from './helm.mjs';
import { defaultServices as imageServices, ensureImage } from './images.mjs';
import { ensureKubernetes, clusterCommands, kubernetesBinary } from './kubernetes-build.mjs';
import { runCommand } from './run-command.mjs';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * One release for every component: v1.34 still runs on cgroup v1 without
 * extra gates (`failCgroupV1: false`), and a kubelet of this release ran here.
 */
export const kubernetesVersion = 'v1.34.4';

/** The network layout (see the head of this file). */
export const network = /** @type {const} */ ({
  namespace: 'fanout-cluster',
  hostLink: 'fanout-host',
  nodeLink: 'fanout-node',
  hostAddress: '198.18.255.1',
  nodeAddress: '198.18.255.2',
  linkPrefix: 30,
  bridge: 'fanout0',
  podCidr: '198.18.0.0/24',
  podGateway: '198.18.0.1',
  serviceCidr: '198.19.0.0/16',
  kubernetesServiceIp: '198.19.0.1',
  apiPort: 6443,
  kafkaPort: 9092,
  kafkaControllerPort: 9093,
});

export const nodeName = 'fanout-node';
/** The pause image every pod sandbox runs, built here (no registry is reachable). */
export const pauseImage = 'localhost/fanout/pause:1';
/** The Helm release and namespace `install` uses. */
export const release = { name: 'fanout', namespace: 'fanout' };

export function clusterDir() {
  const explicit = process.env['FANOUT_LOCAL_CLUSTER_DIR'];
  return explicit ? resolve(explicit) : join(cacheDir(), 'cluster');
}

/** Paths under the state directory. */
export function paths(dir = clusterDir()) {
  return {
    dir,
    pki: join(dir, 'pki'),
    logs: join(dir, 'logs'),
    run: join(dir, 'run'),
    etcd: join(dir, 'etcd'),
    containerdRoot: join(dir, 'containerd', 'root'),
    containerdState: join(dir, 'containerd', 'state'),
    containerdConfig: join(dir, 'containerd', 'config.toml'),
    containerdSocket: join(dir, 'run', 'containerd.sock'),
    cniConf: join(dir, 'cni', 'net.d'),
    cniState: join(dir, 'cni', 'state'),
    kubelet: join(dir, 'kubelet'),
    kubeletConfig: join(dir, 'config', 'kubelet.yaml'),
    podLogs: join(dir, 'pod-logs'),
    kubeProxyConfig: join(dir, 'config', 'kube-proxy.yaml'),
    resolvConf: join(dir, 'config', 'resolv.conf'),
    kubeconfig: (/** @type {string} */ user) => join(dir, 'config', `${user}.kubeconfig`),
    adminKubeconfig: join(dir, 'config', 'admin.kubeconfig'),
    kafka: join(dir, 'kafka'),
    values: join(dir, 'config', 'values.yaml'),
  };
}

/** @param {string} line */
const log = (line) => console.error(`cluster: ${line}`);

// ---------------------------------------------------------------- commands

/**
 * @param {string} command
 * @param {readonly string[]} args
 * @param {{ input?: string, allowFailure?: boolean }} [options]
 */
function run(command, args, options = {}) {
  const result = spawnSync(command, args, {
    encoding: 'utf8',
    input: options.input,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  if (result.status !== 0 && options.allowFailure !== true) {
    throw new Error(
      `${command} ${args.join(' ')} failed (${result.error?.message ?? result.status}): ${result.stderr.trim()}`,
    );
  }
  return { ok: result.status === 0, stdout: result.stdout ?? '', stderr: result.stderr ?? '' };
}

/** Runs a command inside the cluster's network namespace. */
function inNamespace(/** @type {string} */ command, /** @type {readonly string[]} */ args) {
  return run('nsenter', [`--net=/var/run/netns/${network.namespace}`, '--', command, ...args]);
}

/** @param {string} name */
function onPath(name) {
  for (const dir of [
    '/usr/sbin',
    '/usr/bin',
    '/sbin',
    '/bin',
    ...(process.env['PATH'] ?? '').split(':'),
  ]) {
    if (dir !== '' && existsSync(join(dir, name))) return join(dir, name);
  }
  return null;
}

const cniDir = '/usr/lib/cni';

/** The host tools the cluster needs, with the Debian package of each. */
const hostTools = /** @type {const} */ ([
  ['etcd', 'etcd-server'],
  ['containerd', 'containerd'],
  ['ctr', 'containerd'],
  ['runc', 'runc'],
  ['iptables', 'iptables'],
  ['conntrack', 'conntrack'],
  ['openssl', 'openssl'],
  ['nsenter', 'util-linux'],
  ['ip', 'iproute2'],
  ['buildah', 'buildah'],
]);

/** Debian packages of the tools that are missing. */
export function missingPackages() {
  /** @type {Set<string>} */
  const missing = new Set(
    hostTools.filter(([tool]) => onPath(tool) === null).map(([, pkg]) => pkg),
  );
  if (!existsSync(join(cniDir, 'bridge'))) missing.add('containernetworking-plugins');
  return [...missing];
}

// ---------------------------------------------------------------- certificates

/**
 * @typedef {object} Certificate
 * @property {string} name file name stem under pki/
 * @property {string} subject
 * @property {string[]} [ips]
 * @property {string[]} [dns]
 * @property {boolean} [server]
 */

/** @returns {Certificate[]} */
function certificates() {
  return [
    {
      name: 'apiserver',
      subject: '/CN=kube-apiserver',
      ips: [network.nodeAddress, network.kubernetesServiceIp, '127.0.0.1'],
      dns: [
        'kubernetes',
        'kubernetes.default',
        'kubernetes.default.svc',
        'kubernetes.default.svc.cluster.local',
        'localhost',
      ],
      server: true,
    },
    {
      name: 'kubelet-serving',
      subject: `/CN=${nodeName}`,
      ips: [network.nodeAddress, '127.0.0.1'],
      dns: [nodeName, 'localhost'],
      server: true,
    },
    { name: 'admin', subject: '/O=system:masters/CN=fanout-admin' },
    {
      name: 'apiserver-kubelet-client',
      subject: '/O=system:masters/CN=kube-apiserver-kubelet-client',
    },
    { name: 'kube-controller-manager', subject: '/CN=system:kube-controller-manager' },
    { name: 'kube-scheduler', subject: '/CN=system:kube-scheduler' },
    { name: 'kubelet', subject: `/O=system:nodes/CN=system:node:${nodeName}` },
    { name: 'kube-proxy', subject: '/CN=system:kube-proxy' },
  ];
}

/** A CA, the certificates of the components and the service-account key pair, unless present. */
export async function ensurePki(/** @type {ReturnType<typeof paths>} */ p) {
  await mkdir(p.pki, { recursive: true, mode: 0o700 });
  const ca = join(p.pki, 'ca');
  if (!existsSync(`${ca}.crt`)) {
    log('creating the cluster CA');
    run('openssl', ['genrsa', '-out', `${ca}.key`, '2048']);
    run('openssl', [
      'req',
      '-x509',
      '-new',
      '-key',
      `${ca}.key`,
      '-subj',
      '/CN=fanout-local-cluster-ca',
      '-days',
      '3650',
      '-out',
      `${ca}.crt`,
    ]);
  }
  for (const cert of certificates()) {
    const stem = join(p.pki, cert.name);
    if (existsSync(`${stem}.crt`)) continue;
    run('openssl', ['genrsa', '-out', `${stem}.key`, '2048']);
    run('openssl', [
      'req',
      '-new',
      '-key',
      `${stem}.key`,
      '-subj',
      cert.subject,
      '-out',
      `${stem}.csr`,
    ]);
    const san = [
      ...(cert.ips ?? []).map((ip) => `IP:${ip}`),
      ...(cert.dns ?? []).map((d) => `DNS:${d}`),
    ];
    const ext = [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      `extendedKeyUsage=${cert.server === true ? 'serverAuth' : 'clientAuth'}`,
      ...(san.length > 0 ? [`subjectAltName=${san.join(',')}`] : []),
    ].join('\n');
    await writeFile(`${stem}.ext`, `${ext}\n`);
    run('openssl', [
      'x509',
      '-req',
      '-in',
      `${stem}.csr`,
      '-CA',
      `${ca}.crt`,
      '-CAkey',
      `${ca}.key`,
      '-CAcreateserial',
      '-days',
      '3650',
      '-extfile',
      `${stem}.ext`,
      '-out',
      `${stem}.crt`,
    ]);
    await rm(`${stem}.csr`, { force: true });
    await rm(`${stem}.ext`, { force: true });
  }
  const sa = join(p.pki, 'service-account');
  if (!existsSync(`${sa}.pub`)) {
    run('openssl', ['genrsa', '-out', `${sa}.key`, '2048']);
    run('openssl', ['rsa', '-in', `${sa}.key`, '-pubout', '-out', `${sa}.pub`]);
  }
}

// ---------------------------------------------------------------- configuration files

function apiUrl() {
  return `https://${network.nodeAddress}:${network.apiPort}`;
}

/**
 * @param {ReturnType<typeof paths>} p
 * @param {string} user certificate name under pki/
 */
function kubeconfig(p, user) {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '  - name: fanout-local',
    '    cluster:',
    `      server: ${apiUrl()}`,
    `      certificate-authority: ${join(p.pki, 'ca.crt')}`,
    'users:',
    `  - name: ${user}`,
    '    user:',
    `      client-certificate: ${join(p.pki, `${user}.crt`)}`,
    `      client-key: ${join(p.pki, `${user}.key`)}`,
    'contexts:',
    '  - name: fanout-local',
    '    context:',
    '      cluster: fanout-local',
    `      user: ${user}`,
    'current-context: fanout-local',
    '',
  ].join('\n');
}

/** @param {ReturnType<typeof paths>} p */
function containerdConfig(p) {
  return `version = 2
root = "${p.containerdRoot}"
state = "${p.containerdState}"
oom_score = 0

[grpc]
  address = "${p.containerdSocket}"

[ttrpc]
  address = "${join(p.run, 'containerd-ttrpc.sock')}"

[plugins."io.containerd.internal.v1.opt"]
  path = "${join(p.dir, 'containerd', 'opt')}"

[plugins."io.containerd.grpc.v1.cri"]
  # Pulled from nowhere: built locally and imported (no registry is reachable).
  sandbox_image = "${pauseImage}"
  # The machine does not grant CAP_SYS_RESOURCE: no process may lower its
  # oom_score_adj below 0, and the kubelet asks for -998 on every sandbox.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "${onPath('runc') ?? 'runc'}"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${cniDir}"
    conf_dir = "${p.cniConf}"
    max_conf_num = 1
`;
}

/** @param {ReturnType<typeof paths>} p */
function cniConfig(p) {
  return JSON.stringify(
    {
      cniVersion: '0.4.0',
      name: 'fanout',
      plugins: [
        {
          type: 'bridge',
          bridge: network.bridge,
          isGateway: true,
          ipMasq: false,
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            ranges: [[{ subnet: network.podCidr, gateway: network.podGateway }]],
            routes: [{ dst: '0.0.0.0/0' }],
            dataDir: p.cniState,
          },
        },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    },
    null,
    2,
  );
}

/** @param {ReturnType<typeof paths>} p */
function kubeletConfig(p) {
  return `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: ${network.nodeAddress}
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: ${join(p.pki, 'ca.crt')}
authorization:
  mode: Webhook
tlsCertFile: ${join(p.pki, 'kubelet-serving.crt')}
tlsPrivateKeyFile: ${join(p.pki, 'kubelet-serving.key')}
containerRuntimeEndpoint: unix://${p.containerdSocket}
# Container logs in the state directory (the kubelet still links them from /var/log/containers).
podLogsDir: ${p.podLogs}
# cgroup v1 only here (cgroup2 holds hugetlb alone): cgroupfs driver, and no refusal of v1.
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
podCIDR: ${network.podCidr}
# No cluster DNS: the chart's pods reach the API server and Kafka by address.
resolvConf: ${p.resolvConf}
clusterDomain: cluster.local
oomScoreAdj: 0
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%
  imagefs.available: 1%
  nodefs.inodesFree: 1%
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
maxPods: 50
serializeImagePulls: false
protectKernelDefaults: false
makeIPTablesUtilChains: true
`;
}

/** @param {ReturnType<typeof paths>} p */
function kubeProxyConfig(p) {
  return `apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection:
  kubeconfig: ${p.kubeconfig('kube-proxy')}
hostnameOverride: ${nodeName}
bindAddress: ${network.nodeAddress}
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
clusterCIDR: ${network.podCidr}
nodePortAddresses: ['${network.nodeAddress}/32']
oomScoreAdj: 0
iptables:
  # Every Service connection is masqueraded: replies of a pod to a pod on the
  # same bridge then return through the node, where the DNAT is undone.
  masqueradeAll: true
conntrack:
  # Leave the namespace's conntrack settings as they are.
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
`;
}

/** @param {ReturnType<typeof paths>} p */
export async function writeConfigs(p) {
  for (const dir of [
    p.logs,
    p.run,
    p.etcd,
    p.containerdRoot,
    p.containerdState,
    p.cniConf,
    p.cniState,
    p.kubelet,
    dirname(p.kubeletConfig),
    p.kafka,
    p.podLogs,
  ]) {
    await mkdir(dir, { recursive: true });
  }
  await chmod(p.etcd, 0o700);
  for (const user of [
    'admin',
    'kube-controller-manager',
    'kube-scheduler',
    'kubelet',
    'kube-proxy',
  ]) {
    await writeFile(p.kubeconfig(user), kubeconfig(p, user), { mode: 0o600 });
  }
  await writeFile(p.containerdConfig, containerdConfig(p));
  await writeFile(join(p.cniConf, '10-fanout.conflist'), cniConfig(p));
  await writeFile(p.kubeletConfig, kubeletConfig(p));
  await writeFile(p.kubeProxyConfig, kubeProxyConfig(p));
  // Pods get no name server: nothing outside the namespace is reachable anyway.
  await writeFile(p.resolvConf, 'options ndots:1\n');
}

// ---------------------------------------------------------------- network

function namespaceExists() {
  return existsSync(`/var/run/netns/${network.namespace}`);
}

export function ensureNetwork() {
  if (!namespaceExists()) {
    log(`creating network namespace ${network.namespace}`);
    run('ip', ['netns', 'add', network.namespace]);
  }
  const ns = ['-n', network.namespace];
  run('ip', [...ns, 'link', 'set', 'lo', 'up']);
  if (!run('ip', ['link', 'show', network.hostLink], { allowFailure: true }).ok) {
    run('ip', [
      'link',
      'add',
      network.hostLink,
      'type',
      'veth',
      'peer',
      'name',
      network.nodeLink,
      'netns',
      network.namespace,
    ]);
    run('ip', [
      'addr',
      'add',
      `${network.hostAddress}/${network.linkPrefix}`,
      'dev',
      network.hostLink,
    ]);
    run('ip', [
      ...ns,
      'addr',
      'add',
      `${network.nodeAddress}/${network.linkPrefix}`,
      'dev',
      network.nodeLink,
    ]);
  }
  run('ip', ['link', 'set', network.hostLink, 'up']);
  run('ip', [...ns, 'link', 'set', network.nodeLink, 'up']);
  // The host reaches pods and ClusterIPs through the node; nothing else is routed.
  for (const cidr of [network.podCidr, network.serviceCidr]) {
    run('ip', ['route', 'replace', cidr, 'via', network.nodeAddress, 'dev', network.hostLink]);
  }
  for (const [key, value] of [
    ['net.ipv4.ip_forward', '1'],
    ['net.ipv4.conf.all.route_localnet', '1'],
    ['net.bridge.bridge-nf-call-iptables', '1'],
  ]) {
    inNamespace('sysctl', ['-w', `${key}=${value}`]);
  }
}

// ---------------------------------------------------------------- processes

/** @param {ReturnType<typeof paths>} p @param {string} name */
function pidFile(p, name) {
  return join(p.run, `${name}.pid`);
}

/** @param {number} pid */
function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The recorded pid of a component when that process still runs it. */
function runningPid(/** @type {ReturnType<typeof paths>} */ p, /** @type {string} */ name) {
  const file = pidFile(p, name);
  if (!existsSync(file)) return null;
  const pid = Number(readFileSync(file, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) return null;
  // The same process still: its command line names the state directory or the component.
  const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  return cmdline.includes(p.dir) || cmdline.includes(name) ? pid : null;
}

/**
 * Starts a component in the background inside the namespace, its output in logs/<name>.log.
 * @param {ReturnType<typeof paths>} p
 * @param {string} name
 * @param {string} command
 * @param {readonly string[]} args
 * @param {NodeJS.ProcessEnv} [env]
 */
async function startProcess(p, name, command, args, env) {
  const existing = runningPid(p, name);
  if (existing !== null) {
    log(`${name} runs (pid ${existing})`);
    return existing;
  }
  // A new log for each start: readiness is read from it (Kafka's `ready` line).
  const out = openSync(join(p.logs, `${name}.log`), 'w');
  const child = spawn(
    'nsenter',
    [`--net=/var/run/netns/${network.namespace}`, '--', command, ...args],
    {
      detached: true,
      stdio: ['ignore', out, out],
      env: env ?? process.env,
    },
  );
  closeSync(out);
  const pid = child.pid;
  if (pid === undefined) throw new Error(`cannot start ${name}`);
  child.unref();
  await writeFile(pidFile(p, name), `${pid}\n`);
  log(`started ${name} (pid ${pid}, log ${join(p.logs, `${name}.log`)})`);
  return pid;
}

/** @param {ReturnType<typeof paths>} p @param {string} name */
async function stopProcess(p, name, graceMs = 15_000) {
  const pid = runningPid(p, name);
  if (pid !== null) {
    process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (alive(pid) && Date.now() < deadline) await sleep(200);
    if (alive(pid)) process.kill(pid, 'SIGKILL');
    while (alive(pid)) await sleep(100);
    log(`stopped ${name} (pid ${pid})`);
  }
  await rm(pidFile(p, name), { force: true });
}

/**
 * @param {string} what
 * @param {() => Promise<boolean>} check
 * @param {number} timeoutMs
 * @param {() => string} [hint]
 */
async function waitFor(what, check, timeoutMs, hint) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${hint === undefined ? '' : `: ${hint()}`}`);
    }
    await sleep(500);
  }
}

/** @param {string} file */
function tail(file, lines = 15) {
  try {
    return `\n${readFileSync(file, 'utf8').trim().split('\n').slice(-lines).join('\n')}`;
  } catch {
    return '';
  }
}

// ---------------------------------------------------------------- API access

/**
 * A request to the API server as the cluster admin.
 * @param {string} method
 * @param {string} path
 * @param {unknown} [body]
 * @returns {Promise<{ status: number, body: string }>}
 */
export function apiRequest(method, path, body, dir = clusterDir()) {
  const p = paths(dir);
  // With a length: Node sends the body of a DELETE neither chunked nor with
  // one, and the server would read it as the start of the next request.
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolvePromise, reject) => {
    const req = request(
      {
        host: network.nodeAddress,
        port: network.apiPort,
        method,
        path,
        ca: readFileSync(join(p.pki, 'ca.crt')),
        cert: readFileSync(join(p.pki, 'admin.crt')),
        key: readFileSync(join(p.pki, 'admin.key')),
        headers:
          payload === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': payload.length },
        timeout: 10_000,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** @param {string} path @returns {Promise<any>} */
async function apiGet(path) {
  const res = await apiRequest('GET', path);
  if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${res.body.slice(0, 300)}`);
  return JSON.parse(res.body);
}

/**
 * The node reports Ready, in a heartbeat no older than `sinceMs` (a node
 * object left in etcd by the previous `up` still says Ready until the node
 * lifecycle controller notices).
 */
async function nodeReady(sinceMs = 0) {
  const node = await apiGet(`/api/v1/nodes/${nodeName}`);
  /** @type {{ type: string, status: string, lastHeartbeatTime?: string }[]} */
  const conditions = node?.status?.conditions ?? [];
  return conditions.some(
    (c) =>
      c.type === 'Ready' &&
      c.status === 'True' &&
      Date.parse(c.lastHeartbeatTime ?? '') >= Math.floor(sinceMs / 1000) * 1000,
  );
}

// ---------------------------------------------------------------- images

/** A pause binary (Go, static) in an image FROM scratch, as an OCI archive in the cache. */
export async function ensurePauseArchive() {
  const dir = join(cacheDir(), 'tools', 'pause-1');
  const archive = join(dir, 'pause.oci.tar');
  if (existsSync(archive)) return archive;
  await mkdir(dir, { recursive: true });
  await writeFile(
    join(dir, 'main.go'),
    `// The pod sandbox's process: waits for SIGTERM or SIGINT.
package main

import (
\t"os"
\t"os/signal"
\t"syscall"
)

func main() {
\tc := make(chan os.Signal, 1)
\tsignal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
\t<-c
}
`,
  );
  await writeFile(join(dir, 'go.mod'), 'module fanout.local/pause\n\ngo 1.22\n');
  const go = process.env['GO'] || 'go';
  await runCommand(go, ['build', '-trimpath', '-ldflags=-s -w', '-o', join(dir, 'pause'), '.'], {
    cwd: dir,
    env: { ...process.env, CGO_ENABLED: '0', GOWORK: 'off', GOFLAGS: '' },
  });
  const storage = [
    '--root',
    join(dir, 'storage'),
    '--runroot',
    join(dir, 'storage-run'),
    '--storage-driver',
    'vfs',
  ];
  const container = (await runCommand('buildah', [...storage, 'from', 'scratch'])).trim();
  try {
    await runCommand('buildah', [...storage, 'copy', container, join(dir, 'pause'), '/pause']);
    await runCommand('buildah', [
      ...storage,
      'config',
      '--entrypoint',
      '["/pause"]',
      '--user',
      '65535:65535',
      container,
    ]);
    await runCommand('buildah', [...storage, 'commit', container, pauseImage]);
    await runCommand('buildah', [
      ...storage,
      'push',
      pauseImage,
      `oci-archive:${archive}.partial:${pauseImage}`,
    ]);
  } finally {
    await runCommand('buildah', [...storage, 'rm', container]).catch(() => '');
  }
  await runCommand('mv', [`${archive}.partial`, archive]);
  await rm(join(dir, 'storage'), { recursive: true, force: true });
  return archive;
}

/** @param {ReturnType<typeof paths>} p */
function ctr(p, /** @type {readonly string[]} */ args) {
  return run('ctr', ['--address', p.containerdSocket, '--namespace', 'k8s.io', ...args]);
}

/** @param {ReturnType<typeof paths>} p @param {string} archive @param {string} name */
function importImage(p, archive, name) {
  const have = ctr(p, ['images', 'list', '-q']).stdout.split('\n');
  log(`importing ${name} from ${archive}`);
  const importArgs = ['images', 'import', '--no-unpack=false', '--index-name', name, archive];
  // containerd 1.6's ctr, replacing an image of that name, may fail once with
  // "content digest sha256:<the new index>: not found" (the index it just
  // wrote is collected before the image points at it); a second import succeeds.
  for (let attempt = 1; ; attempt++) {
    const result = run(
      'ctr',
      ['--address', p.containerdSocket, '--namespace', 'k8s.io', ...importArgs],
      { allowFailure: attempt < 3 },
    );
    if (result.ok) break;
    log(`import of ${name} failed (${result.stderr.trim()}); trying again`);
  }
  if (!ctr(p, ['images', 'list', '-q']).stdout.split('\n').includes(name)) {
    throw new Error(
      `${name} is not in containerd after importing ${archive} (had ${have.join(' ')})`,
    );
  }
}

function version() {
  return /** @type {{ version: string }} */ (
    JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8'))
  ).version;
}

// ---------------------------------------------------------------- up / down

/**
 * The parts below Kubernetes: network, etcd, containerd (with the pause
 * image) and Kafka.
 * @param {ReturnType<typeof paths>} p
 */
export async function startRuntime(p) {
  const pause = await ensurePauseArchive();
  await ensurePki(p);
  await writeConfigs(p);
  ensureNetwork();
  await startProcess(p, 'etcd', onPath('etcd') ?? 'etcd', [
    '--name',
    'fanout',
    '--data-dir',
    p.etcd,
    '--listen-client-urls',
    'http://127.0.0.1:2379',
    '--advertise-client-urls',
    'http://127.0.0.1:2379',
    '--listen-peer-urls',
    'http://127.0.0.1:2380',
    '--initial-advertise-peer-urls',
    'http://127.0.0.1:2380',
    '--initial-cluster',
    'fanout=http://127.0.0.1:2380',
    '--listen-metrics-urls',
    'http://127.0.0.1:2381',
  ]);
  await startProcess(p, 'containerd', onPath('containerd') ?? 'containerd', [
    '--config',
    p.containerdConfig,
  ]);
  await waitFor(
    'containerd',
    async () => ctr(p, ['version']).ok,
    60_000,
    () => tail(join(p.logs, 'containerd.log')),
  );
  importImage(p, pause, pauseImage);
  await startKafka(p);
}

/** Starts (or finds running) every part of the cluster and waits for the node to be Ready. */
export async function up() {
  if (process.getuid?.() !== 0) throw new Error('the cluster needs root');
  const missing = missingPackages();
  if (missing.length > 0) throw new Error(`missing Debian packages: ${missing.join(' ')}`);
  const p = paths();
  await startRuntime(p);
  const bin = await ensureKubernetes(kubernetesVersion, clusterCommands, { log });
  const pki = (/** @type {string} */ name) => join(p.pki, name);
  await startProcess(p, 'kube-apiserver', bin['kube-apiserver'] ?? '', [
    `--etcd-servers=http://127.0.0.1:2379`,
    `--bind-address=${network.nodeAddress}`,
    `--advertise-address=${network.nodeAddress}`,
    `--secure-port=${network.apiPort}`,
    `--service-cluster-ip-range=${network.serviceCidr}`,
    `--client-ca-file=${pki('ca.crt')}`,
    `--tls-cert-file=${pki('apiserver.crt')}`,
    `--tls-private-key-file=${pki('apiserver.key')}`,
    `--kubelet-client-certificate=${pki('apiserver-kubelet-client.crt')}`,
    `--kubelet-client-key=${pki('apiserver-kubelet-client.key')}`,
    `--kubelet-preferred-address-types=InternalIP`,
    `--service-account-key-file=${pki('service-account.pub')}`,
    `--service-account-signing-key-file=${pki('service-account.key')}`,
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    '--authorization-mode=Node,RBAC',
    '--enable-admission-plugins=NodeRestriction',
    '--allow-privileged=true',
    '--profiling=false',
  ]);
  await waitFor(
    'the API server',
    async () => (await apiRequest('GET', '/readyz')).status === 200,
    120_000,
    () => tail(join(p.logs, 'kube-apiserver.log')),
  );
  await startProcess(p, 'kube-controller-manager', bin['kube-controller-manager'] ?? '', [
    `--kubeconfig=${p.kubeconfig('kube-controller-manager')}`,
    `--authentication-kubeconfig=${p.kubeconfig('kube-controller-manager')}`,
    `--authorization-kubeconfig=${p.kubeconfig('kube-controller-manager')}`,
    '--bind-address=127.0.0.1',
    '--leader-elect=false',
    '--use-service-account-credentials=true',
    `--service-account-private-key-file=${pki('service-account.key')}`,
    `--root-ca-file=${pki('ca.crt')}`,
    `--cluster-signing-cert-file=${pki('ca.crt')}`,
    `--cluster-signing-key-file=${pki('ca.key')}`,
    `--service-cluster-ip-range=${network.serviceCidr}`,
    '--allocate-node-cidrs=false',
  ]);
  await startProcess(p, 'kube-scheduler', bin['kube-scheduler'] ?? '', [
    `--kubeconfig=${p.kubeconfig('kube-scheduler')}`,
    `--authentication-kubeconfig=${p.kubeconfig('kube-scheduler')}`,
    `--authorization-kubeconfig=${p.kubeconfig('kube-scheduler')}`,
    '--bind-address=127.0.0.1',
    '--leader-elect=false',
  ]);
  // Readiness of a kubelet started now must come from it, not from the node's last status.
  const kubeletStarted = runningPid(p, 'kubelet') === null ? Date.now() : 0;
  await startProcess(p, 'kubelet', bin['kubelet'] ?? '', [
    `--config=${p.kubeletConfig}`,
    `--kubeconfig=${p.kubeconfig('kubelet')}`,
    `--root-dir=${p.kubelet}`,
    `--cert-dir=${join(p.kubelet, 'pki')}`,
    `--hostname-override=${nodeName}`,
    `--node-ip=${network.nodeAddress}`,
    `--pod-infra-container-image=${pauseImage}`,
    '--v=1',
  ]);
  await startProcess(p, 'kube-proxy', bin['kube-proxy'] ?? '', [`--config=${p.kubeProxyConfig}`]);
  await waitFor(
    'the node to be Ready',
    () => nodeReady(kubeletStarted),
    180_000,
    () => tail(join(p.logs, 'kubelet.log')),
  );
  log(`node ${nodeName} is Ready; API server ${apiUrl()}, KUBECONFIG=${p.adminKubeconfig}`);
  return status();
}

/** The Kafka broker for `kafka.external`, on the node's address. */
async function startKafka(/** @type {ReturnType<typeof paths>} */ p) {
  const script = join(repoRoot, 'deploy', 'kafka', 'local-kafka.mjs');
  await startProcess(p, 'kafka', process.execPath, [
    script,
    'start',
    '--host',
    network.nodeAddress,
    '--port',
    String(network.kafkaPort),
    '--controller-port',
    String(network.kafkaControllerPort),
    '--data-dir',
    p.kafka,
  ]);
  await waitFor(
    'Kafka',
    async () => readFileSync(join(p.logs, 'kafka.log'), 'utf8').includes('"event":"ready"'),
    180_000,
    () => tail(join(p.logs, 'kafka.log')),
  );
}

/** The mount points under a directory, deepest first. */
function mountsUnder(/** @type {string} */ dir) {
  const points = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .map((point) => point.replace(/\\040/g, ' '))
    .filter((point) => point === dir || point.startsWith(`${dir}/`));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

/** The network namespaces of the pod sandboxes containerd knows. */
function sandboxNamespaces(/** @type {ReturnType<typeof paths>} */ p) {
  /** @type {string[]} */
  const found = [];
  const list = ctr(p, ['containers', 'list', '-q'])
    .stdout.split('\n')
    .filter((id) => id !== '');
  for (const id of list) {
    const info = run(
      'ctr',
      ['--address', p.containerdSocket, '--namespace', 'k8s.io', 'containers', 'info', id],
      { allowFailure: true },
    );
    if (!info.ok) continue;
    /** @type {{ Spec?: { linux?: { namespaces?: { type: string, path?: string }[] } } }} */
    const parsed = JSON.parse(info.stdout);
    for (const ns of parsed.Spec?.linux?.namespaces ?? []) {
      if (ns.type === 'network' && ns.path?.startsWith('/var/run/netns/cni-') === true)
        found.push(ns.path);
    }
  }
  return [...new Set(found)];
}

/** Kills every container task containerd runs for the cluster, and their shims. */
async function stopContainers(/** @type {ReturnType<typeof paths>} */ p) {
  const tasks = ctr(p, ['tasks', 'list', '-q'])
    .stdout.split('\n')
    .filter((id) => id !== '');
  for (const id of tasks) {
    run(
      'ctr',
      [
        '--address',
        p.containerdSocket,
        '--namespace',
        'k8s.io',
        'tasks',
        'kill',
        '--signal',
        'SIGKILL',
        id,
      ],
      { allowFailure: true },
    );
  }
  await sleep(1000);
  for (const id of tasks) {
    run(
      'ctr',
      ['--address', p.containerdSocket, '--namespace', 'k8s.io', 'tasks', 'delete', '--force', id],
      { allowFailure: true },
    );
  }
  if (tasks.length > 0) log(`stopped ${tasks.length} container tasks`);
}

/** Shims started by our containerd (they outlive it): their command line names our socket. */
function shimPids(/** @type {ReturnType<typeof paths>} */ p) {
  /** @type {number[]} */
  const pids = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (cmdline[0]?.endsWith('containerd-shim-runc-v2') && cmdline.includes(p.containerdSocket)) {
        pids.push(Number(entry));
      }
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** Removes the pods' cgroups (cgroupfs driver: `kubepods` under every v1 controller). */
function removePodCgroups() {
  /** @param {string} dir */
  const removeTree = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) removeTree(join(dir, entry.name));
    }
    try {
      rmdirSync(dir);
    } catch {
      // busy: a process still in it
    }
  };
  for (const controller of readdirSync('/sys/fs/cgroup')) {
    const dir = join('/sys/fs/cgroup', controller, 'kubepods');
    if (existsSync(dir)) removeTree(dir);
  }
}

/** The kubelet's links in /var/log/containers to container logs in the state directory. */
function removeLogLinks(/** @type {ReturnType<typeof paths>} */ p) {
  const dir = '/var/log/containers';
  if (!existsSync(dir)) return;
  for (const name of readdirSync(dir)) {
    const link = join(dir, name);
    try {
      if (readlinkSync(link).startsWith(`${p.podLogs}/`)) unlinkSync(link);
    } catch {
      // not a link, or gone meanwhile
    }
  }
}

/** Stops everything `up` started and removes what it created; `purge` also the state. */
export async function down(purge = false) {
  const p = paths();
  for (const name of ['kube-proxy', 'kubelet', 'kube-scheduler', 'kube-controller-manager']) {
    await stopProcess(p, name);
  }
  /** @type {string[]} */
  let podNamespaces = [];
  if (runningPid(p, 'containerd') !== null) {
    podNamespaces = sandboxNamespaces(p);
    await stopContainers(p);
  }
  await stopProcess(p, 'containerd');
  for (const pid of shimPids(p)) {
    process.kill(pid, 'SIGKILL');
    log(`killed containerd shim ${pid}`);
  }
  await stopProcess(p, 'kafka', 45_000);
  await stopProcess(p, 'kube-apiserver');
  await stopProcess(p, 'etcd');
  for (const point of mountsUnder(p.dir)) {
    run('umount', ['-l', point], { allowFailure: true });
  }
  // Sandbox namespaces containerd did not remove (mounted under /var/run/netns).
  for (const path of podNamespaces) {
    if (existsSync(path)) {
      run('umount', ['-l', path], { allowFailure: true });
      await rm(path, { force: true });
    }
  }
  if (namespaceExists()) {
    run('ip', ['netns', 'delete', network.namespace]);
    log(`deleted network namespace ${network.namespace} (its links, bridge and iptables rules)`);
  }
  if (run('ip', ['link', 'show', network.hostLink], { allowFailure: true }).ok) {
    run('ip', ['link', 'delete', network.hostLink]);
  }
  removePodCgroups();
  removeLogLinks(p);
  // Every pod is gone: their addresses are free again (host-local keeps one file per address).
  await rm(p.cniState, { recursive: true, force: true });
  if (purge) {
    await rm(p.dir, { recursive: true, force: true });
    log(`removed ${p.dir}`);
  }
}

/** Processes, network and node, as an object. */
export async function status() {
  const p = paths();
  /** @type {Record<string, number | null>} */
  const processes = {};
  for (const name of [
    'etcd',
    'containerd',
    'kube-apiserver',
    'kube-controller-manager',
    'kube-scheduler',
    'kubelet',
    'kube-proxy',
    'kafka',
  ]) {
    processes[name] = runningPid(p, name);
  }
  let ready = false;
  if (processes['kube-apiserver'] !== null) ready = await nodeReady().catch(() => false);
  return {
    kubernetesVersion,
    built: Object.fromEntries(
      clusterCommands.map((c) => [c, existsSync(kubernetesBinary(kubernetesVersion, c))]),
    ),
    missingPackages: missingPackages(),
    root: process.getuid?.() === 0,
    stateDir: p.dir,
    kubeconfig: p.adminKubeconfig,
    apiServer: apiUrl(),
    kafkaBootstrap: `${network.nodeAddress}:${network.kafkaPort}`,
    network,
    namespace: namespaceExists(),
    processes,
    nodeReady: ready,
  };
}

// ---------------------------------------------------------------- the chart

/** The events topic of the release on the cluster's one broker. */
const topic = { name: 'fanout.events', partitions: 4 };

/**
 * Creates the events topic unless it exists. Ingest would create it too, but
 * an edge that starts before the topic exists reports not ready until a
 * client request makes it read Kafka again, and behind a Service no client
 * reaches an edge that is not ready: the edges would never become Ready.
 */
async function ensureTopic() {
  const { default: kafkajs } = await import('kafkajs');
  const kafka = new kafkajs.Kafka({
    clientId: 'fanout-local-cluster',
    brokers: [`${network.nodeAddress}:${network.kafkaPort}`],
    logLevel: kafkajs.logLevel.NOTHING,
  });
  const admin = kafka.admin();
  await admin.connect();
  try {
    if (!(await admin.listTopics()).includes(topic.name)) {
      log(`creating topic ${topic.name} (${topic.partitions} partitions)`);
      await admin.createTopics({
        topics: [{ topic: topic.name, numPartitions: topic.partitions, replicationFactor: 1 }],
        waitForLeaders: true,
      });
    }
  } finally {
    await admin.disconnect();
  }
}

/** Values for the chart on this one small node. */
function chartValues() {
  const small = { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '512Mi' } };
  return {
    image: { registry: 'localhost', pullPolicy: 'Never' },
    kafka: { external: { bootstrapServers: [`${network.nodeAddress}:${network.kafkaPort}`] } },
    config: { kafka: { topic: topic.name, replicationFactor: 1, partitions: topic.partitions } },
    ingest: {
      replicaCount: 1,
      autoscaling: { enabled: false },
      resources: small,
      service: { type: 'NodePort' },
    },
    edge: {
      replicaCount: 2,
      autoscaling: { enabled: false },
      resources: small,
      service: { type: 'NodePort' },
    },
  };
}

/**
 * Whether helm arguments turn the bridge on (`--set bridge.enabled=true`, alone
 * or in a list): its image is then built (unless cached) and loaded too.
 * @param {readonly string[]} args
 */
export function bridgeEnabledBy(args) {
  return args.some((arg) => /(^|[=,])bridge\.enabled=true(,|$)/.test(arg));
}

/**
 * Loads the service images into containerd (building them unless cached); the
 * bridge's only when `withBridge`.
 * @param {{ withBridge?: boolean }} [options]
 */
async function loadServiceImages(options = {}) {
  const p = paths();
  for (const service of [...imageServices, ...(options.withBridge ? ['bridge'] : [])]) {
    const { archive } = await ensureImage(service, { log });
    importImage(p, archive, `localhost/fanout/${service}:${version()}`);
  }
}

/** @param {readonly string[]} args */
async function helm(args) {
  const binary = await ensureHelm({ log });
  return runCommand(binary, [...args, '--kubeconfig', paths().adminKubeconfig], { tailLines: 60 });
}

/**
 * Installs (or upgrades) the chart with the local images and waits for every pod to be Ready.
 * @param {readonly string[]} [extraArgs] more helm arguments (e.g. --set)
 */
export async function install(extraArgs = []) {
  const p = paths();
  await loadServiceImages({ withBridge: bridgeEnabledBy(extraArgs) });
  await ensureTopic();
  await writeFile(p.values, JSON.stringify(chartValues(), null, 2));
  log(`helm upgrade --install ${release.name} helm/fanout (values ${p.values})`);
  await helm([
    'upgrade',
    '--install',
    release.name,
    join(repoRoot, 'helm', 'fanout'),
    '--namespace',
    release.namespace,
    '--create-namespace',
    '--values',
    p.values,
    ...extraArgs,
    '--wait',
    '--timeout',
    '10m',
  ]);
  return services();
}

/**
 * `helm upgrade` of the installed release with the values `install` wrote and
 * more helm arguments (e.g. `--set edge.replicaCount=4`), without loading the
 * images (but the bridge's, when the arguments turn it on) or creating the topic again; waits until every pod of the new
 * revision is Ready. Arguments of an earlier `install` or `upgrade` are not
 * kept: give every `--set` the release should keep.
 * @param {readonly string[]} [extraArgs]
 */
export async function upgrade(extraArgs = []) {
  const p = paths();
  if (!existsSync(p.values)) throw new Error(`no ${p.values}: run install first`);
  // The bridge's image is the one an upgrade may need that install did not load.
  if (bridgeEnabledBy(extraArgs)) await loadServiceImages({ withBridge: true });
  log(`helm upgrade ${release.name} helm/fanout ${extraArgs.join(' ')}`);
  await helm([
    'upgrade',
    release.name,
    join(repoRoot, 'helm', 'fanout'),
    '--namespace',
    release.namespace,
    '--values',
    p.values,
    ...extraArgs,
    '--wait',
    '--timeout',
    '10m',
  ]);
  return services();
}

/**
 * Runs the k6 Job (deploy/k6/k6-job.yaml) in the cluster against the release
 * (deploy/tools/local-cluster-k6.mjs); its log.
 * @param {string | undefined} script a script of test/load/ (default ws-subscribers.js)
 * @param {Record<string, string>} env more environment of k6 (FANOUT_LOAD_*)
 */
export async function k6(script, env = {}) {
  const { runK6Job } = await import('./local-cluster-k6.mjs');
  const p = paths();
  return runK6Job(
    {
      repoRoot,
      namespace: release.namespace,
      log,
      api: (method, path, body) => apiRequest(method, path, body),
      importImage: (archive, name) => importImage(p, archive, name),
      services,
    },
    { ...(script === undefined ? {} : { script }), env },
  );
}

export async function uninstall() {
  await helm([
    'uninstall',
    release.name,
    '--namespace',
    release.namespace,
    '--wait',
    '--ignore-not-found',
  ]);
}

/** The release's Services with their ClusterIPs and NodePorts. */
export async function services() {
  const list = await apiGet(`/api/v1/namespaces/${release.namespace}/services`);
  /** @type {Record<string, { clusterIP: string, ports: Record<string, { port: number, nodePort?: number }> }>} */
  const out = {};
  for (const svc of list.items ?? []) {
    /** @type {Record<string, { port: number, nodePort?: number }>} */
    const ports = {};
    for (const port of svc.spec?.ports ?? [])
      ports[port.name] = { port: port.port, nodePort: port.nodePort };
    out[svc.metadata.name] = { clusterIP: svc.spec?.clusterIP, ports };
  }
  return { nodeAddress: network.nodeAddress, services: out };
}

// ---------------------------------------------------------------- command line

async function main() {
  const [command, ...rest] = process.argv.slice(2);
  switch (command) {
    case 'up':
      console.log(JSON.stringify(await up(), null, 2));
      return 0;
    case 'down':
      await down(rest.includes('--purge'));
      return 0;
    case 'status':
      console.log(JSON.stringify(await status(), null, 2));
      return 0;
    case 'install':
      console.log(JSON.stringify(await install(rest), null, 2));
      return 0;
    case 'upgrade':
      console.log(JSON.stringify(await upgrade(rest), null, 2));
      return 0;
    case 'k6': {
      const script = rest.find((arg) => !arg.includes('='));
      const env = Object.fromEntries(
        rest
          .filter((arg) => arg.includes('='))
          .map((arg) => [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]),
      );
      const result = await k6(script, env);
      console.log(result.logs);
      return 0;
    }
    case 'uninstall':
      await uninstall();
      return 0;
    case 'env': {
      const p = paths();
      console.log(`export KUBECONFIG=${p.adminKubeconfig}`);
      console.log(`export FANOUT_LOCAL_CLUSTER_NODE=${network.nodeAddress}`);
      console.log(`export FANOUT_LOCAL_CLUSTER_KAFKA=${network.nodeAddress}:${network.kafkaPort}`);
      return 0;
    }
    case 'kubectl': {
      const bin = await ensureKubernetes(kubernetesVersion, ['kubectl'], { log });
      const result = spawnSync(
        bin['kubectl'] ?? 'kubectl',
        [`--kubeconfig=${paths().adminKubeconfig}`, ...rest],
        { stdio: 'inherit' },
      );
      return result.status ?? 1;
    }
    default:
      console.error(
        'usage: node deploy/tools/local-cluster.mjs up | down [--purge] | status | install [helm args] | upgrade [helm args] | k6 [script] [NAME=VALUE ...] | uninstall | env | kubectl ARGS...',
      );
      return 2;
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then(
    (code) => process.exit(code),
    (error) => {
      console.error(error instanceof Error ? error.message : String(error));
      process.exit(1);
    },
  );
}
