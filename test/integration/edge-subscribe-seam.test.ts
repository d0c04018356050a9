/**
 * One WebSocket `subscribe` frame naming several channels: each is prepared
 * in turn, and preparing a later one may wait for Kafka (a partition the
 * edge does not read yet). Live events that arrive on an earlier channel's
 * partition meanwhile must still reach the client: the first events after
 * the `subscribed` position arrive, with no gap.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { partitionForChannel } from '@fanout/shared';
import {
  TestSocket,
  type EdgeHarness,
  type IngestHarness,
  startEdgeStack,
  type EdgeStack,
} from '../support/index.js';
import { offsetOf, publishEvent, uniqueChannel } from '../support/edge-test-clients.js';

const partitions = 32;

describe('subscribing to several channels in one frame while events flow', () => {
  let stack: EdgeStack;
  let ingest: IngestHarness;
  let edge: EdgeHarness;

  before(async () => {
    // No warm-up at start: the edge must not read the other partitions yet.
    stack = await startEdgeStack({
      name: 'edge-seam',
      partitions,
      edgeEnv: { FANOUT_EDGE_WARMUP_EVENTS: '0' },
    });
    ({ ingest, edge } = stack);
  });

  after(() => stack.stop());

  it('delivers every event after the subscribed position of the first channel', async () => {
    const hot = uniqueChannel('seam.hot');
    const hotPartition = partitionForChannel(hot, partitions);
    // Keep the hot partition read, so its events are dispatched live.
    const holder = new TestSocket(edge.wsUrl, 'fanout.json.v1');
    await holder.opened;
    holder.sendJson({ subscribe: { requestId: 1, subscriptions: [{ channel: hot }] } });
    await holder.takeJson('subscribed');
    let publishing = true;
    const publisher = (async () => {
      while (publishing) {
        await publishEvent(ingest, hot);
        await sleep(1);
      }
    })();
    const used = new Set([hotPartition]);
    try {
      for (let round = 0; round < 4; round++) {
        // Channels of partitions nobody reads yet: preparing them waits for Kafka.
        const cold: string[] = [];
        while (cold.length < 6) {
          const channel = uniqueChannel(`seam.cold${round}`);
          const partition = partitionForChannel(channel, partitions);
          if (used.has(partition)) continue;
          used.add(partition);
          cold.push(channel);
        }
        const socket = new TestSocket(edge.wsUrl, 'fanout.json.v1');
        await socket.opened;
        socket.sendJson({
          subscribe: {
            requestId: 1,
            subscriptions: [hot, ...cold].map((channel) => ({ channel })),
          },
        });
        const [subscribed] = await socket.takeJson('subscribed');
        const states = subscribed?.['subscriptions'] as { channel: string; position: string }[];
        const start = offsetOf(states.find((state) => state.channel === hot)?.position ?? '');
        const events = await socket.takeJson('event', 20, 20_000);
        const offsets = events.map((event) => offsetOf(String(event['position'])));
        assert.deepEqual(
          offsets,
          offsets.map((_, index) => start + 1 + index),
          `round ${round}: the hot channel's events follow position ${start} without a gap`,
        );
        socket.close();
      }
    } finally {
      publishing = false;
      await publisher;
      holder.close();
    }
  });
});
