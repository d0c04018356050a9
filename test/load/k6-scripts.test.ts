/**
 * Smoke runs of the k6 load scripts (`test/load/*.js`) against a real
 * ingest and edge process and the run's broker: a few clients for a few
 * seconds each, so the scripts cannot rot. Each run must end with every
 * threshold passing (k6 exits 99 otherwise): nothing missing, nothing
 * repeated, no publish or connection error, latency under the scripts'
 * default p99 limit. The k6 binary comes from `deploy/tools/k6.mjs` (built
 * on first use, then cached). Timing is not asserted beyond the scripts'
 * generous thresholds.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { repoRoot, testKafka, type TestKafka } from '../support/index.js';
import { startFanoutStack, type FanoutStack } from '../bench/fanout-stack.js';

interface RunResult {
  readonly code: number | null;
  readonly output: string;
  /** `--summary-export`: metric name → its values (count, rate, p(99), ...). */
  readonly metrics: Readonly<Record<string, Readonly<Record<string, number>>>>;
}

function runProcess(
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const collect = (chunk: Buffer): void => {
      output = (output + chunk.toString('utf8')).slice(-40_000);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

let k6 = '';
let kafka: TestKafka;
let stack: FanoutStack;
const scratch = mkdtempSync(join(tmpdir(), 'fanout-k6-'));

async function runScript(
  script: string,
  env: Readonly<Record<string, string>>,
): Promise<RunResult> {
  const summary = join(scratch, `${script}.json`);
  const { code, output } = await runProcess(
    k6,
    ['run', '--quiet', '--no-color', `--summary-export=${summary}`, join('test', 'load', script)],
    {
      PATH: process.env['PATH'] ?? '',
      HOME: process.env['HOME'] ?? '',
      K6_NO_USAGE_REPORT: 'true',
      ...stack.k6Env,
      FANOUT_LOAD_DELAY_S: '2',
      FANOUT_LOAD_SLACK_S: '20',
      ...env,
    },
    90_000,
  );
  let metrics: RunResult['metrics'] = {};
  try {
    metrics = (JSON.parse(readFileSync(summary, 'utf8')) as { metrics: RunResult['metrics'] })
      .metrics;
  } catch {
    // no summary: the run failed before the end; the exit code says so
  }
  return { code, output, metrics };
}

function count(result: RunResult, metric: string): number {
  return result.metrics[metric]?.['count'] ?? 0;
}

function assertClean(result: RunResult, expectedDeliveries: number): void {
  assert.equal(result.code, 0, `k6 exited ${result.code}:\n${result.output}`);
  assert.equal(count(result, 'fanout_missing_events'), 0, result.output);
  assert.equal(count(result, 'fanout_duplicate_events'), 0, result.output);
  assert.equal(count(result, 'fanout_events_received'), expectedDeliveries, result.output);
  assert.ok((result.metrics['fanout_delivery_latency']?.['p(95)'] ?? Number.NaN) >= 0);
}

describe('k6 load scripts (smoke)', () => {
  before(
    async () => {
      const built = await runProcess(
        process.execPath,
        [join(repoRoot, 'deploy', 'tools', 'k6.mjs'), 'build'],
        { ...process.env },
        20 * 60_000,
      );
      assert.equal(built.code, 0, built.output);
      k6 = built.output.trim().split('\n').at(-1) ?? '';
      kafka = await testKafka();
      const partitions = 4;
      const topic = await kafka.createTopic({ name: 'load-smoke', partitions });
      stack = await startFanoutStack({ brokers: kafka.brokers, topic, partitions });
    },
    { timeout: 25 * 60_000 },
  );

  after(async () => {
    await stack.stop();
    await kafka.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('ws-subscribers: every event reaches every WebSocket subscriber', async () => {
    const result = await runScript('ws-subscribers.js', {
      FANOUT_LOAD_SUBSCRIBERS: '6',
      FANOUT_LOAD_CHANNELS: '3',
      FANOUT_LOAD_EVENTS: '30',
      FANOUT_LOAD_RATE: '15',
    });
    assertClean(result, 6 * 30);
    assert.equal(count(result, 'fanout_events_published'), 3 * 30);
  });

  it('sse-subscribers: every event reaches every SSE subscriber', async () => {
    const result = await runScript('sse-subscribers.js', {
      FANOUT_LOAD_SUBSCRIBERS: '4',
      FANOUT_LOAD_CHANNELS: '2',
      FANOUT_LOAD_EVENTS: '30',
      FANOUT_LOAD_RATE: '15',
    });
    assertClean(result, 4 * 30);
  });

  it('grpc-publishers: every publisher call is acknowledged and delivered', async () => {
    const result = await runScript('grpc-publishers.js', {
      FANOUT_LOAD_PUBLISHERS: '3',
      FANOUT_LOAD_CHANNELS_PER_PUBLISHER: '4',
      FANOUT_LOAD_EVENTS: '20',
      FANOUT_LOAD_RATE: '10',
    });
    // One subscriber per publisher, following its 4 channels.
    assertClean(result, 3 * 4 * 20);
    assert.equal(count(result, 'fanout_events_published'), 3 * 4 * 20);
    assert.equal(count(result, 'fanout_publish_errors'), 0);
  });

  it('mixed-reconnects: WebSocket and SSE clients that reconnect miss nothing', async () => {
    const result = await runScript('mixed-reconnects.js', {
      FANOUT_LOAD_SUBSCRIBERS: '4',
      FANOUT_LOAD_SSE_SUBSCRIBERS: '2',
      FANOUT_LOAD_CHANNELS: '2',
      FANOUT_LOAD_EVENTS: '60',
      FANOUT_LOAD_RATE: '15',
      FANOUT_LOAD_RECONNECT_MS: '700',
    });
    // WebSocket clients follow one channel, SSE clients both.
    assertClean(result, 4 * 60 + 2 * 2 * 60);
    assert.ok(count(result, 'fanout_reconnects') > 0, result.output);
  });
});
