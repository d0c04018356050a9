/**
 * Cold replays across a broker restart under a live edge. The edge has read
 * a partition and replayed from Kafka (its replay connection is open); the
 * broker is killed and started again; clients then resume from a position
 * older than the edge's replay buffer holds. Every one of them gets every
 * event after its position exactly once, in order, and the edge's cold
 * reads did not keep failing on connections of the old broker.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import {
  startRestartableStack,
  type EdgeHarness,
  type IngestHarness,
  type RestartableStack,
} from '../support/index.js';
import {
  metricValue,
  offsetOf,
  publishEvents,
  SseClient,
  uniqueChannel,
  waitFor,
} from '../support/edge-test-clients.js';

const clients = 20;

/** Opens an SSE stream resuming after `position`, retrying 503s (as a client with backoff does). */
async function resumeAfter(
  edge: EdgeHarness,
  channel: string,
  position: string,
): Promise<SseClient> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const sse = await SseClient.open(`${edge.httpBase}/v1/channels/${channel}?watch=true`, {
      'last-event-id': position,
    });
    if (sse.status === 200) return sse;
    assert.equal(sse.status, 503, 'only kafka_unavailable while the broker starts');
    await sse.close();
    if (Date.now() > deadline) assert.fail('the edge never served the resume');
    await sleep(250);
  }
}

/** Publishes until the ingest answers again (it too reconnects). */
async function publishAgain(
  ingest: IngestHarness,
  channel: string,
  count: number,
): Promise<string[]> {
  let positions: string[] = [];
  await waitFor(
    async () => {
      try {
        positions = await publishEvents(
          ingest,
          Array.from({ length: count }, () => ({ channel })),
        );
        return true;
      } catch {
        return false;
      }
    },
    'the ingest to publish again',
    60_000,
  );
  return positions;
}

describe('cold replays after a broker restart', () => {
  let stack: RestartableStack | undefined;

  after(async () => {
    await stack?.stop();
  });

  it('serves clients resuming from an old position every event exactly once', async (t) => {
    stack = await startRestartableStack({
      name: 'chaos-edge-broker-restart',
      topic: 'chaos.edge-broker-restart',
      partitions: 1,
      edgeEnv: {
        FANOUT_EDGE_KAFKA_WAIT_MS: '60000',
        FANOUT_EDGE_WARMUP_EVENTS: '0',
        FANOUT_EDGE_REPLAY_BUFFER_EVENTS: '16',
      },
    });
    const { broker, ingest, edge } = stack;
    const channel = uniqueChannel('restart.cold');
    const before = await publishEvents(
      ingest,
      Array.from({ length: 60 }, () => ({ channel })),
    );
    const oldest = before[0] ?? '';
    // A client resumes cold before the outage: the replay connection is open.
    const first = await resumeAfter(edge, channel, oldest);
    const replayed = await first.take(before.length - 1, undefined, 30_000);
    assert.deepEqual(
      replayed.map((event) => event.id),
      before.slice(1),
    );
    const coldBefore = await metricValue(edge.registry, 'fanout_edge_cold_fetches_total', {
      outcome: 'ok',
    });
    assert.ok(coldBefore >= 1, 'the first resume read from Kafka');

    await broker.kill();
    const harness = edge;
    await waitFor(
      async () => (await metricValue(harness.registry, 'fanout_edge_kafka_connected')) === 0,
      'the edge to notice the outage',
      30_000,
    );
    await broker.restart();
    const later = await publishAgain(ingest, channel, 20);
    const expected = [...before.slice(1), ...later];

    // Clients resume from the oldest position: older than the buffer holds.
    const resumed = await Promise.all(
      Array.from({ length: clients }, () => resumeAfter(harness, channel, oldest)),
    );
    for (const sse of resumed) {
      const events = await sse.take(expected.length, undefined, 60_000);
      assert.deepEqual(
        events.map((event) => event.id),
        expected,
      );
    }
    // The first client went on live across the outage, each event once.
    const firstLater = await first.take(later.length, undefined, 60_000);
    assert.deepEqual(
      firstLater.map((event) => event.id),
      later,
    );
    // Nothing more: no duplicates after the seam.
    const extra = await publishEvents(ingest, [{ channel }]);
    for (const sse of [first, ...resumed]) {
      const events = await sse.take(1, undefined, 30_000);
      assert.deepEqual(
        events.map((event) => event.id),
        extra,
      );
    }
    assert.equal(offsetOf(extra[0] ?? ''), offsetOf(later[later.length - 1] ?? '') + 1);
    const failed = await metricValue(edge.registry, 'fanout_edge_cold_fetches_total', {
      outcome: 'failed',
    });
    t.diagnostic(`cold fetches: ${coldBefore} ok before the outage, ${failed} failed`);
    // One probe per pause at most: a few, not one per client and attempt.
    assert.ok(failed <= 10, `${failed} failed cold fetches after the restart`);
    await Promise.all([first, ...resumed].map((sse) => sse.close()));
  });
});
