/**
 * The Helm chart (helm/fanout): lint, render for the documented profiles,
 * validate every rendered object offline against the Kubernetes API schemas
 * and the custom resources' schemas, feed the rendered configuration to the
 * services' own loader, and check that wrong values are refused by
 * values.schema.json with the key named.
 *
 * Needs the pinned Helm and kubernetes-validate (`node deploy/tools/helm.mjs
 * fetch`; CI installs them). Without them the Helm-dependent tests skip
 * locally with that message and fail in CI.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig, type FanoutConfig } from '@fanout/shared';
import { isMap, isScalar, parseDocument, type YAMLMap } from 'yaml';
import {
  chartDir,
  chartTools,
  findObject,
  missingToolsReason,
  profilesDir,
  renderChart,
  runHelm,
  validateObjects,
  type K8sObject,
} from '../support/helm-chart.js';
import { repoRoot } from '../support/repo-paths.js';

const tools = chartTools();
const skip = missingToolsReason(tools);
const helm = tools.helm ?? 'helm';
/** The one value a default install needs: where Kafka is. */
const bootstrap = 'kafka.external.bootstrapServers[0]=kafka-0.kafka:9092';

interface Profile {
  readonly name: string;
  readonly files: readonly string[];
  readonly set: readonly string[];
}

const profiles: readonly Profile[] = [
  { name: 'defaults (with the bootstrap servers)', files: [], set: [bootstrap] },
  ...readdirSync(profilesDir)
    .filter((file) => file.endsWith('.yaml'))
    .sort()
    .map((file) => ({ name: `profile ${file}`, files: [join(profilesDir, file)], set: [] })),
  {
    name: 'profile strimzi.yaml with kafka.strimzi.io/v1beta2 (older operators)',
    files: [join(profilesDir, 'strimzi.yaml')],
    set: ['kafka.strimzi.apiVersion=kafka.strimzi.io/v1beta2'],
  },
  {
    name: 'membership from the headless Service’s DNS records',
    files: [],
    set: [bootstrap, 'config.cluster.membership=dns'],
  },
  {
    name: 'everything optional on (ingress, HTTPRoute, monitoring, NetworkPolicy, SASL/TLS, bridge)',
    files: [join(profilesDir, 'production.yaml'), join(profilesDir, 'gateway-api.yaml')],
    set: [
      'kafka.external.sasl.existingSecret=',
      'kafka.external.sasl.password=s3cret',
      'secretConfig.auth.jwtHs256Secret=hs-secret',
      'bridge.enabled=true',
      'bridge.ingestToken.secretName=fanout-bridge-token',
      'config.bridge.origins[0]=https://api.example.com',
      'config.bridge.origins[1]=http://prices.internal:8080',
      'config.bridge.resources[0].channel=prices.eu',
      'config.bridge.resources[0].url=http://prices.internal:8080/eu',
    ],
  },
];

type Container = Readonly<{
  name: string;
  image: string;
  env?: readonly Readonly<{
    name: string;
    value?: string;
    valueFrom?: Readonly<Record<string, unknown>>;
  }>[];
  ports?: readonly Readonly<{ name: string; containerPort: number }>[];
  securityContext?: Readonly<Record<string, unknown>>;
  lifecycle?: { preStop?: { exec?: { command?: readonly string[] } } };
}>;

interface PodSpec {
  readonly containers: readonly Container[];
  readonly terminationGracePeriodSeconds?: number;
  readonly securityContext?: Readonly<Record<string, unknown>>;
  readonly automountServiceAccountToken?: boolean;
}

function podSpec(deployment: K8sObject): PodSpec {
  const spec = deployment['spec'] as { template: { spec: PodSpec } };
  return spec.template.spec;
}

function onlyContainer(deployment: K8sObject): Container {
  const [container] = podSpec(deployment).containers;
  assert.ok(container, `${deployment.metadata.name} has a container`);
  return container;
}

