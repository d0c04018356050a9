/**
 * The service images, built on this machine without a Docker engine
 * (deploy/tools/images.mjs: buildah on a base made from Debian packages,
 * decision 038), each unpacked into an OCI bundle and its entry point run
 * once under runc, in the host's network namespace, against the test broker:
 * it must start as the image's numeric non-root user on a read-only root file
 * system, answer /readyz, and exit cleanly on SIGTERM.
 *
 * Opt-in (FANOUT_TEST_IMAGES=1): a fresh build of the base and both images
 * takes about 9 minutes of 2 cores; with the images in the cache
 * (`node deploy/tools/images.mjs build`) the test takes seconds. Needs root
 * and the Debian packages buildah, runc and debootstrap.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { repoRoot } from '../support/repo-paths.js';
import { runToEnd } from '../support/run-to-end.js';
import { testKafka, type TestKafka } from '../support/test-kafka.js';

const toolScript = join(repoRoot, 'deploy', 'tools', 'images.mjs');

interface ImagesStatus {
  readonly root: boolean;
  readonly missingTools: readonly string[];
}

function skipReason(): string | undefined {
  if (process.env['FANOUT_TEST_IMAGES'] !== '1') {
    return 'opt-in: FANOUT_TEST_IMAGES=1 (builds the images unless cached; see the head of this file)';
  }
  const result = spawnSync(process.execPath, [toolScript, 'status'], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${toolScript} status failed: ${result.stderr}`);
  const status = JSON.parse(result.stdout) as ImagesStatus;
  if (!status.root) return 'building and running images needs root';
  if (status.missingTools.length > 0) {
    return `${status.missingTools.join(', ')} not installed (Debian packages of the same names)`;
  }
  return undefined;
}
const skip = skipReason();

/** Runs a command to its end; rejects with its output when it fails. */
function run(command: string, args: readonly string[]): Promise<string> {
  return runToEnd(command, args, { cwd: repoRoot });
}

interface RuntimeSpec {
  process: { env: string[]; user: { uid: number; gid: number }; args: string[] };
  root: { readonly: boolean };
}

interface ReadyLine {
  readonly msg?: string;
  readonly metrics?: string;
}

const services = [
  { service: 'ingest', entry: 'services/ingest/dist/main.js' },
  { service: 'edge', entry: 'services/edge/dist/bundle/edge.js' },
] as const;

describe('service images run under runc', { skip }, () => {
  let kafka: TestKafka;

  before(async () => {
    kafka = await testKafka();
  });

  after(async () => {
    await kafka?.close();
  });

  for (const { service, entry } of services) {
    it(
      `${service}: the image's entry point starts as a non-root user, answers /readyz and stops on SIGTERM`,
      { timeout: 30 * 60_000 },
      async () => {
        const dir = mkdtempSync(join(tmpdir(), `fanout-image-${service}-`));
        const bundle = join(dir, 'bundle');
        const id = `fanout-test-${service}-${process.pid}`;
        try {
          await run(process.execPath, [toolScript, 'bundle', service, bundle]);
          const topic = await kafka.createTopic({ name: `image-${service}` });
          const specPath = join(bundle, 'config.json');
          const spec = JSON.parse(readFileSync(specPath, 'utf8')) as RuntimeSpec;
          assert.equal(spec.process.args.at(-1), entry, 'the image runs the service entry point');
          assert.ok(spec.process.user.uid > 0, 'the image names a non-root user');
          assert.equal(spec.root.readonly, true);
          spec.process.env.push(
            `FANOUT_KAFKA_BROKERS=${kafka.brokers.join(',')}`,
            `FANOUT_KAFKA_TOPIC=${topic}`,
            'FANOUT_LOG_LEVEL=info',
            // Port 0 everywhere: the container shares the host's network namespace.
            'FANOUT_TELEMETRY_METRICS_PORT=0',
            ...(service === 'ingest'
              ? ['FANOUT_INGEST_GRPC_PORT=0', 'FANOUT_INGEST_HTTP_PORT=0']
              : ['FANOUT_EDGE_PORT=0']),
          );
          writeFileSync(specPath, JSON.stringify(spec, null, 2));

          const container = spawn('runc', ['run', '--bundle', bundle, id], {
            stdio: ['ignore', 'pipe', 'pipe'],
          });
          const exited = new Promise<number | null>((resolve) =>
            container.once('exit', (code) => {
              resolve(code);
            }),
          );
          const output: string[] = [];
          container.stderr.setEncoding('utf8').on('data', (chunk: string) => output.push(chunk));
          const ready = await new Promise<ReadyLine>((resolve, reject) => {
            const timer = setTimeout(() => {
              reject(new Error(`no "${service} ready" in 60 s:\n${output.join('')}`));
            }, 60_000);
            void exited.then((code) => {
              clearTimeout(timer);
              reject(new Error(`the container exited (${code}) before ready:\n${output.join('')}`));
            });
            createInterface({ input: container.stdout }).on('line', (line) => {
              output.push(`${line}\n`);
              let parsed: ReadyLine;
              try {
                parsed = JSON.parse(line) as ReadyLine;
              } catch {
                return;
              }
              if (parsed.msg === `${service} ready`) {
                clearTimeout(timer);
                resolve(parsed);
              }
            });
          });
          assert.ok(ready.metrics, 'the ready line names the metrics address');

          const readyz = await fetch(`http://${ready.metrics}/readyz`);
          assert.equal(readyz.status, 200, await readyz.text());

          const state = JSON.parse(await run('runc', ['state', id])) as { pid: number };
          const uid = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${state.pid}/status`, 'utf8'));
          assert.equal(Number(uid?.[1]), spec.process.user.uid, 'runs as the image user');

          await run('runc', ['kill', id, 'SIGTERM']);
          assert.equal(await exited, 0, `clean exit on SIGTERM:\n${output.join('')}`);
          await kafka.deleteTopic(topic);
        } finally {
          spawnSync('runc', ['delete', '--force', id], { stdio: 'ignore' });
          rmSync(dir, { recursive: true, force: true });
        }
      },
    );
  }
});
