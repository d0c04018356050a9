/**
 * Chaos: an idle ingest's readiness follows the broker. The broker is killed
 * (SIGKILL) while nothing is published: the ingest process's /readyz must
 * turn 503, its gRPC health NOT_SERVING and fanout_ingest_kafka_connected 0
 * by its own probes, and all of them come back once the broker is restarted
 * on the same port and data; then a publish is acknowledged.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import {
  ingestClient,
  LocalKafkaEnvironment,
  startIngestProcess,
  type IngestClient,
  type IngestProcess,
} from '../support/index.js';

interface Readiness {
  readonly readyz: number;
  readonly health: string;
  readonly connected: string | undefined;
}

describe('ingest readiness while the broker is down', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'fanout-chaos-readiness-'));
  let broker: LocalKafkaEnvironment | undefined;
  let ingest: IngestProcess | undefined;
  let client: IngestClient | undefined;

  after(async () => {
    client?.close();
    await ingest?.stop();
    await broker?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function readiness(process: IngestProcess, grpc: IngestClient): Promise<Readiness> {
    const readyz = (await fetch(`${process.metricsBase}/readyz`)).status;
    const health = await grpc.health('fanout.v1.IngestService').catch(() => 'UNREACHABLE');
    const metrics = await (await fetch(`${process.metricsBase}/metrics`)).text();
    const connected = /^fanout_ingest_kafka_connected(?:\{[^}]*\})? (\d+)$/m.exec(metrics)?.[1];
    return { readyz, health, connected };
  }

  async function until(
    read: () => Promise<Readiness>,
    wanted: Readiness,
    timeoutMs: number,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last: Readiness | undefined;
    while (Date.now() < deadline) {
      last = await read();
      if (
        last.readyz === wanted.readyz &&
        last.health === wanted.health &&
        last.connected === wanted.connected
      ) {
        return;
      }
      await sleep(200);
    }
    assert.fail(`wanted ${JSON.stringify(wanted)}, last ${JSON.stringify(last)}`);
  }

  it('turns not ready without a publish and ready again when the broker is back', async () => {
    broker = await LocalKafkaEnvironment.start({ dataDir, keepData: true });
    const port = broker.port;
    const started = await startIngestProcess({
      brokers: broker.brokers,
      topic: 'chaos.readiness',
      env: {
        FANOUT_KAFKA_PARTITIONS: '2',
        FANOUT_INGEST_KAFKA_PROBE_INTERVAL_MS: '500',
        FANOUT_INGEST_KAFKA_PROBE_TIMEOUT_MS: '1000',
      },
    });
    ingest = started;
    const grpc = ingestClient(started.grpcAddress);
    client = grpc;
    const read = () => readiness(started, grpc);
    const ready: Readiness = { readyz: 200, health: 'SERVING', connected: '1' };
    await until(read, ready, 30_000);

    process.kill(broker.pid, 'SIGKILL');
    await broker.stop();
    broker = undefined;
    await until(read, { readyz: 503, health: 'NOT_SERVING', connected: '0' }, 30_000);

    broker = await LocalKafkaEnvironment.start({ port, dataDir, keepData: true });
    await until(read, ready, 90_000);
    const written = await grpc.publish({
      events: [{ channel: 'chaos.1', data: new TextEncoder().encode('back') }],
    });
    assert.equal(written.results.length, 1);
  });
});