/** Downward-API values of a sample pod. */
const samplePod: Readonly<Record<string, string>> = {
  'metadata.name': 'fanout-edge-6d5f8b7c9-x2x4q',
  'metadata.namespace': 'events',
  'status.podIP': '10.244.0.7',
};

/** The value of a secretKeyRef to a Secret of the release, if it renders that Secret. */
function renderedSecretKey(objects: readonly K8sObject[], ref: unknown): string | undefined {
  const { name, key } = (ref ?? {}) as { name?: string; key?: string };
  if (name === undefined || key === undefined) return undefined;
  const secret = objects.find(
    (object) => object.kind === 'Secret' && object.metadata.name === name,
  );
  const data = secret?.['data'] as Record<string, string> | undefined;
  const encoded = data?.[key];
  return encoded === undefined ? undefined : Buffer.from(encoded, 'base64').toString('utf8');
}

/**
 * The configuration a service of this release would load: the ConfigMap's
 * file, the Secret's variables and the container's plain variables, through
 * the services' own loader (which rejects unknown FANOUT_* variables).
 */
function loadRenderedConfig(objects: readonly K8sObject[], deploymentName: string): FanoutConfig {
  const configMap = findObject(objects, 'ConfigMap', 'fanout');
  const secret = findObject(objects, 'Secret', 'fanout');
  const container = onlyContainer(findObject(objects, 'Deployment', deploymentName));
  const dir = mkdtempSync(join(tmpdir(), 'fanout-chart-config-'));
  try {
    const file = join(dir, 'config.json');
    const data = configMap['data'] as Record<string, string>;
    writeFileSync(file, data['config.json'] ?? '');
    const env: Record<string, string> = {};
    for (const [name, value] of Object.entries(
      (secret['stringData'] ?? {}) as Record<string, string>,
    )) {
      env[name] = value;
    }
    for (const variable of container.env ?? []) {
      // What the kubelet would set: downward-API values of a sample pod, the keys of Secrets
      // the release renders, a placeholder for other Secrets, and $(VAR) references to
      // variables set before.
      const fieldPath = (variable.valueFrom?.['fieldRef'] as { fieldPath?: string } | undefined)
        ?.fieldPath;
      const value =
        variable.value ??
        (fieldPath === undefined
          ? (renderedSecretKey(objects, variable.valueFrom?.['secretKeyRef']) ?? 'from-a-secret')
          : (samplePod[fieldPath] ?? 'unknown-field'));
      env[variable.name] = value.replace(
        /\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g,
        (whole, name: string) => env[name] ?? whole,
      );
    }
    env['FANOUT_CONFIG_FILE'] = file;
    return loadConfig({ env });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('Helm chart: values', () => {
  it('values.yaml and values.schema.json match the services’ configuration schema', () => {
    const result = spawnSync(
      process.execPath,
      [join(repoRoot, 'deploy', 'tools', 'helm-values.mjs'), 'check'],
      { encoding: 'utf8' },
    );
    assert.equal(result.status, 0, `${result.stderr}\n(run npm run docs:generate)`);
  });

  it('every key of values.yaml has a comment', () => {
    const document = parseDocument(readFileSync(join(chartDir, 'values.yaml'), 'utf8'));
    const undocumented: string[] = [];
    const walk = (map: YAMLMap, path: string): void => {
      map.items.forEach((pair, index) => {
        const key = isScalar(pair.key) ? String(pair.key.value) : '?';
        const keyComment = isScalar(pair.key) ? pair.key.commentBefore : undefined;
        const inherited =
          index === 0
            ? (map.commentBefore ?? (path === '' ? document.commentBefore : undefined))
            : undefined;
        const comment = keyComment ?? inherited;
        const here = path === '' ? key : `${path}.${key}`;
        if (comment === undefined || comment === null || comment.trim() === '') {
          undocumented.push(here);
          return;
        }
        // `# -- text` documents a value (which may be an object); other comments head a section.
        const documentsValue = /(^|\n)\s*-- /.test(comment.split('\n').at(-1) ?? '');
        if (!documentsValue && isMap(pair.value)) walk(pair.value, here);
      });
    };
    assert.ok(isMap(document.contents));
    walk(document.contents, '');
    assert.deepEqual(undocumented, []);
  });
});

interface RecordedSlice {
  readonly metadata: { readonly labels: Readonly<Record<string, string>> };
  readonly endpoints: readonly {
    readonly addresses: readonly string[];
    readonly conditions: { readonly ready?: boolean };
  }[];
}

describe('recorded EndpointSlice responses (test/fixtures/kubernetes)', () => {
  // Recorded from a real kube-apiserver by test/integration/helm-apiserver.test.ts, for the
  // membership implementation's tests where no API server can be started.
  const recorded = JSON.parse(
    readFileSync(
      join(repoRoot, 'test', 'fixtures', 'kubernetes', 'endpointslices.recorded.json'),
      'utf8',
    ),
  ) as {
    recorded: string;
    list: { response: { kind: string; items: RecordedSlice[] } };
    watch: { events: { type: string; object: RecordedSlice }[] };
  };
  const ready = (slices: readonly RecordedSlice[]): string[] =>
    slices.flatMap((slice) =>
      slice.endpoints
        .filter((endpoint) => endpoint.conditions.ready === true)
        .flatMap((endpoint) => endpoint.addresses),
    );

  it('say where they come from and list the headless Service’s ready edges', () => {
    assert.match(recorded.recorded, /^Real responses of kube-apiserver v1\./);
    assert.equal(recorded.list.response.kind, 'EndpointSliceList');
    for (const slice of recorded.list.response.items) {
      assert.equal(slice.metadata.labels['kubernetes.io/service-name'], 'fanout-edge-headless');
    }
    assert.deepEqual(ready(recorded.list.response.items), ['10.244.1.7']);
    const modified = recorded.watch.events.filter((event) => event.type === 'MODIFIED');
    assert.deepEqual(ready(modified.map((event) => event.object)), ['10.244.1.7', '10.244.3.4']);
  });
});

describe('Helm chart: rendering', { skip }, () => {
  it('helm lint --strict passes for every profile (custom resources off: lint cannot declare their APIs)', () => {
    const withoutCustomResources = [
      'metrics.serviceMonitor.enabled=false',
      'metrics.prometheusRule.enabled=false',
      'httpRoute.enabled=false',
    ];
    let linted = 0;
    for (const profile of profiles) {
      // A Strimzi profile renders only where the operator's API is served; it is validated above.
      if (profile.files.some((file) => file.endsWith('strimzi.yaml'))) continue;
      const args = [
        'lint',
        chartDir,
        '--strict',
        '--namespace',
        'events',
        '--kube-version',
        '1.29.0',
      ];
      for (const file of profile.files) args.push('-f', file);
      for (const pair of [...profile.set, ...withoutCustomResources]) args.push('--set', pair);
      const result = runHelm(helm, args);
      assert.equal(result.status, 0, `${profile.name}:\n${result.stdout}${result.stderr}`);
      linted++;
    }
    assert.ok(linted >= 4);
  });

  for (const profile of profiles) {
    for (const version of tools.kubernetesVersions) {
      it(`${profile.name}: every object is valid for Kubernetes ${version}`, () => {
        const objects = renderChart(helm, {
          files: profile.files,
          set: profile.set,
          extraArgs: ['--kube-version', version],
        });
        assert.ok(objects.length > 5, 'renders objects');
        assert.deepEqual(validateObjects(tools, objects, version), []);
      });
    }

    it(`${profile.name}: both services accept the rendered configuration`, () => {
      const objects = renderChart(helm, { files: profile.files, set: profile.set });
      const ingest = loadRenderedConfig(objects, 'fanout-ingest');
      const edge = loadRenderedConfig(objects, 'fanout-edge');
      assert.equal(ingest.ingest.host, '0.0.0.0');
      assert.equal(edge.edge.host, '0.0.0.0');
      assert.equal(edge.telemetry.metricsHost, '0.0.0.0');
      assert.ok(edge.kafka.brokers.length > 0);
      // Membership: the chart's headless Service, this pod's own URL and id.
      assert.equal(edge.cluster.advertisedUrl, `http://10.244.0.7:${edge.edge.port}`);
      if (edge.cluster.membership === 'kubernetes') {
        assert.equal(edge.cluster.kubernetesService, 'fanout-edge-headless');
        assert.equal(edge.cluster.kubernetesPortName, 'http');
      } else {
        assert.equal(edge.cluster.membership, 'dns');
        assert.equal(edge.cluster.dnsName, 'fanout-edge-headless.events.svc.cluster.local');
        assert.equal(edge.cluster.memberId, '10.244.0.7');
      }
      // The ports the Services publish are the ports the services listen on.
      const edgePorts = onlyContainer(findObject(objects, 'Deployment', 'fanout-edge')).ports ?? [];
      assert.deepEqual(
        edgePorts.map((port) => [port.name, port.containerPort]),
        [
          ['http', edge.edge.port],
          ['metrics', edge.telemetry.metricsPort],
        ],
      );
      // The bridge, when on: its own membership (the DNS of its headless Service), the ingest.
      if (objects.some((object) => object.metadata.name === 'fanout-bridge')) {
        const bridge = loadRenderedConfig(objects, 'fanout-bridge');
        assert.equal(bridge.cluster.membership, 'dns');
        assert.equal(bridge.cluster.dnsName, 'fanout-bridge-headless.events.svc.cluster.local');
        assert.equal(bridge.cluster.memberId, '10.244.0.7');
        assert.equal(bridge.cluster.memberPort, bridge.bridge.port);
        assert.equal(bridge.bridge.ingestAddress, `fanout-ingest:${bridge.ingest.grpcPort}`);
        assert.equal(bridge.bridge.ingestTokenFile, '/etc/fanout/bridge-token/token');
        assert.equal(bridge.bridge.resources.length, 1);
        // Edges find the bridges by their headless Service's EndpointSlices, and both sides
        // hold the same lease token, from the Secret the chart creates.
        assert.equal(edge.edge.resources.bridgeKubernetesService, 'fanout-bridge-headless');
        assert.match(bridge.bridge.leaseToken, /^[A-Za-z0-9]{48}$/);
        assert.equal(edge.edge.resources.bridgeToken, bridge.bridge.leaseToken);
        const leaseSecret = findObject(objects, 'Secret', 'fanout-bridge-lease');
        assert.equal(
          (leaseSecret.metadata['annotations'] as Record<string, string>)[
            'helm.sh/resource-policy'
          ],
          'keep',
        );
        const bridgePorts =
          onlyContainer(findObject(objects, 'Deployment', 'fanout-bridge')).ports ?? [];
        assert.deepEqual(
          bridgePorts.map((port) => [port.name, port.containerPort]),
          [
            ['http', bridge.bridge.port],
            ['metrics', bridge.telemetry.metricsPort],
          ],
        );
        const headless = findObject(objects, 'Service', 'fanout-bridge-headless');
        assert.equal((headless['spec'] as Record<string, unknown>)['clusterIP'], 'None');
        // Egress: DNS, the ingest's gRPC port, the upstream ports of config.bridge.origins.
        const policy = findObject(objects, 'NetworkPolicy', 'fanout-bridge');
        const spec = policy['spec'] as {
          policyTypes: string[];
          egress: { ports: { port: number }[] }[];
        };
        assert.deepEqual(spec.policyTypes, ['Ingress', 'Egress']);
        const egressPorts = spec.egress.slice(0, 3).map((rule) => rule.ports.map((p) => p.port));
        assert.deepEqual(egressPorts, [[53, 53], [bridge.ingest.grpcPort], [443, 8080]]);
      }
      const ingestPorts =
        onlyContainer(findObject(objects, 'Deployment', 'fanout-ingest')).ports ?? [];
      assert.deepEqual(
        ingestPorts.map((port) => [port.name, port.containerPort]),
        [
          ['grpc', ingest.ingest.grpcPort],
          ['http', ingest.ingest.httpPort],
          ['metrics', ingest.telemetry.metricsPort],
        ],
      );
    });

    it(`${profile.name}: pods drain within their grace period, run non-root on a read-only root`, () => {
      const objects = renderChart(helm, { files: profile.files, set: profile.set });
      for (const [name, section] of [
        ['fanout-ingest', 'ingest'],
        ['fanout-edge', 'edge'],
        ['fanout-bridge', 'bridge'],
      ] as const) {
        if (!objects.some((object) => object.metadata.name === name)) continue;
        const deployment = findObject(objects, 'Deployment', name);
        const spec = podSpec(deployment);
        const container = onlyContainer(deployment);
        const config = loadRenderedConfig(objects, name);
        const preStop = Number(container.lifecycle?.preStop?.exec?.command?.[1] ?? NaN);
        assert.ok(Number.isInteger(preStop), `${name} has a preStop sleep`);
        const drainSeconds = Math.ceil(config[section].shutdownTimeoutMs / 1000);
        assert.ok(
          (spec.terminationGracePeriodSeconds ?? 30) > preStop + drainSeconds,
          `${name}: grace ${spec.terminationGracePeriodSeconds} > preStop ${preStop} + drain ${drainSeconds}`,
        );
        assert.equal(spec.securityContext?.['runAsNonRoot'], true);
        assert.equal(container.securityContext?.['readOnlyRootFilesystem'], true);
        assert.equal(container.securityContext?.['allowPrivilegeEscalation'], false);
        assert.deepEqual(container.securityContext?.['capabilities'], { drop: ['ALL'] });
        assert.equal(spec.automountServiceAccountToken, name === 'fanout-edge');
      }
    });
  }

  it('the edge may only get, list and watch EndpointSlices, in its namespace', () => {
    const objects = renderChart(helm, { set: [bootstrap] });
    assert.ok(!objects.some((object) => object.kind === 'ClusterRole'));
    const role = findObject(objects, 'Role', 'fanout-endpointslice-reader');
    assert.deepEqual(role['rules'], [
      {
        apiGroups: ['discovery.k8s.io'],
        resources: ['endpointslices'],
        verbs: ['get', 'list', 'watch'],
      },
    ]);
    const headless = findObject(objects, 'Service', 'fanout-edge-headless');
    const spec = headless['spec'] as Record<string, unknown>;
    assert.equal(spec['clusterIP'], 'None');
    const edge = onlyContainer(findObject(objects, 'Deployment', 'fanout-edge'));
    const env = new Map((edge.env ?? []).map((variable) => [variable.name, variable]));
    assert.deepEqual(env.get('POD_IP')?.valueFrom, { fieldRef: { fieldPath: 'status.podIP' } });
    assert.equal(
      env.get('HEADLESS_SERVICE')?.value,
      'fanout-edge-headless.events.svc.cluster.local',
    );
  });

  it('the edge NetworkPolicy lets edges out to the bridges’ port only when the bridge runs', () => {
    const restricted = [
      bootstrap,
      'networkPolicy.enabled=true',
      'networkPolicy.egress.restrict=true',
    ];
    type Egress = {
      ports: { port: number }[];
      to?: { podSelector?: { matchLabels: Record<string, string> } }[];
    }[];
    const bridgeRules = (set: string[]): Egress => {
      const objects = renderChart(helm, { set });
      const policy = findObject(objects, 'NetworkPolicy', 'fanout-edge');
      const egress = (policy['spec'] as { egress: Egress }).egress;
      return egress.filter((rule) =>
        (rule.to ?? []).some(
          (peer) => peer.podSelector?.matchLabels['app.kubernetes.io/component'] === 'bridge',
        ),
      );
    };
    assert.deepEqual(bridgeRules(restricted), []);
    const rules = bridgeRules([
      ...restricted,
      'bridge.enabled=true',
      'config.bridge.port=8091',
      'config.bridge.origins[0]=https://api.example.com',
    ]);
    assert.deepEqual(
      rules.map((rule) => rule.ports.map((port) => port.port)),
      [[8091]],
    );
  });

  it('with the bridge on, edges follow its EndpointSlices and share its lease token', () => {
    const bridgeOn = [bootstrap, 'bridge.enabled=true'];
    const tokenRef = (objects: readonly K8sObject[], deployment: string, variable: string) =>
      onlyContainer(findObject(objects, 'Deployment', deployment)).env?.find(
        (entry) => entry.name === variable,
      )?.valueFrom?.['secretKeyRef'];
    // An existing Secret: both read it, the chart creates none.
    const existing = renderChart(helm, {
      set: [...bridgeOn, 'bridge.leaseToken.existingSecret=lease', 'bridge.leaseToken.secretKey=k'],
    });
    const ref = { name: 'lease', key: 'k' };
    assert.deepEqual(tokenRef(existing, 'fanout-edge', 'FANOUT_EDGE_RESOURCES_BRIDGE_TOKEN'), ref);
    assert.deepEqual(tokenRef(existing, 'fanout-bridge', 'FANOUT_BRIDGE_LEASE_TOKEN'), ref);
    assert.equal(
      existing.some((object) => object.metadata.name === 'fanout-bridge-lease'),
      false,
    );
    // No token asked for: none set, the services warn at start-up.
    const none = renderChart(helm, { set: [...bridgeOn, 'bridge.leaseToken.create=false'] });
    assert.equal(tokenRef(none, 'fanout-edge', 'FANOUT_EDGE_RESOURCES_BRIDGE_TOKEN'), undefined);
    assert.equal(tokenRef(none, 'fanout-bridge', 'FANOUT_BRIDGE_LEASE_TOKEN'), undefined);
    // Bridges named by the values win over the chart's discovery; without the bridge, none.
    const named = loadRenderedConfig(
      renderChart(helm, {
        set: [...bridgeOn, 'config.edge.resources.bridges[0]=http://bridges.example:8090'],
      }),
      'fanout-edge',
    );
    assert.equal(named.edge.resources.bridgeKubernetesService, '');
    const off = renderChart(helm, { set: [bootstrap] });
    assert.equal(loadRenderedConfig(off, 'fanout-edge').edge.resources.bridgeKubernetesService, '');
    assert.equal(tokenRef(off, 'fanout-edge', 'FANOUT_EDGE_RESOURCES_BRIDGE_TOKEN'), undefined);
  });

  it('the bridge runs with the heap bounds of its image and a memory request above what it holds', () => {
    const bridgeOn = [bootstrap, 'bridge.enabled=true'];
    const container = (set: string[]) =>
      onlyContainer(findObject(renderChart(helm, { set }), 'Deployment', 'fanout-bridge'));
    const nodeOptions = (set: string[]) =>
      container(set).env?.find((entry) => entry.name === 'NODE_OPTIONS')?.value;
    const image = readFileSync(join(repoRoot, 'deploy', 'docker', 'bridge.Dockerfile'), 'utf8');
    const imageOptions = /^ENV NODE_OPTIONS="([^"]*)"$/m.exec(image)?.[1];
    assert.match(imageOptions ?? '', /--max-old-space-size=256\b/);
    assert.equal(nodeOptions(bridgeOn), imageOptions, 'the chart sets what the image has');
    assert.equal(
      nodeOptions([...bridgeOn, 'bridge.nodeOptions=--max-old-space-size=384']),
      '--max-old-space-size=384',
    );
    assert.equal(nodeOptions([...bridgeOn, 'bridge.nodeOptions=']), undefined, 'the image’s');
    const resources = (
      container(bridgeOn) as {
        resources?: { requests: { memory: string }; limits: { memory: string } };
      }
    ).resources;
    assert.deepEqual(
      [resources?.requests.memory, resources?.limits.memory],
      ['256Mi', '512Mi'],
      'the old space (256 MB at most) plus code and buffers fit under the limit',
    );
  });

  it('the Ingress hashes on the routing key; the HPA scales on CPU and connections', () => {
    const objects = renderChart(helm, { files: [join(profilesDir, 'production.yaml')] });
    const ingress = findObject(objects, 'Ingress', 'fanout-edge');
    const annotations = (ingress.metadata['annotations'] ?? {}) as Record<string, string>;
    assert.equal(
      annotations['nginx.ingress.kubernetes.io/upstream-hash-by'],
      '$arg_route$arg_channels$uri',
    );
    const hpa = findObject(objects, 'HorizontalPodAutoscaler', 'fanout-edge');
    const metrics = (hpa['spec'] as { metrics: { type: string }[] }).metrics;
    assert.deepEqual(
      metrics.map((metric) => metric.type),
      ['Resource', 'Pods'],
    );
  });

  it('a configuration change rolls the pods (checksum annotation)', () => {
    const checksum = (set: readonly string[]): string => {
      const deployment = findObject(renderChart(helm, { set }), 'Deployment', 'fanout-edge');
      const template = (
        deployment['spec'] as { template: { metadata: { annotations: Record<string, string> } } }
      ).template;
      return template.metadata.annotations['checksum/config'] ?? '';
    };
    const before = checksum([bootstrap]);
    assert.match(before, /^[0-9a-f]{64}$/);
    assert.equal(checksum([bootstrap]), before);
    assert.notEqual(checksum([bootstrap, 'config.edge.maxConnections=5000']), before);
  });

  it('the alert rules of the chart are those of deploy/prometheus, the dashboard that of deploy/grafana', () => {
    assert.equal(
      readFileSync(join(chartDir, 'files', 'fanout-alerts.yaml'), 'utf8'),
      readFileSync(join(repoRoot, 'deploy', 'prometheus', 'fanout-alerts.yaml'), 'utf8'),
    );
    assert.equal(
      readFileSync(join(chartDir, 'files', 'fanout-dashboard.json'), 'utf8'),
      readFileSync(join(repoRoot, 'deploy', 'grafana', 'fanout-dashboard.json'), 'utf8'),
    );
    const objects = renderChart(helm, {
      set: [bootstrap, 'metrics.prometheusRule.enabled=true'],
    });
    const rule = findObject(objects, 'PrometheusRule', 'fanout');
    const groups = (rule['spec'] as { groups: { rules: unknown[] }[] }).groups;
    assert.ok(groups.length >= 2 && groups.every((group) => group.rules.length > 0));
  });
});

