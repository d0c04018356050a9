/**
 * Many channels in one request against the test broker: `GET /v1/state?channels=`
 * (snapshots, per-channel errors, one cursor that an SSE stream continues
 * without a gap), the SSE snapshot stream of many channels (patches applied
 * per channel give exactly the documents a GET reads; a resume mid-way with
 * channels sharing a partition under concurrent writes; a resume beyond the
 * patch ring resetting only that partition's channels), `rewind=N` for event
 * channels (GET, channel watch, multi-channel stream, type filter, the
 * scan bound) and the limits' catalog answers.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  parseStreamCursor,
  partitionForChannel,
  type JsonValue,
  type StateDocument,
} from '@fanout/shared';
import { applyStatePatch } from '@fanout/edge';
import {
  publishEvents,
  SseClient,
  uniqueChannel,
  type SseEvent,
} from '../support/edge-test-clients.js';
import {
  writeState,
  hs256Token,
  nowSeconds,
  startEdgeProcess,
  startIngestStack,
  type EdgeProcess,
  type IngestStack,
} from '../support/index.js';

const partitions = 2;
const secret = 'edge-state-multi-test-hs256-secret-0123';
const token = hs256Token(secret, {
  sub: 'reader-1',
  fanout_subscribe: ['ms'],
  exp: nowSeconds() + 3600,
});

interface Snapshot {
  readonly channel: string;
  readonly state: JsonValue;
  readonly exists: boolean;
  readonly position: string;
  readonly reset?: boolean;
  readonly error?: { code: string; message: string };
}

interface Patch {
  readonly channel: string;
  readonly position: string;
  readonly op: unknown;
}

/** A channel `ms.<name>.<hex>` on the same partition as `other` (or any when absent). */
function channelOn(name: string, other?: string, differs = false): string {
  for (;;) {
    const channel = uniqueChannel(`ms.${name}`);
    if (other === undefined) return channel;
    const same =
      partitionForChannel(channel, partitions) === partitionForChannel(other, partitions);
    if (same !== differs) return channel;
  }
}

function offsetsOf(id: string | undefined): Map<number, number> {
  return new Map(parseStreamCursor(id ?? '').offsets);
}

