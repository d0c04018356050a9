/**
 * Resuming on an edge that lags behind the log. Edge B reads a partition,
 * is paused (SIGSTOP) while many events are published, and is continued;
 * at once clients resume on it from a position X that edge A already
 * delivered, beyond what B has read. Over every transport (WebSocket JSON
 * and protobuf, SSE of one channel and `/v1/stream`, long-poll) each client
 * then gets exactly the events after X: none at or before X, none missing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ClientFrame, formatPosition, positionFromProto, ServerFrame } from '@fanout/shared';
import {
  startEdgeProcess,
  startIngest,
  stopOwnKafka,
  testKafka,
  TestSocket,
  type EdgeProcess,
  type IngestHarness,
  type TestKafka,
} from '../support/index.js';
import {
  offsetOf,
  publishEvents,
  SseClient,
  uniqueChannel,
  waitFor,
  type PublishSpec,
} from '../support/edge-test-clients.js';

const lagEvents = 20_000;
const batch = 1000;

describe('resuming on an edge that lags behind the log', () => {
  let kafka: TestKafka;
  let ingest: IngestHarness;
  const edges: EdgeProcess[] = [];

  before(async () => {
    kafka = await testKafka();
  });

  after(async () => {
    for (const edge of edges) {
      process.kill(edge.pid, 'SIGCONT');
      await edge.kill('SIGKILL');
    }
    await ingest.stop();
    await kafka.close();
    await stopOwnKafka();
  });

  it('sends nothing at or before the resumed position and nothing is missing, on every transport', async () => {
    const topic = await kafka.createTopic({ name: 'edge-lag', partitions: 1 });
    ingest = await startIngest({ brokers: kafka.brokers, topic, partitions: 1 });
    const env = {
      FANOUT_EDGE_PARTITION_LINGER_SECONDS: '600',
      FANOUT_EDGE_KAFKA_WAIT_MS: '120000',
    };
    const edgeA = await startEdgeProcess({ brokers: kafka.brokers, topic, env });
    edges.push(edgeA);
    const edgeB = await startEdgeProcess({ brokers: kafka.brokers, topic, env });
    edges.push(edgeB);
    const one = uniqueChannel('lag');
    const other = uniqueChannel('lag');
    // B reads the partition (and keeps reading it: linger), then stops.
    const warm = await fetch(`${edgeB.httpBase}/v1/channels/${one}`);
    assert.equal(warm.status, 200);
    await warm.body?.cancel();
    process.kill(edgeB.pid, 'SIGSTOP');

    const published: { channel: string; offset: number }[] = [];
    const publish = async (count: number): Promise<void> => {
      for (let sent = 0; sent < count; sent += batch) {
        const specs: PublishSpec[] = Array.from(
          { length: Math.min(batch, count - sent) },
          (_, i) => ({
            channel: (sent + i) % 2 === 0 ? one : other,
            bytes: 300,
          }),
        );
        const positions = await publishEvents(ingest, specs);
        positions.forEach((position, i) => {
          published.push({ channel: specs[i]?.channel ?? '', offset: offsetOf(position) });
        });
      }
    };
    await publish(lagEvents);
    // X: a position edge A delivered, near the end of what B has not read. A reads the
    // partition live since its warm-up, so its newest event may trail the log for a moment.
    let x = '';
    await waitFor(async () => {
      const read = (await (await fetch(`${edgeA.httpBase}/v1/channels/${one}?limit=1`)).json()) as {
        events: { position: string }[];
      };
      x = read.events[0]?.position ?? '';
      return x !== '' && offsetOf(x) > lagEvents - 10;
    }, 'edge A has the newest events');
    const xOffset = offsetOf(x);

    // Continue B and resume on it at once, on every transport.
    process.kill(edgeB.pid, 'SIGCONT');
    const json = new TestSocket(edgeB.wsUrl, 'fanout.json.v1');
    const proto = new TestSocket(edgeB.wsUrl, 'fanout.proto.v1');
    const single = SseClient.open(`${edgeB.httpBase}/v1/channels/${one}?watch=true`, {
      'last-event-id': x,
    });
    const stream = SseClient.open(`${edgeB.httpBase}/v1/stream?channels=${one},${other}`, {
      'last-event-id': x,
    });
    await json.opened;
    json.sendJson({ subscribe: { requestId: 1, subscriptions: [{ channel: one, since: x }] } });
    await proto.opened;
    proto.socket.send(
      ClientFrame.encode({
        subscribe: {
          requestId: 1,
          subscriptions: [
            {
              channel: one,
              since: { epoch: x.split(':')[0] ?? '', partition: 0, offset: xOffset },
            },
          ],
        },
      }).finish(),
    );
    let lastOne = Number.POSITIVE_INFINITY;
    const polled: number[] = [];
    const poll = (async () => {
      let after = x;
      for (;;) {
        const response = await fetch(
          `${edgeB.httpBase}/v1/channels/${one}?after=${after}&limit=1000&wait=2`,
        );
        assert.equal(response.status, 200);
        const body = (await response.json()) as {
          events: { position: string }[];
          position: string;
        };
        for (const event of body.events) polled.push(offsetOf(event.position));
        after = body.position;
        if (offsetOf(after) >= lastOne) return;
      }
    })();

    // Live events after the lag, for the seam.
    await publish(200);
    lastOne = Math.max(...published.filter((e) => e.channel === one).map((e) => e.offset));
    const lastAny = Math.max(...published.map((e) => e.offset));
    const expectedOne = published
      .filter((e) => e.channel === one && e.offset > xOffset)
      .map((e) => e.offset);
    const expectedBoth = published.filter((e) => e.offset > xOffset).map((e) => e.offset);

    const jsonOffsets: number[] = [];
    await waitFor(
      () => {
        for (const frame of json.frames.splice(0)) {
          const parsed = JSON.parse(frame.data.toString('utf8')) as {
            event?: { position: string };
          };
          if (parsed.event) jsonOffsets.push(offsetOf(parsed.event.position));
        }
        return (jsonOffsets.at(-1) ?? -1) >= lastOne || json.closeCode !== undefined;
      },
      'the JSON WebSocket to reach the last event',
      120_000,
    );
    const protoOffsets: number[] = [];
    await waitFor(
      () => {
        for (const frame of proto.frames.splice(0)) {
          const event = ServerFrame.decode(frame.data).event;
          if (event)
            protoOffsets.push(offsetOf(formatPosition(positionFromProto(event.position ?? {}))));
        }
        return (protoOffsets.at(-1) ?? -1) >= lastOne || proto.closeCode !== undefined;
      },
      'the protobuf WebSocket to reach the last event',
      120_000,
    );
    const sseOffsets = async (client: SseClient, last: number): Promise<number[]> => {
      const offsets: number[] = [];
      const ids: number[] = [];
      while ((offsets.at(-1) ?? -1) < last) {
        const [event] = await client.take(1, () => true, 120_000);
        if (event?.event === 'message') {
          offsets.push(offsetOf((JSON.parse(event.data) as { position: string }).position));
          ids.push(offsetOf(event.id ?? ''));
        } else if (event?.event !== 'subscribed') {
          assert.fail(`unexpected SSE event ${event?.event ?? ''}: ${event?.data ?? ''}`);
        }
      }
      assert.deepEqual(ids, offsets, 'every id: is the position of its event');
      return offsets;
    };
    const singleClient = await single;
    const streamClient = await stream;
    assert.equal(singleClient.status, 200);
    assert.equal(streamClient.status, 200);
    const singleOffsets = await sseOffsets(singleClient, lastOne);
    const streamOffsets = await sseOffsets(streamClient, lastAny);
    await poll;

    assert.equal(json.closeCode, undefined);
    assert.deepEqual(jsonOffsets, expectedOne, 'WebSocket JSON: exactly the events after X');
    assert.equal(proto.closeCode, undefined);
    assert.deepEqual(protoOffsets, expectedOne, 'WebSocket protobuf: exactly the events after X');
    assert.deepEqual(singleOffsets, expectedOne, 'SSE channel: exactly the events after X');
    assert.deepEqual(streamOffsets, expectedBoth, 'SSE /v1/stream: exactly the events after X');
    assert.deepEqual(polled, expectedOne, 'long-poll: exactly the events after X');
    json.close();
    proto.close();
    await singleClient.close();
    await streamClient.close();
  });
});
