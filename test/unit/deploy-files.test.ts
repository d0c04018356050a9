/**
 * Static checks of deploy/: the Dockerfiles (no Docker engine is needed:
 * every path they copy exists, the images run the services' entry points as
 * a numeric non-root user, expose the configured ports, and the edge image
 * runs the native uWebSockets.js check), the Prometheus alert rules and the
 * Grafana dashboard (they name only metrics the services export), and the
 * k6 Job example (valid for the Kubernetes API, when the chart tools are
 * installed).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { configFields, registerProcessMetrics } from '@fanout/shared';
import { Registry } from 'prom-client';
import { parse } from 'yaml';
import {
  chartTools,
  missingToolsReason,
  parseObjects,
  validateObjects,
} from '../support/helm-chart.js';
import { repoRoot } from '../support/repo-paths.js';

const dockerDir = join(repoRoot, 'deploy', 'docker');

interface Instruction {
  readonly keyword: string;
  readonly args: string;
}

/** The instructions of a Dockerfile, continuation lines joined, comments dropped. */
function instructions(file: string): Instruction[] {
  const joined = readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .map((line) => {
      const [keyword = '', ...rest] = line.split(/\s+/);
      return { keyword: keyword.toUpperCase(), args: rest.join(' ') };
    });
}

function configDefault(path: string): unknown {
  const field = configFields.find((candidate) => candidate.path === path);
  assert.ok(field, `config key ${path}`);
  return field.defaultValue;
}

const images = [
  {
    service: 'edge',
    ports: [configDefault('edge.port'), configDefault('telemetry.metricsPort')],
  },
  {
    service: 'ingest',
    ports: [
      configDefault('ingest.grpcPort'),
      configDefault('ingest.httpPort'),
      configDefault('telemetry.metricsPort'),
    ],
  },
  {
    service: 'bridge',
    ports: [configDefault('bridge.port'), configDefault('telemetry.metricsPort')],
  },
] as const;

describe('Dockerfiles', () => {
  for (const { service, ports } of images) {
    const file = join(dockerDir, `${service}.Dockerfile`);
    const steps = instructions(file);

    it(`${service}: every path copied from the build context exists`, () => {
      const copies = steps.filter(
        (step) => step.keyword === 'COPY' && !step.args.startsWith('--from'),
      );
      assert.ok(copies.length > 0);
      for (const copy of copies) {
        const parts = copy.args.split(/\s+/).filter((part) => !part.startsWith('--'));
        for (const source of parts.slice(0, -1)) {
          assert.ok(existsSync(join(repoRoot, source)), `${service}.Dockerfile copies ${source}`);
        }
      }
      assert.ok(existsSync(`${file}.dockerignore`), 'has its .dockerignore');
    });

    it(`${service}: multi-stage on node:20-bookworm-slim, production dependencies only`, () => {
      const from = steps.filter((step) => step.keyword === 'FROM');
      assert.ok(from.length >= 3, 'build, dependency and runtime stages');
      assert.match(readFileSync(file, 'utf8'), /^ARG NODE_IMAGE=node:20-bookworm-slim$/m);
      assert.ok(from.every((step) => step.args.startsWith('${NODE_IMAGE}')));
      assert.ok(
        steps.some((step) => step.keyword === 'RUN' && step.args.includes('npm ci --omit=dev')),
      );
    });

    it(`${service}: runs its entry point as a numeric non-root user and exposes the configured ports`, () => {
      const users = steps.filter((step) => step.keyword === 'USER');
      const user = users.at(-1)?.args ?? '';
      assert.match(user, /^[1-9][0-9]*:[1-9][0-9]*$/);
      const lastFrom = steps.findLastIndex((step) => step.keyword === 'FROM');
      assert.ok(steps.indexOf(users.at(-1) ?? steps[0]!) > lastFrom, 'USER in the runtime stage');
      const entry = JSON.parse(
        steps.find((step) => step.keyword === 'ENTRYPOINT')?.args ?? '[]',
      ) as string[];
      const manifest = JSON.parse(
        readFileSync(join(repoRoot, 'services', service, 'package.json'), 'utf8'),
      ) as { bin: Record<string, string> };
      const bin = Object.values(manifest.bin)[0]?.replace(/^\.\//, '');
      if (service === 'edge') {
        // The edge image runs its bundle (decision 050), built in the image from the same sources.
        assert.equal(entry.at(-1), 'services/edge/dist/bundle/edge.js');
        assert.ok(
          steps.some((step) => step.keyword === 'RUN' && step.args.includes('edge-bundle.mjs')),
          'the build stage bundles the edge',
        );
      } else {
        assert.equal(entry.at(-1), `services/${service}/${bin}`);
      }
      assert.ok(existsSync(join(repoRoot, 'services', service, 'src', 'main.ts')));
      const exposed = steps
        .filter((step) => step.keyword === 'EXPOSE')
        .flatMap((step) => step.args.split(/\s+/).map(Number));
      assert.deepEqual(exposed, [...ports]);
    });
  }

  it('edge: the build fails unless uWebSockets.js loads its native binary', () => {
    const steps = instructions(join(dockerDir, 'edge.Dockerfile'));
    const check = steps.find(
      (step) => step.keyword === 'RUN' && step.args.includes('requireNativeUws()'),
    );
    assert.ok(check, 'a RUN step calls requireNativeUws()');
    // Through the package's entry, wherever the module with the check lives.
    assert.match(check.args, /import\('@fanout\/edge'\)/);
    const manifest = JSON.parse(
      readFileSync(join(repoRoot, 'services', 'edge', 'package.json'), 'utf8'),
    ) as { exports: { '.': { default: string } } };
    assert.equal(manifest.exports['.'].default, './dist/index.js');
    assert.match(
      readFileSync(join(repoRoot, 'services', 'edge', 'src', 'index.ts'), 'utf8'),
      /export \{[^}]*\brequireNativeUws\b[^}]*\} from/,
    );
    assert.match(
      readFileSync(join(repoRoot, 'services', 'edge', 'src', 'transport', 'uws-native.ts'), 'utf8'),
      /export function requireNativeUws\(/,
    );
  });
});