describe('many state channels and rewind in one request', () => {
  let stack: IngestStack;
  let edge: EdgeProcess;

  before(async () => {
    stack = await startIngestStack({ name: 'edge-state-multi', partitions });
    edge = await startEdgeProcess({
      brokers: stack.kafka.brokers,
      topic: stack.topic,
      env: {
        FANOUT_EDGE_STATE_PATCH_RING: '8',
        FANOUT_EDGE_AUTH_REQUIRED: 'true',
        FANOUT_AUTH_JWT_HS256_SECRET: secret,
        FANOUT_EDGE_MAX_SUBSCRIPTIONS_PER_CONNECTION: '25',
        FANOUT_EDGE_MAX_REWIND: '50',
        FANOUT_EDGE_MAX_REWIND_SCAN: '40',
      },
    });
  });

  after(async () => {
    await edge.kill('SIGTERM');
    await stack.stop();
  });

  async function write(method: string, channel: string, body?: JsonValue): Promise<string> {
    return writeState(stack.ingest.httpBase, method, channel, body);
  }

  function url(path: string, query: Record<string, string> = {}): string {
    return `${edge.httpBase}${path}?${new URLSearchParams({ ...query, token }).toString()}`;
  }

  async function getStates(channels: readonly string[]): Promise<{
    snapshots: Snapshot[];
    cursor: string | null;
  }> {
    const response = await fetch(url('/v1/state', { channels: channels.join(',') }));
    const text = await response.text();
    assert.equal(response.status, 200, text);
    return JSON.parse(text) as { snapshots: Snapshot[]; cursor: string | null };
  }

  /** Applies the stream's events to `held` until `done` holds; checks the cursor only moves on. */
  async function follow(
    stream: SseClient,
    held: Map<string, StateDocument>,
    done: () => boolean,
    lastId: { value: string | undefined },
    stopAfter = Number.POSITIVE_INFINITY,
  ): Promise<SseEvent[]> {
    const seen: SseEvent[] = [];
    while (!done() && seen.length < stopAfter) {
      const [event] = await stream.take(
        1,
        (candidate) => candidate.event === 'patch' || candidate.event === 'snapshot',
      );
      assert.ok(event);
      seen.push(event);
      if (event.event === 'snapshot') {
        const snapshot = JSON.parse(event.data) as Snapshot;
        held.set(snapshot.channel, snapshot.exists ? snapshot.state : undefined);
      } else {
        const patch = JSON.parse(event.data) as Patch;
        const applied = applyStatePatch(held.get(patch.channel), patch.op);
        assert.ok(applied.ok, `the patch ${patch.position} of ${patch.channel} applies`);
        held.set(patch.channel, applied.document);
        // The id is the cursor at this patch's own offset in its partition.
        const [, partition, offset] = patch.position.split(':');
        assert.equal(offsetsOf(event.id).get(Number(partition)), Number(offset));
      }
      if (event.id !== undefined) {
        if (lastId.value !== undefined) {
          const before = offsetsOf(lastId.value);
          for (const [partition, offset] of offsetsOf(event.id)) {
            assert.ok(offset >= (before.get(partition) ?? -1), 'the cursor never goes back');
          }
        }
        lastId.value = event.id;
      }
    }
    return seen;
  }

  it('answers 20 channels in one GET (absent, forbidden) with a cursor the stream continues without a gap', async () => {
    const channels: string[] = [];
    for (let index = 0; index < 19; index++) channels.push(channelOn(`get${index}`));
    const forbidden = uniqueChannel('other.get');
    const expected = new Map<string, StateDocument>();
    await Promise.all(
      channels.slice(0, 16).map(async (channel, index) => {
        await write('PUT', channel, { index, items: [index] });
        await write('PATCH', channel, { items: [index, index + 1] });
        expected.set(channel, { index, items: [index, index + 1] });
      }),
    );
    const asked = [...channels.slice(0, 10), forbidden, ...channels.slice(10)];
    const answer = await getStates(asked);
    assert.equal(answer.snapshots.length, 20);
    assert.deepEqual(
      answer.snapshots.map((snapshot) => snapshot.channel),
      asked,
    );
    for (const snapshot of answer.snapshots) {
      if (snapshot.channel === forbidden) {
        assert.equal(snapshot.error?.code, 'permission_denied');
        continue;
      }
      assert.equal(snapshot.error, undefined);
      assert.deepEqual(snapshot.state, expected.get(snapshot.channel) ?? null);
      assert.equal(snapshot.exists, expected.has(snapshot.channel));
    }
    assert.ok(answer.cursor);
    assert.equal(offsetsOf(answer.cursor).size, partitions);

    // Changes after the GET reach a stream resumed from its cursor, once each.
    const held = new Map<string, StateDocument>(
      answer.snapshots
        .filter((s) => s.error === undefined)
        .map((s) => [s.channel, s.exists ? s.state : undefined]),
    );
    await write('PATCH', channels[0] ?? '', { items: [0, 1, 2] });
    await write('PUT', channels[17] ?? '', { fresh: true });
    await write('PATCH', channels[5] ?? '', { index: 50 });
    await write('DELETE', channels[3] ?? '');
    const final = await getStates(channels);
    const stream = await SseClient.open(
      url('/v1/stream', { channels: channels.join(','), snapshot: 'true' }),
      { 'last-event-id': answer.cursor },
    );
    assert.equal(stream.status, 200);
    const matches = (): boolean =>
      final.snapshots.every(
        (s) => JSON.stringify(held.get(s.channel) ?? null) === JSON.stringify(s.state),
      );
    const events = await follow(stream, held, matches, { value: answer.cursor });
    assert.deepEqual(
      events.map((event) => event.event),
      ['patch', 'patch', 'patch', 'patch'],
    );
    await stream.close();
  });

  it('streams snapshots then multiplexed patches and resumes mid-way with channels sharing a partition', async () => {
    const a = channelOn('sse.a');
    const b = channelOn('sse.b', a);
    const c = channelOn('sse.c', a, true);
    const channels = [a, b, c];
    for (const channel of channels) await write('PUT', channel, { items: [] });
    const streamUrl = url('/v1/stream', { channels: channels.join(','), snapshot: 'true' });
    let stream = await SseClient.open(streamUrl);
    assert.equal(stream.status, 200);
    const opening = await stream.take(3, (event) => event.event === 'snapshot');
    assert.deepEqual(
      opening.map((event) => event.id === undefined),
      [true, true, false],
      'only the last snapshot of the opening carries the cursor',
    );
    const held = new Map<string, StateDocument>(
      opening.map((event) => {
        const snapshot = JSON.parse(event.data) as Snapshot;
        return [snapshot.channel, snapshot.state];
      }),
    );
    const lastId = { value: opening[2]?.id };

    // Concurrent writes to the three channels, two of them in one partition.
    const rounds = 6;
    const writing = (async () => {
      for (let round = 1; round <= rounds; round++) {
        const items = Array.from({ length: round }, (_, index) => index + 1);
        await Promise.all(channels.map((channel) => write('PATCH', channel, { items })));
      }
    })();
    const final = (): boolean =>
      channels.every((channel) => {
        const document = held.get(channel) as { items?: number[] } | undefined;
        return document?.items?.length === rounds;
      });
    await follow(stream, held, final, lastId, 7);
    await stream.close();
    // Resume from the last id seen while the writes go on.
    stream = await SseClient.open(streamUrl, { 'last-event-id': lastId.value ?? '' });
    assert.equal(stream.status, 200);
    const resumed = await follow(stream, held, final, lastId);
    await writing;
    assert.ok(
      resumed.every((event) => event.event === 'patch'),
      'within the ring the resume is patches only',
    );
    const read = await getStates(channels);
    for (const snapshot of read.snapshots) {
      assert.deepEqual(held.get(snapshot.channel) ?? null, snapshot.state, snapshot.channel);
    }
    await stream.close();
  });

  it('resets only the partition whose channel is beyond the patch ring', async () => {
    const x = channelOn('old.x');
    const y = channelOn('old.y', x, true);
    const z = channelOn('old.z', x);
    for (const channel of [x, y, z]) await write('PUT', channel, { n: 0, note: 'a long note' });
    const streamUrl = url('/v1/stream', { channels: [x, y].join(','), snapshot: 'true' });
    const first = await SseClient.open(streamUrl);
    const opening = await first.take(2, (event) => event.event === 'snapshot');
    const cursor = opening[1]?.id ?? '';
    await first.close();
    for (let n = 1; n <= 10; n++) await write('PATCH', x, { n });
    await write('PATCH', y, { n: 1 });

    const resumed = await SseClient.open(streamUrl, { 'last-event-id': cursor });
    const [reset, patch] = await resumed.take(2, (event) => event.event !== 'message');
    assert.equal(reset?.event, 'snapshot');
    const snapshot = JSON.parse(reset?.data ?? '{}') as Snapshot;
    assert.equal(snapshot.channel, x);
    assert.equal(snapshot.reset, true);
    assert.deepEqual(snapshot.state, { n: 10, note: 'a long note' });
    assert.equal(patch?.event, 'patch');
    assert.equal((JSON.parse(patch?.data ?? '{}') as Patch).channel, y);
    await resumed.close();

    // A channel sharing x's partition is reset with it (one offset per partition).
    const shared = await SseClient.open(
      url('/v1/stream', { channels: [x, z].join(','), snapshot: 'true' }),
    );
    const sharedOpening = await shared.take(2, (event) => event.event === 'snapshot');
    await shared.close();
    for (let n = 11; n <= 20; n++) await write('PATCH', x, { n });
    const again = await SseClient.open(
      url('/v1/stream', { channels: [x, z].join(','), snapshot: 'true' }),
      { 'last-event-id': sharedOpening[1]?.id ?? '' },
    );
    const resets = await again.take(2, (event) => event.event !== 'message');
    assert.deepEqual(
      resets.map((event) => [event.event, (JSON.parse(event.data) as Snapshot).reset]),
      [
        ['snapshot', true],
        ['snapshot', true],
      ],
    );
    await again.close();
  });

  it('rewinds an event channel to its last N events, then live, interleaved with a channel of its partition', async () => {
    const r = channelOn('rw.r');
    const q = channelOn('rw.q', r);
    const specs = [];
    for (let index = 0; index < 7; index++) specs.push({ channel: r }, { channel: q });
    const positions = await publishEvents(stack.ingest, specs);
    const ofR = positions.filter((_, index) => index % 2 === 0);
    const ofQ = positions.filter((_, index) => index % 2 === 1);

    const get = await fetch(url(`/v1/channels/${r}`, { rewind: '3' }));
    const body = (await get.json()) as {
      events: { position: string }[];
      rewind: { found: number; requested: number; truncated: boolean };
    };
    assert.equal(get.status, 200);
    assert.deepEqual(
      body.events.map((event) => event.position),
      ofR.slice(-3),
    );
    assert.deepEqual(body.rewind, { channel: r, requested: 3, found: 3, truncated: false });

    const fewer = (await (await fetch(url(`/v1/channels/${r}`, { rewind: '10' }))).json()) as {
      events: unknown[];
      rewind: { found: number };
    };
    assert.equal(fewer.events.length, 7);
    assert.equal(fewer.rewind.found, 7);

    const stream = await SseClient.open(url('/v1/stream', { channels: `${r},${q}`, rewind: '2' }));
    assert.equal(stream.status, 200);
    const [subscribed] = await stream.take(1, (event) => event.event === 'subscribed');
    assert.deepEqual((JSON.parse(subscribed?.data ?? '{}') as { rewind: unknown }).rewind, [
      { channel: r, requested: 2, found: 2, truncated: false },
      { channel: q, requested: 2, found: 2, truncated: false },
    ]);
    const history = await stream.take(4);
    assert.deepEqual(
      history.map((event) => event.id),
      [...ofR.slice(-2), ...ofQ.slice(-2)].sort(
        (one, two) => Number(one.split(':')[2]) - Number(two.split(':')[2]),
      ),
    );
    const [live] = await publishEvents(stack.ingest, [{ channel: r }]);
    const [next] = await stream.take(1);
    assert.equal(next?.id, live, 'then live, without a gap or a duplicate');
    await stream.close();

    const watch = await SseClient.open(url(`/v1/channels/${r}`, { rewind: '3', watch: 'true' }));
    const watched = await watch.take(3);
    assert.deepEqual(
      watched.map((event) => event.id),
      [...ofR.slice(-2), live],
    );
    await watch.close();
  });

  it('counts only the asked types, says when the scan bound stopped it, and answers the limits', async () => {
    const typed = channelOn('rw.typed');
    const positions = await publishEvents(stack.ingest, [
      { channel: typed, type: 'a' },
      { channel: typed, type: 'b' },
      { channel: typed, type: 'a' },
      { channel: typed, type: 'b' },
    ]);
    const stream = await SseClient.open(
      url('/v1/stream', { channels: typed, rewind: '1', types: 'a' }),
    );
    const [only] = await stream.take(1);
    assert.equal(only?.id, positions[2]);
    await stream.close();

    // More than edge.maxRewindScan (40) records of another channel after it.
    const sparse = channelOn('rw.sparse');
    const busy = channelOn('rw.busy', sparse);
    await publishEvents(stack.ingest, [
      { channel: sparse },
      ...Array.from({ length: 45 }, () => ({ channel: busy })),
    ]);
    const bounded = (await (
      await fetch(url(`/v1/channels/${sparse}`, { rewind: '5' }))
    ).json()) as { events: unknown[]; rewind: { found: number; truncated: boolean } };
    assert.equal(bounded.events.length, 0);
    assert.deepEqual(bounded.rewind, { channel: sparse, requested: 5, found: 0, truncated: true });

    const tooMany = await fetch(url(`/v1/channels/${sparse}`, { rewind: '51' }));
    assert.equal(tooMany.status, 400);
    const tooManyBody = (await tooMany.json()) as { error: { code: string; message: string } };
    assert.equal(tooManyBody.error.code, 'invalid_argument');
    assert.match(tooManyBody.error.message, /edge\.maxRewind/);

    const channels = Array.from({ length: 26 }, (_, index) => `ms.limit.c${index}`);
    for (const path of ['/v1/state', '/v1/stream']) {
      const refused = await fetch(
        url(path, {
          channels: channels.join(','),
          ...(path === '/v1/stream' ? { snapshot: 'true' } : {}),
        }),
      );
      assert.equal(refused.status, 400);
      const answer = (await refused.json()) as { error: { code: string; message: string } };
      assert.equal(answer.error.code, 'subscription_limit');
      assert.match(answer.error.message, /at most 25 channels/);
    }
  });
});
