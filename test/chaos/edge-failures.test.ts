/**
 * Chaos for the edge: (1) the edge process is killed with SIGKILL while
 * events flow, and a client resumes on a fresh edge process; (2) the broker
 * is killed and restarted under a live edge. In both, every acknowledged
 * event of a channel reaches the client exactly once and in order: nothing
 * is lost, nothing repeated, even across the reconnect.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import {
  ResumingClient,
  startEdgeProcess,
  startIngest,
  startRestartableStack,
  stopOwnKafka,
  testKafka,
  type EdgeProcess,
  type IngestHarness,
  type RestartableStack,
  type TestKafka,
} from '../support/index.js';

interface Acked {
  readonly channel: string;
  readonly id: string;
  readonly position: string;
}

/** Publishes round-robin over `channels` until stopped; keeps what was acknowledged. */
function steadyPublisher(
  ingest: IngestHarness,
  channels: readonly string[],
): { acked: Acked[]; failures: () => number; stop: () => Promise<void> } {
  const acked: Acked[] = [];
  let failures = 0;
  let running = true;
  const loop = (async () => {
    for (let n = 0; running; n++) {
      const channel = channels[n % channels.length] ?? '';
      const id = `e${n}`;
      try {
        const response = await fetch(`${ingest.httpBase}/v1/channels/${channel}/events`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ id, type: 'tick', data: { n } }),
          signal: AbortSignal.timeout(3000),
        });
        if (response.status !== 200) {
          failures++;
          await response.body?.cancel();
          await sleep(50);
          continue;
        }
        const body = (await response.json()) as { results: { position: string }[] };
        acked.push({ channel, id, position: body.results[0]?.position ?? '' });
      } catch {
        failures++;
        await sleep(50);
      }
      await sleep(3);
    }
  })();
  return {
    acked,
    failures: () => failures,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

/**
 * Per channel: every acknowledged event arrived exactly once, and what
 * arrived is in log order with no event twice. A publish that failed may
 * still have been written (the producer was not told): such events may
 * arrive too, in their place in the log.
 */
function assertEveryAckedOnceInOrder(client: ResumingClient, acked: readonly Acked[]): void {
  assert.deepEqual(client.unexpected, []);
  const channels = new Set(acked.map((event) => event.channel));
  for (const channel of channels) {
    const got = client.received.filter((event) => event.channel === channel);
    const ids = got.map((event) => event.id);
    assert.equal(new Set(ids).size, ids.length, `channel ${channel}: no event twice`);
    const offsets = got.map((event) => Number(event.position.split(':')[2]));
    assert.ok(
      offsets.every((offset, index) => index === 0 || offset > (offsets[index - 1] ?? -1)),
      `channel ${channel}: in log order`,
    );
    const expected = acked.filter((event) => event.channel === channel);
    const seen = new Map(got.map((event) => [event.id, event.position]));
    for (const event of expected) {
      assert.equal(seen.get(event.id), event.position, `${event.id} arrived at its position`);
    }
  }
}

function receivedAll(client: ResumingClient, acked: readonly Acked[]): boolean {
  const ids = new Set(client.received.map((event) => event.id));
  return acked.every((event) => ids.has(event.id));
}

describe('edge process killed with SIGKILL', () => {
  let kafka: TestKafka;
  let ingest: IngestHarness | undefined;
  const edges: EdgeProcess[] = [];

  after(async () => {
    for (const edge of edges) await edge.kill('SIGKILL');
    await ingest?.stop();
    await kafka.close();
    await stopOwnKafka();
  });

  it('a client resumes on a fresh edge process with nothing lost or repeated', async () => {
    kafka = await testKafka();
    const topic = await kafka.createTopic({ name: 'edge-kill', partitions: 4 });
    ingest = await startIngest({ brokers: kafka.brokers, topic, partitions: 4 });
    const channels = ['kill.a', 'kill.b', 'kill.c', 'kill.d', 'kill.e'];
    const first = await startEdgeProcess({ brokers: kafka.brokers, topic });
    edges.push(first);
    let current: EdgeProcess = first;
    const client = new ResumingClient(() => current.wsUrl, channels);
    await client.start();
    const publisher = steadyPublisher(ingest, channels);

    await client.until(() => client.received.length >= 100, 20_000);
    await first.kill('SIGKILL');
    const receivedBeforeKill = client.received.length;
    // Events keep being acknowledged while no edge runs.
    await sleep(500);
    const second = await startEdgeProcess({ brokers: kafka.brokers, topic });
    edges.push(second);
    current = second;
    await client.until(
      () => client.connects >= 2 && client.received.length > receivedBeforeKill + 100,
      30_000,
    );
    await publisher.stop();
    const acked = publisher.acked;
    await client.until(() => receivedAll(client, acked), 20_000);
    client.stop();

    assert.equal(publisher.failures(), 0, 'ingest kept acknowledging');
    assert.ok(
      client.closes.includes(1006),
      `the kill broke the connection: ${client.closes.join(',')}`,
    );
    assertEveryAckedOnceInOrder(client, acked);
  });
});

describe('broker restart under a live edge', () => {
  let stack: RestartableStack | undefined;

  after(async () => {
    await stack?.stop();
  });

  it('recovers by itself; clients get every acknowledged event exactly once', async () => {
    stack = await startRestartableStack({
      name: 'chaos-edge-kafka',
      topic: 'chaos.edge',
      partitions: 3,
    });
    const { broker, ingest, edge } = stack;
    const harness = edge;
    const channels = ['restart.a', 'restart.b', 'restart.c'];
    const client = new ResumingClient(() => harness.wsUrl, channels);
    await client.start();
    const publisher = steadyPublisher(ingest, channels);
    await client.until(() => client.received.length >= 50, 20_000);

    await broker.kill();
    await sleep(1500);
    await broker.restart();
    const ackedAtRestart = publisher.acked.length;
    await client.until(
      () => publisher.acked.length > ackedAtRestart + 50 && receivedAll(client, publisher.acked),
      60_000,
    );
    await publisher.stop();
    const acked = publisher.acked;
    await client.until(() => receivedAll(client, acked), 20_000);
    client.stop();

    assert.ok(publisher.failures() > 0, 'publishes failed while the broker was down');
    assertEveryAckedOnceInOrder(client, acked);
    const ready = harness.app.ready();
    assert.equal(ready.ready, true, ready.reason);
  });
});