/** Every metric the services export: their own (declared in *-metrics.ts) and the process metrics. */
function exportedMetrics(): Set<string> {
  const names = new Set<string>();
  for (const file of [
    join(repoRoot, 'services', 'edge', 'src', 'edge-metrics.ts'),
    join(repoRoot, 'services', 'ingest', 'src', 'ingest-metrics.ts'),
    join(repoRoot, 'services', 'bridge', 'src', 'bridge-metrics.ts'),
  ]) {
    for (const match of readFileSync(file, 'utf8').matchAll(/name: '(fanout_[a-z0-9_]+)'/g)) {
      if (match[1] !== undefined) names.add(match[1]);
    }
  }
  const registry = new Registry();
  registerProcessMetrics(registry, 'fanout_');
  for (const metric of registry.getMetricsAsArray()) names.add(metric.name);
  return names;
}

/** Metric names in PromQL text, histogram suffixes removed. */
function referencedMetrics(text: string): string[] {
  return [...text.matchAll(/\bfanout_[a-z0-9_]+/g)].map(([name]) =>
    name.replace(/_(bucket|sum|count)$/, ''),
  );
}

describe('alert rules and dashboard', () => {
  const exported = exportedMetrics();

  it('the alert rules name only exported metrics and say what to do', () => {
    const text = readFileSync(join(repoRoot, 'deploy', 'prometheus', 'fanout-alerts.yaml'), 'utf8');
    const rules = parse(text) as {
      groups: {
        name: string;
        rules: {
          alert: string;
          expr: string;
          labels: { severity: string };
          annotations: Record<string, string>;
        }[];
      }[];
    };
    const alerts = rules.groups.flatMap((group) => group.rules);
    assert.ok(alerts.length >= 8);
    for (const rule of alerts) {
      assert.match(rule.alert, /^Fanout[A-Za-z]+$/);
      assert.ok(['critical', 'warning', 'info'].includes(rule.labels.severity), rule.alert);
      assert.ok(rule.annotations['summary'] && rule.annotations['description'], rule.alert);
      const names = referencedMetrics(rule.expr);
      assert.ok(names.length > 0, rule.alert);
      for (const name of names) assert.ok(exported.has(name), `${rule.alert}: ${name}`);
    }
  });

  it('the dashboard names only exported metrics', () => {
    const dashboard = JSON.parse(
      readFileSync(join(repoRoot, 'deploy', 'grafana', 'fanout-dashboard.json'), 'utf8'),
    ) as { uid: string; panels: { id: number; type: string; targets?: { expr: string }[] }[] };
    assert.equal(dashboard.uid, 'fanout-overview');
    const ids = dashboard.panels.map((panel) => panel.id);
    assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
    const targets = dashboard.panels.flatMap((panel) => panel.targets ?? []);
    assert.ok(targets.length >= 15);
    for (const target of targets) {
      for (const name of referencedMetrics(target.expr)) {
        assert.ok(exported.has(name), name);
      }
    }
  });
});

const tools = chartTools();

describe('k6 Job example', { skip: missingToolsReason(tools) }, () => {
  it('is valid for the Kubernetes API', () => {
    const objects = parseObjects(
      readFileSync(join(repoRoot, 'deploy', 'k6', 'k6-job.yaml'), 'utf8'),
    );
    assert.equal(objects.length, 1);
    for (const version of tools.kubernetesVersions) {
      assert.deepEqual(validateObjects(tools, objects, version), []);
    }
  });

  it('runs a script of test/load', () => {
    const text = readFileSync(join(repoRoot, 'deploy', 'k6', 'k6-job.yaml'), 'utf8');
    const script = /name: K6_SCRIPT\s+value: (\S+)/.exec(text)?.[1] ?? '';
    assert.ok(existsSync(join(repoRoot, 'test', 'load', script)), `test/load/${script}`);
  });
});
