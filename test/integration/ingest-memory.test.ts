/**
 * The ingest's memory under a flood of maximum-size publishes: a real
 * ingest process (authentication required, 4 MiB requests, a 64 MiB request
 * budget) against the test broker takes many concurrent maximum-size calls
 * over gRPC and HTTP, without credentials and with them (empty events by the
 * million, JSON nested to the limit) next to real batches of events. It
 * must stay up and ready, its peak RSS (VmHWM) must stay under
 * `rssBoundBytes`, and every acknowledged event must be in Kafka.
 * docs/reference/ingest.md records the figures this measured.
 */
import assert from 'node:assert/strict';
import { readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { decodeEvent, fanout } from '@fanout/shared';
import {
  rawIngestClient,
  readTopic,
  startIngestProcess,
  stopOwnKafka,
  testKafka,
  type IngestProcess,
  type RawIngestClient,
  type TestKafka,
} from '../support/index.js';

const apiKey = 'memory-test-key-0123456789';
const maxRequestBytes = 4 * 1024 * 1024;
/** Peak RSS the ingest must stay under (documented in docs/reference/ingest.md). */
const rssBoundBytes = 512 * 1024 * 1024;
const concurrency = 6;
const rounds = 4;
/** Data of the real events: small enough that merged batches stay under Kafka's 1 MB record batch. */
const eventBytes = 2000;

function rawPublish(client: RawIngestClient, message: Buffer, key?: string): Promise<Buffer> {
  const metadata = new grpc.Metadata();
  if (key !== undefined) metadata.set('x-api-key', key);
  return new Promise((resolve, reject) => {
    client.publish(message, metadata, { deadline: Date.now() + 60_000 }, (error, value) => {
      if (error) reject(error);
      else resolve(value ?? Buffer.alloc(0));
    });
  });
}

/** VmRSS and VmHWM (peak) of a process, in bytes. */
function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]);
  return { rss: kib('VmRSS') * 1024, peak: kib('VmHWM') * 1024 };
}

