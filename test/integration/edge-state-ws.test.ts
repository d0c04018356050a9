/**
 * State subscriptions over WebSocket against the test broker, over
 * `fanout.json.v1` and `fanout.proto.v1`: one Subscribe with three state
 * subscriptions (json-patch, merge-patch, full) and an event one answered by
 * one Subscribed frame with the three snapshots; PUT, PATCH and DELETE
 * written through the ingest meanwhile; every patch applies to the
 * previous position (`base`) and the documents end as GET answers them.
 * Resuming with a `since` the patch ring holds gives only the patches after
 * it, an older one a reset snapshot; a change the edge cannot fold comes as
 * `stateChangeRefused`; requests a state subscription cannot be are
 * answered with an Error.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  type JsonValue,
  type StateDocument,
  type StatePatchFrame,
  type StateSnapshotFrame,
  type SubscriptionRequest,
} from '@fanout/shared';
import { applyWsStatePatch } from '@fanout/edge';
import { uniqueChannel } from '../support/edge-test-clients.js';
import {
  writeState,
  startEdgeProcess,
  startIngestStack,
  CodecSocket,
  type EdgeProcess,
  type IngestStack,
} from '../support/index.js';

/** A document a client holds, moved on by each patch. */
interface Held {
  document: StateDocument;
  position: string;
}

function fromSnapshot(snapshot: StateSnapshotFrame<JsonValue> | undefined): Held {
  assert.ok(snapshot, 'a snapshot');
  return { document: snapshot.exists ? snapshot.state : undefined, position: snapshot.position };
}

function applyPatch(held: Held, patch: StatePatchFrame<JsonValue>): void {
  assert.equal(
    patch.base,
    held.position,
    `${patch.channel}: the patch applies to the position held`,
  );
  const applied = applyWsStatePatch(held.document, patch);
  assert.ok(applied.ok, `${patch.channel}: the patch applies`);
  held.document = applied.document;
  held.position = patch.position;
  assert.equal(patch.exists, held.document !== undefined);
}

