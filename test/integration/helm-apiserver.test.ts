/**
 * Installs the chart into a real Kubernetes API server (kube-apiserver built
 * from the published modules, etcd from Debian; see
 * deploy/tools/helm-test-cluster.mjs) and checks what a cluster would hold:
 * every rendered object exists and was accepted by the server's own
 * validation, the edge's ServiceAccount token may read EndpointSlices of its
 * namespace and nothing else, the edge's Kubernetes membership source
 * follows the headless Service's EndpointSlices with that token, and
 * `helm uninstall` removes it all. There is
 * no scheduler, controller manager or kubelet: pods never run, so the
 * EndpointSlice of the headless Service is written the way the EndpointSlice
 * controller writes it.
 *
 * Opt-in (it needs a build of kube-apiserver that takes many minutes):
 *   node deploy/tools/helm-test-cluster.mjs fetch && apt-get install etcd-server
 *   FANOUT_TEST_KUBE_APISERVER=1 npm test -- helm-apiserver
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KubernetesMembership, type Member } from '@fanout/edge';
import {
  chartDir,
  chartTools,
  missingToolsReason,
  renderChart,
  runHelm,
  type K8sObject,
} from '../support/helm-chart.js';
import { repoRoot } from '../support/repo-paths.js';

interface ClusterTools {
  readonly kubernetesVersion: string;
  readonly kubeApiserver: string | null;
  readonly etcd: string | null;
}

function clusterTools(): ClusterTools {
  const result = spawnSync(
    process.execPath,
    [join(repoRoot, 'deploy', 'tools', 'helm-test-cluster.mjs'), 'status'],
    { encoding: 'utf8' },
  );
  if (result.status !== 0) throw new Error(result.stderr);
  return JSON.parse(result.stdout) as ClusterTools;
}

const tools = chartTools();
const cluster = clusterTools();
function skipReason(): string | undefined {
  if (process.env['FANOUT_TEST_KUBE_APISERVER'] !== '1') {
    return 'opt-in: FANOUT_TEST_KUBE_APISERVER=1 (see the head of this file)';
  }
  if (cluster.kubeApiserver === null) return 'run node deploy/tools/helm-test-cluster.mjs fetch';
  if (cluster.etcd === null) return 'etcd is not installed (apt-get install etcd-server)';
  return missingToolsReason(tools);
}
const skip = skipReason();

const namespace = 'events';
const adminToken = 'fanout-test-admin-token';
const bootstrap = 'kafka.external.bootstrapServers[0]=kafka-0.kafka:9092';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (typeof address === 'object' && address !== null) resolve(address.port);
        else reject(new Error('no port'));
      });
    });
  });
}

interface ApiResponse {
  readonly status: number;
  /** The body as sent (a watch sends one JSON event per line). */
  readonly text: string;
  readonly body: Record<string, unknown>;
}

let apiPort = 0;

/** A request to the API server (its certificate is self-signed, on loopback). */
function api(method: string, path: string, token: string, body?: unknown): Promise<ApiResponse> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      {
        host: '127.0.0.1',
        port: apiPort,
        method,
        path,
        rejectUnauthorized: false,
        headers: {
          authorization: `Bearer ${token}`,
          accept: 'application/json',
          ...(payload === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
        },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: Record<string, unknown>;
          try {
            body = JSON.parse(text) as Record<string, unknown>;
          } catch {
            body = {};
          }
          resolve({ status: response.statusCode ?? 0, text, body });
        });
      },
    );
    req.once('error', reject);
    req.end(payload);
  });
}

const plurals: Readonly<Record<string, string>> = {
  ConfigMap: 'configmaps',
  Secret: 'secrets',
  Service: 'services',
  ServiceAccount: 'serviceaccounts',
  Deployment: 'deployments',
  HorizontalPodAutoscaler: 'horizontalpodautoscalers',
  PodDisruptionBudget: 'poddisruptionbudgets',
  Role: 'roles',
  RoleBinding: 'rolebindings',
  NetworkPolicy: 'networkpolicies',
  Ingress: 'ingresses',
};

function objectPath(object: K8sObject): string {
  const plural = plurals[object.kind];
  assert.ok(plural, `a plural for ${object.kind}`);
  const base = object.apiVersion === 'v1' ? '/api/v1' : `/apis/${object.apiVersion}`;
  return `${base}/namespaces/${namespace}/${plural}/${object.metadata.name}`;
}

