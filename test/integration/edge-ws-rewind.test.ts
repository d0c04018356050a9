/**
 * `rewind` of WebSocket event subscriptions against the test broker, over
 * `fanout.json.v1` and `fanout.proto.v1`: a channel's last N events (of
 * other channels of its partition none), then live ones without a gap or a
 * duplicate; `subscribed` tells what the scan found; only the asked types
 * count; the scan bound (`edge.maxRewindScan`) reports `truncated`; a
 * `since` wins over `rewind` (a resume); `rewind` over `edge.maxRewind`,
 * with a pattern or with `snapshot` is refused with `invalid_argument`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { partitionForChannel, type SubscriptionRequest } from '@fanout/shared';
import { publishEvents, uniqueChannel } from '../support/edge-test-clients.js';
import {
  startEdgeProcess,
  startIngestStack,
  CodecSocket,
  type EdgeProcess,
  type IngestStack,
} from '../support/index.js';

const partitions = 2;

/** A channel `rw.<name>.<hex>` on the same partition as `other` (or any when absent). */
function channelOn(name: string, other?: string): string {
  for (;;) {
    const channel = uniqueChannel(`rw.${name}`);
    if (other === undefined) return channel;
    if (partitionForChannel(channel, partitions) === partitionForChannel(other, partitions)) {
      return channel;
    }
  }
}

describe('rewind of WebSocket event subscriptions', () => {
  let stack: IngestStack;
  let edge: EdgeProcess;

  before(async () => {
    stack = await startIngestStack({ name: 'edge-ws-rewind', partitions });
    edge = await startEdgeProcess({
      brokers: stack.kafka.brokers,
      topic: stack.topic,
      env: { FANOUT_EDGE_MAX_REWIND: '50', FANOUT_EDGE_MAX_REWIND_SCAN: '40' },
    });
  });

  after(async () => {
    await edge.kill('SIGTERM');
    await stack.stop();
  });

  for (const format of ['json', 'proto'] as const) {
    it(`${format}: gives the last N events of the channel, then live ones, with no gap and no duplicate`, async () => {
      const r = channelOn(`${format}.r`);
      const q = channelOn(`${format}.q`, r);
      const specs = [];
      for (let index = 0; index < 7; index++) specs.push({ channel: r }, { channel: q });
      const positions = await publishEvents(stack.ingest, specs);
      const ofR = positions.filter((_, index) => index % 2 === 0);

      const socket = await CodecSocket.open(edge, format);
      socket.subscribe(1, [{ channel: r, rewind: 3 }]);
      const subscribed = await socket.next();
      assert.equal(subscribed.kind, 'subscribed');
      assert.deepEqual(
        subscribed.kind === 'subscribed' ? subscribed.subscriptions[0]?.rewind : undefined,
        { requested: 3, found: 3, truncated: false },
      );
      assert.deepEqual(await socket.events(3), ofR.slice(-3));
      const live = await publishEvents(stack.ingest, [{ channel: q }, { channel: r }]);
      assert.deepEqual(await socket.events(1), [live[1]], 'then live, without a gap');

      // More than the channel holds: all of it, `found` says how many (the
      // scan may hit its bound in a partition other tests filled).
      socket.subscribe(2, [{ channel: q, rewind: 10 }]);
      const [more] = await socket.take(1, (message) => message.kind === 'subscribed');
      const found = more?.kind === 'subscribed' ? more.subscriptions[0]?.rewind : undefined;
      assert.deepEqual([found?.requested, found?.found], [10, 8]);
      socket.close();
    });

    it(`${format}: counts only the asked types, reports the scan bound, lets since win, refuses the rest`, async () => {
      const typed = channelOn(`${format}.typed`);
      const positions = await publishEvents(stack.ingest, [
        { channel: typed, type: 'a' },
        { channel: typed, type: 'b' },
        { channel: typed, type: 'a' },
        { channel: typed, type: 'b' },
      ]);
      const socket = await CodecSocket.open(edge, format);
      socket.subscribe(1, [{ channel: typed, rewind: 1, types: ['a'] }]);
      assert.deepEqual(await socket.events(1), [positions[2]]);

      // More than edge.maxRewindScan (40) records of another channel after it.
      const sparse = channelOn(`${format}.sparse`);
      const busy = channelOn(`${format}.busy`, sparse);
      await publishEvents(stack.ingest, [
        { channel: sparse },
        ...Array.from({ length: 45 }, () => ({ channel: busy })),
      ]);
      socket.subscribe(2, [{ channel: sparse, rewind: 5 }]);
      const [bounded] = await socket.take(1, (message) => message.kind === 'subscribed');
      assert.deepEqual(
        bounded?.kind === 'subscribed' ? bounded.subscriptions[0]?.rewind : undefined,
        { requested: 5, found: 0, truncated: true },
      );

      // A resume wins over rewind: the events after `since`, no rewind result.
      const resumed = channelOn(`${format}.resumed`);
      const written = await publishEvents(stack.ingest, [
        { channel: resumed },
        { channel: resumed },
        { channel: resumed },
      ]);
      socket.subscribe(3, [{ channel: resumed, rewind: 3, since: written[1] ?? '' }]);
      const [resume] = await socket.take(1, (message) => message.kind === 'subscribed');
      assert.equal(
        resume?.kind === 'subscribed' ? resume.subscriptions[0]?.rewind : 'none',
        undefined,
      );
      assert.deepEqual(await socket.events(1), [written[2]]);

      // With a state subscription in the same Subscribe: one subscribed frame for both.
      const withState = channelOn(`${format}.withstate`);
      const [last] = (
        await publishEvents(stack.ingest, [{ channel: withState }, { channel: withState }])
      ).slice(-1);
      const document = channelOn(`${format}.document`);
      socket.subscribe(4, [
        { channel: document, snapshot: true },
        { channel: withState, rewind: 1 },
      ]);
      const [mixed] = await socket.take(1, (message) => message.kind === 'subscribed');
      assert.deepEqual(
        mixed?.kind === 'subscribed'
          ? mixed.subscriptions.map((state) => [
              state.channel,
              state.snapshot?.exists,
              state.rewind,
            ])
          : [],
        [
          [document, false, undefined],
          [withState, undefined, { requested: 1, found: 1, truncated: false }],
        ],
      );
      assert.deepEqual(await socket.events(1), [last]);

      const refusals: [SubscriptionRequest, RegExp][] = [
        [{ channel: channelOn(`${format}.many`), rewind: 51 }, /edge\.maxRewind/],
        [{ channel: `rw.${format}.*`, rewind: 2 }, /pattern/],
        [{ channel: channelOn(`${format}.state`), rewind: 2, snapshot: true }, /snapshot/],
      ];
      let requestId = 10;
      for (const [request, message] of refusals) {
        socket.subscribe(++requestId, [request]);
        const [error] = await socket.take(1, (frame) => frame.kind === 'error');
        assert.equal(error?.kind, 'error');
        if (error?.kind !== 'error') continue;
        assert.equal(error.requestId, requestId);
        assert.equal(error.code, 'invalid_argument');
        assert.match(error.message, message);
      }
      socket.close();
    });
  }
});
