/**
 * Many clients that never read while events pile up: every one of them is
 * closed resumably — a WebSocket with `disconnect` (code backpressure, its
 * positions) and the close frame 4008, an SSE stream with its `disconnect`
 * event and the end of the response — never dropped without a word. What
 * arrives on each socket once it reads again is parsed to the end. Half the
 * WebSockets take batch frames (`fanout.json.v2`): their positions resume
 * after the last event of the last batch that arrived.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { RawWsClient } from '../support/raw-ws-client.js';
import { startEdgeStack, type EdgeStack } from '../support/index.js';
import {
  metricValue,
  offsetOf,
  publishEvents,
  RawHttpStream,
  uniqueChannel,
  waitFor,
} from '../support/edge-test-clients.js';

const maxBackpressureBytes = 64 * 1024;
const wsClients = 120;
const sseClients = 40;

describe('backpressure closes of clients that never read', () => {
  let stack: EdgeStack;

  before(async () => {
    stack = await startEdgeStack({
      name: 'edge-stall',
      partitions: 1,
      edgeEnv: { FANOUT_EDGE_MAX_BACKPRESSURE_BYTES: String(maxBackpressureBytes) },
    });
  });

  after(async () => {
    await stack.stop();
  });

  it('closes every never-reading WebSocket with 4008 and its positions and every SSE stream with disconnect', async () => {
    const { edge, ingest } = stack;
    const channel = uniqueChannel('stall');
    const sockets: { client: RawWsClient; payloads: Buffer[]; closed: boolean }[] = [];
    for (let i = 0; i < wsClients; i++) {
      const protocol = i % 2 === 0 ? 'fanout.json.v1' : 'fanout.json.v2';
      const client = new RawWsClient(edge.app.port, '/v1/ws', protocol);
      await client.ready;
      const entry = { client, payloads: [] as Buffer[], closed: false };
      client.sample((payload) => entry.payloads.push(Buffer.from(payload)));
      client.onClose(() => {
        entry.closed = true;
      });
      client.sendText(
        JSON.stringify({ subscribe: { requestId: 1, subscriptions: [{ channel }] } }),
      );
      sockets.push(entry);
    }
    await waitFor(
      () =>
        sockets.every((entry) =>
          entry.payloads.some((payload) => payload.toString().startsWith('{"subscribed"')),
        ),
      'every WebSocket subscribed',
      60_000,
    );
    const streams: RawHttpStream[] = [];
    for (let i = 0; i < sseClients; i++) {
      const stream = new RawHttpStream(edge.app.port, `/v1/channels/${channel}?watch=true`);
      await stream.headersReceived;
      streams.push(stream);
    }
    await waitFor(
      () =>
        streams.every((stream) => stream.events().some((event) => event.event === 'subscribed')),
      'every SSE stream subscribed',
      60_000,
    );
    for (const entry of sockets) entry.client.pause();
    for (const stream of streams) stream.pause();

    // Publish until the edge has closed every client (a few MB: the kernel
    // buffers of each socket fill first).
    const closed = async (): Promise<boolean> =>
      (await metricValue(edge.registry, 'fanout_edge_closes_total', { code: 'backpressure' })) >=
      wsClients + sseClients;
    const published: number[] = [];
    for (let round = 0; round < 200 && !(await closed()); round++) {
      const positions = await publishEvents(
        ingest,
        Array.from({ length: 100 }, () => ({ channel, bytes: 2000 })),
      );
      published.push(...positions.map(offsetOf));
    }
    await waitFor(closed, 'the edge to close every client', 60_000);

    // Read again, later than uWS's 10 s timeout for an HTTP response whose
    // writes do not get through: everything the edge wrote arrives, ending
    // with the resumable close.
    await new Promise((resolve) => setTimeout(resolve, 11_000));
    for (const entry of sockets) entry.client.resume();
    for (const stream of streams) stream.resume();
    await waitFor(
      () => sockets.every((entry) => entry.closed) && streams.every((stream) => stream.ended),
      'every socket to reach its end',
      60_000,
    );
    const first = published[0] ?? 0;
    const wsFailures: string[] = [];
    for (const [index, entry] of sockets.entries()) {
      const frames = entry.payloads.map(
        (payload) => JSON.parse(payload.toString()) as Record<string, Record<string, unknown>>,
      );
      const offsets = frames.flatMap((frame) => {
        const events = frame['event'] ? [frame['event']] : (frame['batch']?.['events'] ?? []);
        return (events as Record<string, unknown>[]).map((event) =>
          offsetOf(String(event['position'])),
        );
      });
      const last = frames.at(-1)?.['disconnect'];
      const expected = offsets.map((_, at) => first + at);
      if (entry.client.closeCode !== 4008 || last?.['code'] !== 'backpressure') {
        wsFailures.push(
          `#${index}: close ${String(entry.client.closeCode)}, last frame ${JSON.stringify(frames.at(-1)).slice(0, 120)}`,
        );
        continue;
      }
      assert.deepEqual(offsets, expected, `#${index}: no gap before the close`);
      const positions = last['positions'] as { channel: string; position: string }[];
      assert.equal(positions.length, 1);
      assert.equal(
        offsetOf(positions[0]?.position ?? ''),
        offsets.at(-1) ?? first - 1,
        `#${index}: the positions resume after the last event received`,
      );
    }
    assert.deepEqual(wsFailures, [], `${wsFailures.length} of ${wsClients} WebSockets`);
    assert.ok(
      sockets.some((entry) =>
        entry.payloads.some((payload) => payload.toString().startsWith('{"batch"')),
      ),
      'the fanout.json.v2 sockets received batch frames',
    );
    const sseFailures: string[] = [];
    for (const [index, stream] of streams.entries()) {
      const events = stream.events();
      const delivered = events.filter((event) => event.event === 'message');
      const last = events.at(-1);
      if (last?.event !== 'disconnect') {
        sseFailures.push(`#${index}: last ${last?.event ?? 'none'}, ended ${String(stream.ended)}`);
        continue;
      }
      const body = JSON.parse(last.data) as Record<string, unknown>;
      assert.equal(body['code'], 'backpressure');
      const offsets = delivered.map((event) => offsetOf(event.id ?? ''));
      assert.deepEqual(
        offsets,
        offsets.map((_, at) => first + at),
        `SSE #${index}: no gap before the close`,
      );
      assert.equal(offsetOf(String(body['cursor'])), offsets.at(-1) ?? first - 1);
    }
    assert.deepEqual(sseFailures, [], `${sseFailures.length} of ${sseClients} SSE streams`);
  });
});