async function waitFor(what: string, check: () => Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

function stop(child: ChildProcess | undefined): Promise<void> {
  if (child?.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

describe('Helm chart in a real kube-apiserver', { skip }, () => {
  let dir = '';
  let etcd: ChildProcess | undefined;
  let apiserver: ChildProcess | undefined;
  let kubeconfig = '';
  const logs: string[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fanout-apiserver-'));
    const [etcdClient, etcdPeer, secure] = [await freePort(), await freePort(), await freePort()];
    apiPort = secure;
    etcd = spawn(
      cluster.etcd ?? 'etcd',
      [
        '--name=fanout-test',
        `--data-dir=${join(dir, 'etcd')}`,
        `--listen-client-urls=http://127.0.0.1:${etcdClient}`,
        `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
        `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-cluster=fanout-test=http://127.0.0.1:${etcdPeer}`,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    etcd.stderr?.on('data', (chunk: Buffer) => logs.push(`etcd: ${chunk.toString('utf8')}`));
    const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(join(dir, 'sa.key'), keys.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    writeFileSync(join(dir, 'sa.pub'), keys.publicKey.export({ type: 'spki', format: 'pem' }));
    writeFileSync(join(dir, 'tokens.csv'), `${adminToken},admin,admin,"system:masters"\n`);
    mkdirSync(join(dir, 'certs'));
    apiserver = spawn(
      cluster.kubeApiserver ?? 'kube-apiserver',
      [
        `--etcd-servers=http://127.0.0.1:${etcdClient}`,
        '--bind-address=127.0.0.1',
        `--secure-port=${secure}`,
        `--cert-dir=${join(dir, 'certs')}`,
        `--token-auth-file=${join(dir, 'tokens.csv')}`,
        '--authorization-mode=RBAC',
        '--service-account-issuer=https://kubernetes.default.svc',
        `--service-account-key-file=${join(dir, 'sa.pub')}`,
        `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
        '--service-cluster-ip-range=10.96.0.0/16',
        '--endpoint-reconciler-type=none',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    apiserver.stderr?.on('data', (chunk: Buffer) => {
      logs.push(`kube-apiserver: ${chunk.toString('utf8')}`);
      if (logs.length > 400) logs.splice(0, logs.length - 400);
    });
    try {
      await waitFor(
        'kube-apiserver /readyz',
        async () => (await api('GET', '/readyz', adminToken)).status === 200,
        180_000,
      );
    } catch (error) {
      throw new Error(`${String(error)}\n${logs.slice(-40).join('')}`, { cause: error });
    }
    kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [
          {
            name: 'test',
            cluster: { server: `https://127.0.0.1:${secure}`, 'insecure-skip-tls-verify': true },
          },
        ],
        users: [{ name: 'admin', user: { token: adminToken } }],
        contexts: [{ name: 'test', context: { cluster: 'test', user: 'admin', namespace } }],
        'current-context': 'test',
      }),
    );
  });

  after(async () => {
    await stop(apiserver);
    await stop(etcd);
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  const helmArgs = (...args: string[]): string[] => [...args, '--kubeconfig', kubeconfig];

  it('installs: every rendered object is stored, accepted by the server’s validation', async () => {
    const result = runHelm(
      tools.helm ?? 'helm',
      helmArgs(
        'install',
        'fanout',
        chartDir,
        '-n',
        namespace,
        '--create-namespace',
        '--set',
        bootstrap,
      ),
    );
    assert.equal(result.status, 0, `${result.stdout}${result.stderr}`);
    const objects = renderChart(tools.helm ?? 'helm', { set: [bootstrap] });
    assert.ok(objects.length >= 12);
    for (const object of objects) {
      const response = await api('GET', objectPath(object), adminToken);
      assert.equal(
        response.status,
        200,
        `${object.kind}/${object.metadata.name}: ${response.status}`,
      );
      const metadata = response.body['metadata'] as { annotations?: Record<string, string> };
      assert.equal(metadata.annotations?.['meta.helm.sh/release-name'], 'fanout');
    }
  });

  it('the edge’s ServiceAccount token reads EndpointSlices of its namespace and nothing else', async () => {
    const tokenResponse = await api(
      'POST',
      `/api/v1/namespaces/${namespace}/serviceaccounts/fanout/token`,
      adminToken,
      {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: { expirationSeconds: 600 },
      },
    );
    assert.equal(tokenResponse.status, 201, JSON.stringify(tokenResponse.body));
    const token = (tokenResponse.body['status'] as { token: string }).token;

    // What the EndpointSlice controller writes for the headless Service's ready pods.
    const slice = {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: {
        name: 'fanout-edge-headless-abcde',
        labels: {
          'kubernetes.io/service-name': 'fanout-edge-headless',
          'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io',
        },
      },
      addressType: 'IPv4',
      endpoints: [
        {
          addresses: ['10.244.1.7'],
          conditions: { ready: true, serving: true, terminating: false },
          targetRef: { kind: 'Pod', namespace, name: 'fanout-edge-7d9c-x1' },
        },
        {
          addresses: ['10.244.2.9'],
          conditions: { ready: false, serving: true, terminating: true },
          targetRef: { kind: 'Pod', namespace, name: 'fanout-edge-7d9c-x2' },
        },
      ],
      ports: [{ name: 'http', port: 8081, protocol: 'TCP' }],
    };
    const created = await api(
      'POST',
      `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`,
      adminToken,
      slice,
    );
    assert.equal(created.status, 201, JSON.stringify(created.body));

    const selector = encodeURIComponent('kubernetes.io/service-name=fanout-edge-headless');
    const list = await api(
      'GET',
      `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices?labelSelector=${selector}`,
      token,
    );
    assert.equal(list.status, 200, JSON.stringify(list.body));
    const items = list.body['items'] as {
      endpoints: { addresses: string[]; conditions: { ready: boolean } }[];
    }[];
    assert.deepEqual(
      items.flatMap((item) =>
        item.endpoints
          .filter((endpoint) => endpoint.conditions.ready)
          .flatMap((endpoint) => endpoint.addresses),
      ),
      ['10.244.1.7'],
    );
    // A watch from the list's resourceVersion sees the controller's next write.
    const resourceVersion = (list.body['metadata'] as { resourceVersion: string }).resourceVersion;
    const watching = api(
      'GET',
      `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices?watch=1&timeoutSeconds=3&allowWatchBookmarks=true&resourceVersion=${resourceVersion}&labelSelector=${selector}`,
      token,
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    const patched = await api(
      'PUT',
      `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices/fanout-edge-headless-abcde`,
      adminToken,
      {
        ...(created.body as object),
        endpoints: [
          ...slice.endpoints.slice(0, 1),
          {
            addresses: ['10.244.3.4'],
            conditions: { ready: true, serving: true, terminating: false },
            targetRef: { kind: 'Pod', namespace, name: 'fanout-edge-7d9c-x3' },
          },
        ],
      },
    );
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    const watch = await watching;
    assert.equal(watch.status, 200);
    const events = watch.text
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as { type: string });
    assert.ok(
      events.some((event) => event.type === 'MODIFIED'),
      JSON.stringify(events),
    );
    const record = process.env['FANOUT_TEST_RECORD_ENDPOINTSLICES'];
    if (record !== undefined && record !== '') {
      writeFileSync(
        record,
        `${JSON.stringify(
          {
            recorded: `Real responses of kube-apiserver ${cluster.kubernetesVersion} (etcd from Debian) to the edge's ServiceAccount token, by test/integration/helm-apiserver.test.ts with FANOUT_TEST_RECORD_ENDPOINTSLICES. The EndpointSlice was written as the EndpointSlice controller writes it (no controller manager ran).`,
            list: {
              request: `GET /apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices?labelSelector=kubernetes.io/service-name=fanout-edge-headless`,
              response: list.body,
            },
            watch: {
              request: `GET /apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices?watch=1&allowWatchBookmarks=true&resourceVersion=${resourceVersion}&labelSelector=kubernetes.io/service-name=fanout-edge-headless`,
              events,
            },
          },
          null,
          2,
        )}\n`,
      );
    }

    for (const [path, what] of [
      [`/api/v1/namespaces/${namespace}/pods`, 'pods'],
      [`/api/v1/namespaces/${namespace}/secrets`, 'secrets'],
      [
        '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices',
        'EndpointSlices of another namespace',
      ],
      ['/apis/discovery.k8s.io/v1/endpointslices', 'EndpointSlices of all namespaces'],
    ] as const) {
      assert.equal((await api('GET', path, token)).status, 403, what);
    }
    assert.equal(
      (
        await api(
          'DELETE',
          `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices/fanout-edge-headless-abcde`,
          token,
        )
      ).status,
      403,
      'deleting an EndpointSlice',
    );
  });

  it('the edge’s Kubernetes membership follows the EndpointSlices with its token', async () => {
    const tokenResponse = await api(
      'POST',
      `/api/v1/namespaces/${namespace}/serviceaccounts/fanout/token`,
      adminToken,
      { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: {} },
    );
    assert.equal(tokenResponse.status, 201);
    const token = (tokenResponse.body['status'] as { token: string }).token;
    const reports: (readonly Member[])[] = [];
    const errors: unknown[] = [];
    const membership = new KubernetesMembership({
      apiUrl: `https://127.0.0.1:${apiPort}`,
      namespace,
      service: 'fanout-edge-headless',
      portName: 'http',
      port: 8081,
      scheme: 'http',
      token: () => token,
      // kube-apiserver's self-signed serving certificate and its CA
      ca: readFileSync(join(dir, 'certs', 'apiserver.crt'), 'utf8'),
      onError: (error) => errors.push(error),
      backoffMs: 100,
      maxBackoffMs: 1000,
    });
    try {
      const first = await membership.start((members) => reports.push(members));
      assert.deepEqual(first, [
        { id: 'fanout-edge-7d9c-x1', url: 'http://10.244.1.7:8081' },
        { id: 'fanout-edge-7d9c-x3', url: 'http://10.244.3.4:8081' },
      ]);
      // A pod turns not ready; another slice of the Service lists a new pod.
      const path = `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`;
      const current = await api('GET', `${path}/fanout-edge-headless-abcde`, adminToken);
      const endpoints = current.body['endpoints'] as { conditions: { ready: boolean } }[];
      const updated = await api('PUT', `${path}/fanout-edge-headless-abcde`, adminToken, {
        ...current.body,
        endpoints: endpoints.map((endpoint, index) =>
          index === 1
            ? { ...endpoint, conditions: { ...endpoint.conditions, ready: false } }
            : endpoint,
        ),
      });
      assert.equal(updated.status, 200, JSON.stringify(updated.body));
      await waitFor(
        'the not-ready pod to leave',
        () => Promise.resolve(reports.at(-1)?.length === 1),
        30_000,
      );
      const second = await api('POST', path, adminToken, {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: {
          name: 'fanout-edge-headless-fghij',
          labels: { 'kubernetes.io/service-name': 'fanout-edge-headless' },
        },
        addressType: 'IPv4',
        endpoints: [
          {
            addresses: ['10.244.4.2'],
            conditions: { ready: true },
            targetRef: { kind: 'Pod', namespace, name: 'fanout-edge-7d9c-x4' },
          },
        ],
        ports: [{ name: 'http', port: 8081, protocol: 'TCP' }],
      });
      assert.equal(second.status, 201, JSON.stringify(second.body));
      await waitFor(
        'the new pod to join',
        () => Promise.resolve(reports.at(-1)?.length === 2),
        30_000,
      );
      assert.deepEqual(reports.at(-1), [
        { id: 'fanout-edge-7d9c-x1', url: 'http://10.244.1.7:8081' },
        { id: 'fanout-edge-7d9c-x4', url: 'http://10.244.4.2:8081' },
      ]);
      assert.deepEqual(errors, []);
    } finally {
      await membership.close();
    }
  });

  it('refuses Strimzi mode on a cluster without the Strimzi API, naming it', () => {
    const result = runHelm(
      tools.helm ?? 'helm',
      helmArgs(
        'install',
        'kafka-less',
        chartDir,
        '-n',
        namespace,
        '--set',
        'kafka.mode=strimzi',
        '--dry-run=server',
      ),
    );
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /does not serve kafka\.strimzi\.io\/v1\/Kafka/);
  });

  it('uninstalls: the objects are gone', async () => {
    const result = runHelm(
      tools.helm ?? 'helm',
      helmArgs('uninstall', 'fanout', '-n', namespace, '--wait'),
    );
    assert.equal(result.status, 0, `${result.stdout}${result.stderr}`);
    const objects = renderChart(tools.helm ?? 'helm', { set: [bootstrap] });
    for (const object of objects) {
      await waitFor(
        `${object.kind}/${object.metadata.name} deleted`,
        async () => (await api('GET', objectPath(object), adminToken)).status === 404,
        60_000,
      );
    }
  });
});