describe('ingest memory under maximum-size publishes', () => {
  let kafka: TestKafka;
  let topic: string;
  let ingest: IngestProcess;
  let dir: string;

  before(async () => {
    kafka = await testKafka();
    topic = await kafka.createTopic({ name: 'ingest-memory', partitions: 2 });
    dir = mkdtempSync(join(tmpdir(), 'fanout-ingest-memory-'));
    const keysFile = join(dir, 'api-keys.json');
    writeFileSync(keysFile, JSON.stringify([{ name: 'p', key: apiKey, namespaces: ['*'] }]));
    ingest = await startIngestProcess({
      brokers: kafka.brokers,
      topic,
      env: {
        FANOUT_KAFKA_PARTITIONS: '2',
        FANOUT_INGEST_AUTH_REQUIRED: 'true',
        FANOUT_INGEST_API_KEYS_FILE: keysFile,
        FANOUT_INGEST_MAX_REQUEST_BYTES: String(maxRequestBytes),
        FANOUT_INGEST_MAX_PENDING_BYTES_PER_CONNECTION: String(16 * 1024 * 1024),
        FANOUT_INGEST_MAX_PENDING_BYTES: String(64 * 1024 * 1024),
      },
    });
  });

  after(async () => {
    await ingest.stop();
    await kafka.close();
    await stopOwnKafka();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stays up, under its RSS bound, and loses no acknowledged event', async () => {
    let exited = false;
    void ingest.exited.then(() => {
      exited = true;
    });
    const before = memoryOf(ingest.pid);
    const acknowledged: string[] = [];
    const outcomes = new Map<string, number>();
    const count = (what: string) => outcomes.set(what, (outcomes.get(what) ?? 0) + 1);
    const codeOf = (error: unknown) =>
      String(
        (error as { metadata?: grpc.Metadata }).metadata?.get('fanout-error-code')[0] ??
          (error as { code?: unknown }).code,
      );

    const empties = Buffer.alloc(maxRequestBytes - 16, Buffer.from([0x0a, 0x00]));
    const oversized = Buffer.alloc(24 * 1024 * 1024, Buffer.from([0x0a, 0x00]));
    const deepJson = Buffer.alloc(maxRequestBytes - 16, '[');
    const spaces = Buffer.alloc(maxRequestBytes - 16, ' ');
    const data = Buffer.alloc(eventBytes, 0x61);
    const base64 = data.toString('base64');

    const grpcWorker = async (worker: number) => {
      // One connection per worker, as independent attackers would have.
      const client = rawIngestClient(ingest.grpcAddress);
      try {
        for (let round = 0; round < rounds; round++) {
          const ids = Array.from({ length: 100 }, (_, i) => `g-${worker}-${round}-${i}`);
          const batch = Buffer.from(
            fanout.v1.PublishRequest.encode({
              events: ids.map((id) => ({ channel: `mem.${worker}`, id, data })),
            }).finish(),
          );
          const calls: [string, Buffer, string | undefined][] = [
            ['grpc anonymous empties', empties, undefined],
            ['grpc anonymous 24 MiB', oversized, undefined],
            ['grpc empties', empties, apiKey],
            ['grpc 24 MiB', oversized, apiKey],
            ['grpc batch', batch, apiKey],
          ];
          await Promise.all(
            calls.map(async ([what, message, key]) => {
              try {
                await rawPublish(client, message, key);
                count(`${what}: ok`);
                if (what === 'grpc batch') acknowledged.push(...ids);
              } catch (error) {
                count(`${what}: ${codeOf(error)}`);
              }
            }),
          );
        }
      } finally {
        client.close();
      }
    };

    const post = async (what: string, body: Buffer | string, key?: string, ids?: string[]) => {
      try {
        const response = await fetch(`${ingest.httpBase}/v1/channels/mem.http/events`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            ...(key === undefined ? {} : { 'x-api-key': key }),
          },
          body,
        });
        const answer = (await response.json()) as { error?: { code: string } };
        count(`${what}: ${response.status} ${answer.error?.code ?? ''}`.trim());
        if (response.status === 200 && ids) acknowledged.push(...ids);
      } catch {
        // The ingest closes a connection whose body it refused to read.
        count(`${what}: connection closed`);
      }
    };
    const httpWorker = async (worker: number) => {
      for (let round = 0; round < rounds; round++) {
        const ids = Array.from({ length: 50 }, (_, i) => `h-${worker}-${round}-${i}`);
        const events = JSON.stringify({
          events: ids.map((id) => ({ id, dataBase64: base64, contentType: 'text/plain' })),
        });
        await Promise.all([
          post('http anonymous', spaces),
          post('http deep JSON', deepJson, apiKey),
          post('http events', events, apiKey, ids),
        ]);
      }
    };

    let peak = before.rss;
    const sampler = setInterval(() => {
      if (!exited) peak = Math.max(peak, memoryOf(ingest.pid).rss);
    }, 100);
    try {
      await Promise.all([
        ...Array.from({ length: concurrency }, (_, w) => grpcWorker(w)),
        ...Array.from({ length: concurrency }, (_, w) => httpWorker(w)),
      ]);
    } finally {
      clearInterval(sampler);
    }

    assert.equal(exited, false, 'the ingest is still running');
    const after = memoryOf(ingest.pid);
    const summary = [...outcomes].map(([what, n]) => `${what} ×${n}`).join('; ');
    console.log(
      `ingest RSS: ${Math.round(before.rss / 2 ** 20)} MiB before, peak ${Math.round(
        after.peak / 2 ** 20,
      )} MiB (VmHWM; sampled ${Math.round(peak / 2 ** 20)} MiB), ${Math.round(
        after.rss / 2 ** 20,
      )} MiB after; ${acknowledged.length} events acknowledged; ${summary}`,
    );
    assert.ok(after.peak < rssBoundBytes, `peak RSS ${after.peak} under ${rssBoundBytes}`);
    assert.ok(acknowledged.length > 0, 'real batches were acknowledged');
    for (const [what] of outcomes) {
      assert.doesNotMatch(what, /internal|500|UNKNOWN|INTERNAL|13$/, `no internal error: ${what}`);
    }
    const ready = await fetch(`${ingest.metricsBase}/readyz`);
    assert.equal(ready.status, 200, 'the ingest is ready after the flood');

    const records = await readTopic(kafka.kafka, topic);
    const ids = new Set(records.map((record) => decodeEvent(record.value).id));
    for (const id of acknowledged) assert.ok(ids.has(id), `acknowledged ${id} is in Kafka`);
  });
});