describe('state subscriptions over WebSocket', () => {
  let stack: IngestStack;
  let edge: EdgeProcess;

  before(async () => {
    stack = await startIngestStack({ name: 'edge-state-ws', partitions: 2 });
    edge = await startEdgeProcess({
      brokers: stack.kafka.brokers,
      topic: stack.topic,
      // A small ring to pass; documents over 400 bytes are refused by the edge's fold only.
      env: { FANOUT_EDGE_STATE_PATCH_RING: '3', FANOUT_STATE_MAX_DOCUMENT_BYTES: '400' },
    });
  });

  after(async () => {
    await edge.kill('SIGTERM');
    await stack.stop();
  });

  async function write(method: string, channel: string, body?: JsonValue): Promise<string> {
    return writeState(stack.ingest.httpBase, method, channel, body);
  }

  async function read(
    channel: string,
  ): Promise<{ state: JsonValue; exists: boolean; position: string }> {
    const response = await fetch(`${edge.httpBase}/v1/state/${channel}`);
    assert.equal(response.status, 200);
    return (await response.json()) as { state: JsonValue; exists: boolean; position: string };
  }

  for (const format of ['json', 'proto'] as const) {
    it(`${format}: one Subscribed with every snapshot, then patches of each delta that rebuild the documents`, async () => {
      const [a, b, c] = ['a', 'b', 'c'].map((name) => uniqueChannel(`wsstate.${format}.${name}`));
      const events = uniqueChannel(`wsstate.${format}.events`);
      assert.ok(a && b && c);
      await write('PUT', a, { title: 'Lobby', members: ['ann'] });
      await write('PUT', b, { title: 'Hall', open: true });
      // c has never had state.
      const socket = await CodecSocket.open(edge, format);
      socket.subscribe(1, [
        { channel: a, snapshot: true },
        { channel: events },
        { channel: b, snapshot: true, delta: 'merge-patch' },
        { channel: c, snapshot: true, delta: 'full' },
      ]);
      // Written while the subscribe is answered and after: no gap, no duplicate.
      const writes = Promise.all([
        (async () => {
          await write('PATCH', a, { members: ['ann', 'bob'] });
          await write('PATCH', a, { title: 'Big lobby' });
          await write('DELETE', a);
          await write('PUT', a, { title: 'Again' });
        })(),
        (async () => {
          await write('PATCH', b, { open: null, size: 3 });
          await write('PUT', b, { list: [1, 2, 3] });
          await write('PATCH', b, { list: [1, 3], note: 'x' });
        })(),
        (async () => {
          await write('PUT', c, { n: 1 });
          await write('PATCH', c, { n: 2 });
          await write('DELETE', c);
          await write('PUT', c, { n: 3 });
        })(),
      ]);
      const first = await socket.next();
      assert.equal(first.kind, 'subscribed', 'nothing comes before the Subscribed frame');
      if (first.kind !== 'subscribed') return;
      assert.equal(first.requestId, 1);
      assert.deepEqual(
        first.subscriptions.map((state) => state.channel),
        [a, events, b, c],
      );
      const held = new Map<string, Held>();
      for (const state of first.subscriptions) {
        if (state.channel === events) {
          assert.equal(state.snapshot, undefined);
          continue;
        }
        assert.ok(state.snapshot, `${state.channel} has its snapshot`);
        assert.equal(state.snapshot.requestId, 1);
        assert.equal(state.snapshot.reset, false);
        assert.equal(state.position, state.snapshot.position);
        held.set(state.channel, fromSnapshot(state.snapshot));
      }
      await writes;
      // The writes above may all land before the snapshots are taken: one
      // more change of each channel after the Subscribed frame makes a patch
      // of every delta certain.
      await write('PATCH', a, { last: true });
      await write('PATCH', b, { last: true });
      await write('PATCH', c, { last: true });
      const finals = new Map(
        await Promise.all(
          [a, b, c].map(async (channel) => [channel, await read(channel)] as const),
        ),
      );
      const caughtUp = (): boolean =>
        [...finals].every(([channel, final]) => held.get(channel)?.position === final.position);
      const deltas = new Map<string, Set<string>>();
      while (!caughtUp()) {
        const message = await socket.next();
        assert.equal(message.kind, 'patch', `only patches follow, not ${message.kind}`);
        if (message.kind !== 'patch') return;
        const holder = held.get(message.channel);
        assert.ok(holder, `a patch of a subscribed channel (${message.channel})`);
        applyPatch(holder, message);
        const seen = deltas.get(message.channel) ?? new Set();
        seen.add(message.delta);
        deltas.set(message.channel, seen);
      }
      for (const [channel, final] of finals) {
        const document = held.get(channel)?.document;
        assert.deepEqual(document === undefined ? null : document, final.state, channel);
        assert.equal(document !== undefined, final.exists, channel);
      }
      assert.deepEqual([...(deltas.get(a) ?? [])].sort(), ['json-patch']);
      assert.deepEqual([...(deltas.get(c) ?? [])], ['full']);
      // A merge patch cannot delete by null-valued array, nor re-create: full where it must.
      assert.ok(deltas.get(b)?.has('merge-patch'));

      // Unsubscribe leaves the trackers: no more patches of a.
      socket.send({ kind: 'unsubscribe', requestId: 2, channels: [a, events] });
      const [unsubscribed] = await socket.take(1, (message) => message.kind === 'unsubscribed');
      assert.deepEqual(unsubscribed?.kind === 'unsubscribed' ? unsubscribed.channels : [], [
        a,
        events,
      ]);
      await write('PATCH', a, { title: 'Unheard' });
      const bPosition = await write('PATCH', b, { note: 'y' });
      const [next] = await socket.take(1, (message) => message.kind === 'patch');
      assert.ok(next?.kind === 'patch');
      assert.equal(next.channel, b, 'the patch of a still subscribed channel, not of a');
      assert.equal(next.position, bPosition);
      socket.close();
    });
  }

  it('resumes from a since the ring holds with only the patches after it, an older one with a reset snapshot', async () => {
    const channel = uniqueChannel('wsstate.resume');
    const start = await write('PUT', channel, { n: 0 });
    const p1 = await write('PATCH', channel, { n: 1 });
    const p2 = await write('PATCH', channel, { n: 2 });
    const socket = await CodecSocket.open(edge, 'proto');
    socket.subscribe(3, [{ channel, snapshot: true, since: p1 }]);
    const subscribed = await socket.next();
    assert.equal(subscribed.kind, 'subscribed');
    if (subscribed.kind !== 'subscribed') return;
    assert.deepEqual(subscribed.subscriptions, [{ channel, position: p1 }]);
    const patch = await socket.next();
    assert.ok(patch.kind === 'patch');
    assert.equal(patch.base, p1);
    assert.equal(patch.position, p2);
    const applied = applyWsStatePatch({ n: 1 }, patch);
    assert.deepEqual(applied.ok ? applied.document : undefined, { n: 2 });
    // Only that one: the next frame is the answer to a ping.
    socket.send({ kind: 'ping', requestId: 9 });
    assert.equal((await socket.next()).kind, 'pong');
    socket.close();

    // Beyond the ring of 3: a reset snapshot.
    for (let n = 3; n <= 6; n++) await write('PATCH', channel, { n });
    const json = await CodecSocket.open(edge, 'json');
    json.subscribe(4, [{ channel, snapshot: true, since: start, delta: 'full' }]);
    const reset = await json.next();
    assert.equal(reset.kind, 'subscribed');
    if (reset.kind !== 'subscribed') return;
    const snapshot = reset.subscriptions[0]?.snapshot;
    assert.equal(snapshot?.reset, true);
    assert.deepEqual(snapshot.state, { n: 6 });
    assert.equal(reset.subscriptions[0]?.position, snapshot.position);
    json.close();
  });

  it('reports a change the fold refuses with stateChangeRefused, the state staying where it was', async () => {
    const channel = uniqueChannel('wsstate.refused');
    const base = await write('PUT', channel, { small: true });
    const socket = await CodecSocket.open(edge, 'json');
    socket.subscribe(5, [{ channel, snapshot: true }]);
    const subscribed = await socket.next();
    assert.equal(subscribed.kind, 'subscribed');
    const refusedAt = await write('PUT', channel, { big: 'x'.repeat(600) });
    const after = await write('PATCH', channel, { small: false });
    const refused = await socket.next();
    assert.ok(refused.kind === 'stateChangeRefused');
    assert.equal(refused.channel, channel);
    assert.equal(refused.position, refusedAt);
    assert.equal(refused.reason, 'too-large');
    const patch = await socket.next();
    assert.ok(patch.kind === 'patch');
    assert.equal(patch.base, base, 'the refused change did not move the state');
    assert.equal(patch.position, after);
    socket.close();
  });

  it('answers requests a state subscription cannot be with an Error', async () => {
    const socket = await CodecSocket.open(edge, 'json');
    const cases: [SubscriptionRequest, string][] = [
      [{ channel: 'wsstate.bad.*', snapshot: true }, 'invalid_argument'],
      [{ channel: 'wsstate.bad', snapshot: true, rewind: 5 }, 'invalid_argument'],
      [{ channel: 'wsstate.bad', snapshot: true, types: ['t'] }, 'invalid_argument'],
      [{ channel: 'wsstate.bad', delta: 'full' }, 'invalid_argument'],
    ];
    let requestId = 10;
    for (const [request, code] of cases) {
      socket.subscribe(++requestId, [request]);
      const error = await socket.next();
      assert.ok(error.kind === 'error', JSON.stringify(request));
      assert.equal(error.code, code);
      assert.equal(error.requestId, requestId);
    }
    // An unknown delta does not decode.
    socket.socket.socket.send(
      '{"subscribe":{"requestId":20,"subscriptions":[{"channel":"wsstate.bad","snapshot":true,"delta":"diff"}]}}',
    );
    const undecodable = await socket.next();
    assert.ok(undecodable.kind === 'error');
    assert.equal(undecodable.code, 'frame_invalid');
    // A state and an event subscription of one channel on one connection: refused.
    const channel = uniqueChannel('wsstate.twice');
    socket.subscribe(21, [{ channel }, { channel, snapshot: true }]);
    const twice = await socket.next();
    assert.ok(twice.kind === 'error');
    assert.equal(twice.code, 'invalid_argument');
    socket.close();
  });
});