describe('Helm chart: wrong values are refused', { skip }, () => {
  const refused: readonly { set: readonly string[]; message: RegExp; why: string }[] = [
    {
      set: ['config.edge.port=http'],
      message: /\/config\/edge\/port/,
      why: 'a port that is not a number',
    },
    {
      set: ['config.edge.port=0'],
      message: /\/config\/edge\/port/,
      why: 'port 0 (the chart needs a fixed port)',
    },
    {
      set: ['config.edge.maxConnections=0'],
      message: /\/config\/edge\/maxConnections/,
      why: 'a count out of range',
    },
    {
      set: ['config.log.level=verbose'],
      message: /\/config\/log\/level/,
      why: 'a value outside the enum',
    },
    { set: ['config.edge.maxConection=5'], message: /maxConection/, why: 'a misspelt key' },
    { set: ['config.kafka.brokers[0]=x:9092'], message: /brokers/, why: 'a key the chart owns' },
    {
      set: ['config.kafka.topic=bad topic!'],
      message: /\/config\/kafka\/topic/,
      why: 'a topic name Kafka refuses',
    },
    {
      set: ['edge.replicaCount=-1'],
      message: /\/edge\/replicaCount/,
      why: 'a negative replica count',
    },
    { set: ['kafka.mode=embedded'], message: /\/kafka\/mode/, why: 'an unknown Kafka mode' },
    {
      set: ['kafka.external.bootstrapServers[0]=kafka'],
      message: /bootstrapServers/,
      why: 'a broker without a port',
    },
    {
      set: ['ingest.resources.requests.cpu=lots'],
      message: /\/ingest\/resources\/requests\/cpu/,
      why: 'a malformed quantity',
    },
    { set: ['bogus=1'], message: /bogus/, why: 'an unknown top-level value' },
  ];
  for (const { set, message, why } of refused) {
    it(`refuses ${why} (${set.join(' ')})`, () => {
      const result = runHelm(helm, [
        'template',
        'fanout',
        chartDir,
        '--set',
        bootstrap,
        ...set.flatMap((pair) => ['--set', pair]),
      ]);
      assert.notEqual(result.status, 0, `helm template accepted ${set.join(' ')}`);
      assert.match(result.stderr, /values don't meet the specifications of the schema/);
      assert.match(result.stderr, message);
    });
  }

  it('says what is missing when no Kafka is configured', () => {
    const result = runHelm(helm, ['template', 'fanout', chartDir]);
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /kafka\.external\.bootstrapServers is empty/);
  });

  it('says what is missing for SASL without a password', () => {
    const result = runHelm(helm, [
      'template',
      'fanout',
      chartDir,
      '--set',
      bootstrap,
      '--set',
      'kafka.external.sasl.mechanism=scram-sha-512',
      '--set',
      'kafka.external.sasl.username=fanout',
    ]);
    assert.notEqual(result.status, 0);
    assert.match(
      result.stderr,
      /kafka\.external\.sasl\.password or kafka\.external\.sasl\.existingSecret must be set/,
    );
  });

  it('renders a compacted KafkaTopic for state checkpoints only when they are enabled', () => {
    const topics = (set: readonly string[]): Map<string, Record<string, unknown>> =>
      new Map(
        renderChart(helm, { set: ['kafka.mode=strimzi', ...set] })
          .filter((object) => object.kind === 'KafkaTopic')
          .map((object) => {
            const spec = object['spec'] as { topicName: string; config: Record<string, unknown> };
            return [spec.topicName, spec.config];
          }),
      );
    assert.deepEqual([...topics([]).keys()], ['fanout.events']);
    const enabled = topics(['config.edge.state.checkpoints.enabled=true']);
    assert.deepEqual([...enabled.keys()], ['fanout.events', 'fanout.events.state']);
    assert.equal(enabled.get('fanout.events.state')?.['cleanup.policy'], 'compact');
    assert.equal(enabled.get('fanout.events')?.['cleanup.policy'], 'delete');
  });

  it('refuses Strimzi mode when the cluster does not serve the Strimzi API', () => {
    const result = runHelm(helm, ['template', 'fanout', chartDir, '--set', 'kafka.mode=strimzi']);
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /does not serve kafka\.strimzi\.io\/v1\/Kafka/);
  });

  it('the offline validation itself catches a malformed object', () => {
    const objects = renderChart(helm, { set: [bootstrap] });
    const broken = objects.map((object) =>
      object.kind === 'Service'
        ? { ...object, spec: { ...(object['spec'] as object), clusterIp: 'None' } }
        : object,
    );
    const problems = validateObjects(tools, broken, tools.kubernetesVersions[0] ?? '1.29.0');
    assert.ok(
      problems.some((problem) => problem.includes('clusterIp')),
      problems.join('\n'),
    );
  });
});
