/**
 * The process metrics: prom-client's defaults and the event loop's wait
 * for a CPU, read from the kernel's scheduler statistics.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { registerProcessMetrics, runQueueWaitFrom } from './process-metrics.js';

const dir = mkdtempSync(join(tmpdir(), 'fanout-schedstat-'));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function exposition(path: string): Promise<string> {
  const registry = new Registry();
  registerProcessMetrics(registry, 'fanout_', path);
  return registry.metrics();
}

describe('process metrics', () => {
  it('reads the run-queue wait of a schedstat line, and refuses other text', () => {
    assert.equal(runQueueWaitFrom('2500000000 125000000 1042\n'), 0.125);
    assert.equal(runQueueWaitFrom('0 0 0'), 0);
    assert.equal(runQueueWaitFrom(''), undefined);
    assert.equal(runQueueWaitFrom('12 x 3'), undefined);
    assert.equal(runQueueWaitFrom('12 -5 3'), undefined);
    assert.equal(runQueueWaitFrom('12 13'), undefined);
  });

  it('exports the wait as a counter that follows the kernel figure at every scrape', async () => {
    const path = join(dir, 'schedstat');
    writeFileSync(path, '900000000 250000000 77\n');
    const registry = new Registry();
    registerProcessMetrics(registry, 'fanout_', path);
    assert.match(
      await registry.metrics(),
      /^# TYPE fanout_eventloop_cpu_wait_seconds_total counter\nfanout_eventloop_cpu_wait_seconds_total 0\.25$/m,
    );
    writeFileSync(path, '950000000 1750000000 80\n');
    assert.match(await registry.metrics(), /^fanout_eventloop_cpu_wait_seconds_total 1\.75$/m);
    // The defaults come along.
    assert.match(await registry.metrics(), /^fanout_nodejs_eventloop_lag_p99_seconds /m);
  });

  it('leaves the wait out where the kernel keeps no scheduler statistics', async () => {
    const text = await exposition(join(dir, 'missing'));
    assert.doesNotMatch(text, /cpu_wait/);
    assert.match(text, /^fanout_process_cpu_seconds_total /m);
  });

  it(
    "reads this process's own main thread on Linux",
    { skip: process.platform !== 'linux' },
    async () => {
      assert.match(
        await exposition('/proc/self/schedstat'),
        /^fanout_eventloop_cpu_wait_seconds_total \d+(\.\d+)?(e[-+]\d+)?$/m,
      );
    },
  );
});
