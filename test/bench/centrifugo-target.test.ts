/**
 * The benchmark suite's Centrifugo target against a real Centrifugo and a
 * real Kafka broker: its configuration, its Kafka feed and the bench
 * client's resume. Runs only where a Centrifugo binary is at hand
 * (FANOUT_BENCH_CENTRIFUGO_BIN, or `node deploy/tools/centrifugo.mjs build`);
 * skipped with the reason otherwise (CI has none).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { partitionForChannel } from '@fanout/shared';
import type { Producer } from 'kafkajs';
import { stopOwnKafka, testKafka, uniqueName, type TestKafka } from '../support/index.js';
import type { BenchClient, FollowHandlers } from './bench-client.js';
import { centrifugoProtocol } from './centrifugo-client.js';
import {
  centrifugoConfig,
  centrifugoRecord,
  findCentrifugo,
  startCentrifugo,
  type CentrifugoOptions,
  type CentrifugoServer,
} from './centrifugo-target.js';

const found = findCentrifugo();
const skip = 'reason' in found ? `no Centrifugo binary: ${found.reason}` : false;
const partitions = 2;

/** What one following client saw. */
class Seen implements FollowHandlers {
  readonly seqs: number[] = [];
  position: string | undefined;
  resumed: boolean | undefined;
  subscriptions = 0;

  subscribed(position: string | undefined, resumed: boolean | undefined): void {
    this.subscriptions++;
    this.resumed = resumed;
    if (position !== undefined) this.position = position;
  }

  event(seq: number, position: string | undefined): void {
    this.seqs.push(seq);
    if (position !== undefined) this.position = position;
  }
}

async function until(what: string, condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('the benchmark suite’s Centrifugo target', { skip, timeout: 180_000 }, () => {
  let kafka: TestKafka;
  let producer: Producer;
  let options: CentrifugoOptions;
  let server: CentrifugoServer | undefined;
  const clients: BenchClient[] = [];

  async function publish(channel: string, seqs: readonly number[]): Promise<void> {
    await producer.send({
      topic: options.topic,
      acks: -1,
      messages: seqs.map((s) =>
        centrifugoRecord(
          channel,
          Buffer.from(JSON.stringify({ t: Date.now(), s })),
          partitionForChannel(channel, partitions),
        ),
      ),
    });
  }

  before(async () => {
    if ('reason' in found) return;
    kafka = await testKafka();
    producer = kafka.kafka.producer({ idempotent: true });
    await producer.connect();
    options = {
      binary: found.binary,
      brokers: kafka.brokers,
      topic: await kafka.createTopic({ name: 'centrifugo', partitions }),
      consumerGroup: uniqueName('centrifugo'),
      apiKey: 'test-key',
    };
    server = await startCentrifugo(options);
  });

  after(async () => {
    for (const client of clients) client.close();
    await server?.stop();
    await producer?.disconnect();
    await kafka?.close();
    await stopOwnKafka();
  });

  it('writes a configuration Centrifugo accepts', () => {
    if ('reason' in found) return;
    const dir = mkdtempSync(join(tmpdir(), 'centrifugo-config-'));
    try {
      const file = join(dir, 'config.json');
      writeFileSync(file, JSON.stringify(centrifugoConfig(options, 8000)));
      // Exits non-zero with the offending key on an invalid configuration.
      execFileSync(found.binary, ['checkconfig', '-c', file], { stdio: 'pipe', env: {} });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('delivers a record of its topic to a subscriber, and recovers what a reconnecting one missed', async () => {
    assert.ok(server);
    const channel = `bench.test.${uniqueName('c')}`;
    const seen = new Seen();
    clients.push(await centrifugoProtocol.follow(server.port, undefined, channel, undefined, seen));
    await until('the subscription', () => seen.subscriptions === 1);
    await publish(channel, [0]);
    await until('the first publication', () => seen.seqs.length === 1);
    assert.deepEqual(seen.seqs, [0]);

    clients.pop()?.close();
    await publish(channel, [1, 2]);
    // Centrifugo has them in the channel's history once a new subscriber sees the next one.
    const witness = new Seen();
    clients.push(
      await centrifugoProtocol.follow(server.port, undefined, channel, undefined, witness),
    );
    await until('the witness subscription', () => witness.subscriptions === 1);
    await publish(channel, [3]);
    await until('the witness publication', () => witness.seqs.includes(3));

    clients.push(
      await centrifugoProtocol.follow(server.port, '127.0.0.2', channel, seen.position, seen),
    );
    await until('the resumed subscription', () => seen.subscriptions === 2);
    assert.equal(seen.resumed, true, 'Centrifugo answers recovered: true');
    assert.deepEqual(seen.seqs, [0, 1, 2, 3], 'the missed publications, in order, once');
  });

  it('counts publications on counting connections, several to a frame or not', async () => {
    assert.ok(server);
    const channel = `bench.test.${uniqueName('count')}`;
    const counting = centrifugoProtocol.open(server.port);
    clients.push(counting);
    await counting.ready;
    counting.subscribe(channel);
    await until('the subscribe reply', () => counting.messages === 1);
    await publish(
      channel,
      Array.from({ length: 50 }, (_, i) => i),
    );
    await until('50 publications', () => counting.messages === 51);
    assert.equal(counting.error, undefined);
  });

  it('tells a client it cannot resume after a restart (memory engine): history is in the process', async () => {
    assert.ok(server);
    const channel = `bench.test.${uniqueName('restart')}`;
    const seen = new Seen();
    clients.push(await centrifugoProtocol.follow(server.port, undefined, channel, undefined, seen));
    await until('the subscription', () => seen.subscriptions === 1);
    await publish(channel, [0]);
    await until('the publication', () => seen.seqs.length === 1);
    await server.stop();
    clients.pop()?.close();
    server = await startCentrifugo(options);
    clients.push(
      await centrifugoProtocol.follow(server.port, undefined, channel, seen.position, seen),
    );
    await until('the resubscription', () => seen.subscriptions === 2);
    assert.equal(seen.resumed, false, 'Centrifugo answers recovered: false (another epoch)');
  });
});
