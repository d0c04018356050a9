/**
 * The Testcontainers path of the test runner, run for real on a machine
 * without Docker (decision 043): rootful Podman serves the Docker API
 * (deploy/tools/podman-docker-api.mjs), Kafka runs from the image built here
 * (`node deploy/tools/images.mjs build kafka`), started by
 * ContainerKafkaEnvironment through Testcontainers, Ryuk disabled. An ingest
 * and an edge, real processes, publish into it and read back from it; then
 * the container is gone, and so is the service when this test started it.
 *
 * Opt-in (FANOUT_TEST_PODMAN=1): the first run builds the image (about a
 * minute and a half of 2 cores, the base image and the broker's jars being
 * cached) and loads it into Podman (about 20 s); after that the broker
 * starts in about 25 s. Needs root and the Debian package podman.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ContainerKafkaEnvironment } from '../support/container-kafka-environment.js';
import { startEdgeProcess, type EdgeProcess } from '../support/edge-process.js';
import { startIngestProcess, type IngestProcess } from '../support/ingest-process.js';
import { publishAndReadBack } from '../support/publish-and-read.js';
import { repoRoot } from '../support/repo-paths.js';
import { runToEnd } from '../support/run-to-end.js';
import { uniqueName } from '../support/test-kafka.js';

const toolScript = join(repoRoot, 'deploy', 'tools', 'podman-docker-api.mjs');
const partitions = 2;

interface PodmanStatus {
  readonly missingTools: readonly string[];
  readonly service: number | null;
  readonly answers: boolean;
  readonly socket: string;
  readonly containers: readonly string[];
}

function podmanStatus(): PodmanStatus {
  const result = spawnSync(process.execPath, [toolScript, 'status'], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${toolScript} status failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as PodmanStatus;
}

function skipReason(): string | undefined {
  if (process.env['FANOUT_TEST_PODMAN'] !== '1') {
    return 'opt-in: FANOUT_TEST_PODMAN=1 (builds and loads the Kafka image unless there; see the head of this file)';
  }
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    return 'rootful Podman needs root';
  }
  const { missingTools } = podmanStatus();
  const ci = process.env['CI'];
  if (missingTools.length > 0 && (ci === undefined || ci === '' || ci === 'false')) {
    return `${missingTools.join(', ')} not installed (Debian packages of the same names)`;
  }
  return undefined;
}
const skip = skipReason();

/** `KEY=value` lines, as `podman-docker-api.mjs up` prints them. */
function parseEnv(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) env[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return env;
}

interface ContainerSummary {
  readonly Id: string;
  readonly Image: string;
  readonly State: string;
}

/** GET /containers/json?all=true on the Docker API socket. */
function listContainers(socketPath: string): Promise<ContainerSummary[]> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: '/containers/json?all=true' }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        try {
          assert.equal(res.statusCode, 200, body);
          resolve(JSON.parse(body) as ContainerSummary[]);
        } catch (error) {
          reject(error instanceof Error ? error : new Error(String(error)));
        }
      });
    });
    req.once('error', reject);
    req.end();
  });
}

describe('Kafka through Testcontainers on Podman', { skip }, () => {
  let startedService = false;
  let socketPath = '';
  let image = '';
  let kafka: ContainerKafkaEnvironment | undefined;
  const running: { ingest?: IngestProcess; edge?: EdgeProcess } = {};

  before(async () => {
    startedService = podmanStatus().service === null;
    const env = parseEnv(await runToEnd(process.execPath, [toolScript, 'up'], { cwd: repoRoot }));
    socketPath = (env['DOCKER_HOST'] ?? '').replace(/^unix:\/\//, '');
    image = env['FANOUT_TEST_KAFKA_IMAGE'] ?? '';
    assert.ok(socketPath !== '' && image !== '', 'up prints DOCKER_HOST and the image');
    // Testcontainers reads these when it first looks for an engine, which is below.
    Object.assign(process.env, env);
  });

  after(async () => {
    await running.edge?.kill('SIGKILL');
    await running.ingest?.stop();
    await kafka?.stop();
    if (startedService) {
      await runToEnd(process.execPath, [toolScript, 'down'], { cwd: repoRoot });
    }
  });

  it(
    'starts the local Kafka image, carries events from an ingest to an edge, and leaves no container',
    { timeout: 20 * 60_000 },
    async () => {
      kafka = await ContainerKafkaEnvironment.start({ image });
      assert.equal(kafka.image, image);
      const [bootstrap] = kafka.brokers;
      assert.match(bootstrap ?? '', /^127\.0\.0\.1:\d+$/, 'a port published on the host');

      const containers = await listContainers(socketPath);
      const ours = containers.filter((container) => container.Image === image);
      assert.equal(ours.length, 1, JSON.stringify(containers));
      assert.equal(ours[0]?.State, 'running');

      const topic = uniqueName('podman');
      const env = { FANOUT_KAFKA_PARTITIONS: String(partitions) };
      running.ingest = await startIngestProcess({ brokers: kafka.brokers, topic, env });
      running.edge = await startEdgeProcess({
        brokers: kafka.brokers,
        topic,
        env,
        timeoutMs: 60_000,
      });
      const channel = `podman.${randomBytes(3).toString('hex')}`;
      const positions = await publishAndReadBack(
        running.ingest.httpBase,
        running.edge.httpBase,
        channel,
        3,
      );
      assert.equal(positions.length, 3);

      await running.edge.kill('SIGKILL');
      await running.ingest.stop();
      delete running.edge;
      delete running.ingest;
      await kafka.stop();
      const left = (await listContainers(socketPath)).filter(
        (container) => container.Id === ours[0]?.Id,
      );
      assert.deepEqual(left, [], 'the container is removed when the environment stops');
    },
  );

  it('down leaves no service and no container running', { timeout: 120_000 }, async (t) => {
    if (!startedService) {
      t.skip('the service was running before this test; it stays up');
      return;
    }
    await runToEnd(process.execPath, [toolScript, 'down'], { cwd: repoRoot });
    startedService = false;
    const status = podmanStatus();
    assert.equal(status.service, null);
    assert.equal(status.answers, false);
    assert.deepEqual(status.containers, []);
  });
});
