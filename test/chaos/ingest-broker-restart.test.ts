/**
 * Chaos: the broker is killed (SIGKILL) in the middle of a sustained publish
 * and restarted on the same port and data. Every acknowledged event must be
 * in Kafka exactly once, at its acknowledged position; every other publish
 * must have ended with an error (none hangs); publishing resumes by itself.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import type * as grpc from '@grpc/grpc-js';
import { decodeEvent } from '@fanout/shared';
import kafkajs from 'kafkajs';
import {
  LocalKafkaEnvironment,
  readTopic,
  startIngest,
  type IngestHarness,
} from '../support/index.js';

interface Outcome {
  readonly id: string;
  readonly at: number;
  readonly position?: { partition: number; offset: number };
  readonly error?: string;
}

describe('ingest while the broker restarts', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'fanout-chaos-kafka-'));
  let broker: LocalKafkaEnvironment | undefined;
  let ingest: IngestHarness | undefined;

  after(async () => {
    await ingest?.stop();
    await broker?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('loses no acknowledged event and answers every publish', async () => {
    broker = await LocalKafkaEnvironment.start({ dataDir, keepData: true });
    const port = broker.port;
    const topic = 'chaos.events';
    ingest = await startIngest({ brokers: broker.brokers, topic, partitions: 4 });
    const client = ingest.client;

    const outcomes: Outcome[] = [];
    let running = true;
    const worker = async (w: number) => {
      for (let seq = 0; running; seq++) {
        const id = `w${w}-${seq}`;
        try {
          const response = await client.publish(
            { events: [{ channel: `chaos.${w}`, id, data: new TextEncoder().encode(id) }] },
            { deadlineMs: 3000 },
          );
          const position = response.results[0]?.position;
          outcomes.push({
            id,
            at: Date.now(),
            position: { partition: position?.partition ?? -1, offset: position?.offset ?? -1 },
          });
        } catch (error) {
          const code = (error as { metadata?: grpc.Metadata }).metadata?.get(
            'fanout-error-code',
          )[0];
          outcomes.push({ id, at: Date.now(), error: String(code ?? (error as Error).message) });
          await sleep(20);
        }
      }
    };
    const workers = [0, 1, 2, 3].map((w) => worker(w));

    await sleep(1500);
    const killedAt = Date.now();
    process.kill(broker.pid, 'SIGKILL');
    await broker.stop();
    broker = undefined;
    await sleep(2000);
    broker = await LocalKafkaEnvironment.start({ port, dataDir, keepData: true });
    const restartedAt = Date.now();

    // Keep publishing until acknowledgements flow again, then a little longer.
    const deadline = Date.now() + 60_000;
    while (!outcomes.some((o) => o.position && o.at > restartedAt) && Date.now() < deadline) {
      await sleep(100);
    }
    await sleep(1000);
    running = false;
    await Promise.all(workers);

    const acked = outcomes.filter((o) => o.position);
    const failed = outcomes.filter((o) => o.error !== undefined);
    assert.ok(
      acked.some((o) => o.at < killedAt),
      'publishes were acknowledged before the kill',
    );
    assert.ok(
      acked.some((o) => o.at > restartedAt),
      'publishing resumed by itself after the restart',
    );
    assert.ok(failed.length > 0, 'publishes during the outage failed');
    for (const o of failed) {
      assert.ok(
        ['kafka_unavailable', 'deadline_exceeded'].includes(o.error ?? ''),
        `unexpected error ${o.error} for ${o.id}`,
      );
    }

    const kafka = new kafkajs.Kafka({
      brokers: [...broker.brokers],
      logLevel: kafkajs.logLevel.NOTHING,
    });
    const records = await readTopic(kafka, topic);
    const copies = new Map<string, { partition: number; offset: number }[]>();
    for (const record of records) {
      const id = decodeEvent(record.value).id;
      const list = copies.get(id) ?? [];
      list.push({ partition: record.partition, offset: record.offset });
      copies.set(id, list);
    }
    for (const o of acked) {
      const found = copies.get(o.id) ?? [];
      assert.equal(found.length, 1, `acknowledged ${o.id} is in Kafka exactly once`);
      assert.deepEqual(found[0], o.position, `${o.id} is at its acknowledged position`);
    }
  });
});
