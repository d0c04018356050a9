import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  foldStateChanges,
  stateDelta,
  type JsonValue,
  type StateChange,
  type StateDeltaKind,
  type StateDocument,
} from '@fanout/shared/portable-state';
import { createClient, type FanoutClient } from './fanout-client.js';
import type { StateChannel, StateUpdate } from './state-channel.js';
import type { WebSocketLike } from './websocket-transport.js';

/** Lets queued callbacks, microtasks and zero-delay timers run. */
async function settle(rounds = 5): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
}

type Frame = Record<string, Record<string, unknown>>;

/** An edge behind a fake WebSocket class: records the client's frames, sends JSON frames. */
class FakeEdge {
  readonly sockets: FakeSocket[] = [];

  get socket(): FakeSocket {
    const socket = this.sockets[this.sockets.length - 1];
    assert.ok(socket, 'a socket was opened');
    return socket;
  }

  readonly WebSocket = ((edge: FakeEdge) =>
    class extends FakeSocket {
      constructor(url: string, protocols: string | string[]) {
        super(url, protocols);
        edge.sockets.push(this);
      }
    })(this);
}

class FakeSocket implements WebSocketLike {
  binaryType = 'blob';
  readyState = 0;
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { readonly data: unknown }) => void) | null = null;
  onclose: ((event: { readonly code: number; readonly reason: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  readonly sent: Frame[] = [];

  constructor(
    readonly url: string,
    readonly protocols: string | string[],
  ) {
    queueMicrotask(() => {
      this.readyState = 1;
      this.onopen?.({});
      this.send_({ connected: { requestId: 0, edgeId: 'edge-1', pingIntervalSeconds: 0 } });
    });
  }

  send(data: string | Uint8Array): void {
    assert.equal(typeof data, 'string');
    this.sent.push(JSON.parse(data as string) as Frame);
  }

  close(): void {
    this.readyState = 3;
  }

  /** A frame from the edge. */
  send_(frame: unknown): void {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }

  /** The edge closes the socket. */
  drop(code = 1011): void {
    this.readyState = 3;
    this.onclose?.({ code, reason: '' });
  }

  /** The client's frames named `name`. */
  frames(name: string): Record<string, unknown>[] {
    return this.sent.flatMap((frame) => (frame[name] ? [frame[name]] : []));
  }
}

interface SubscribeBody {
  readonly requestId: number;
  readonly subscriptions: {
    channel: string;
    snapshot?: boolean;
    delta?: string;
    since?: string;
  }[];
}

const pos = (offset: number): string => `E:0:${offset}`;

function client(edge: FakeEdge): FanoutClient {
  return createClient({
    url: 'http://127.0.0.1:1',
    transports: ['websocket'],
    WebSocket: edge.WebSocket,
    backoff: { initialMs: 1, maxMs: 1 },
    random: () => 0,
  });
}

function lastSubscribe(socket: FakeSocket): SubscribeBody {
  const frames = socket.frames('subscribe') as unknown as SubscribeBody[];
  const last = frames[frames.length - 1];
  assert.ok(last, 'a subscribe frame was sent');
  return last;
}

/** Answers the last subscribe with a snapshot of each channel. */
function answer(
  socket: FakeSocket,
  documents: Record<string, { state: StateDocument; position: string }>,
): void {
  const request = lastSubscribe(socket);
  socket.send_({
    subscribed: {
      requestId: request.requestId,
      subscriptions: request.subscriptions.map(({ channel }) => {
        const document = documents[channel];
        assert.ok(document, `a document for ${channel}`);
        return {
          channel,
          position: document.position,
          snapshot: {
            channel,
            position: document.position,
            exists: document.state !== undefined,
            state: document.state ?? null,
          },
        };
      }),
    },
  });
}

function collect(state: StateChannel): StateUpdate[] {
  const updates: StateUpdate[] = [];
  void (async () => {
    for await (const update of state) updates.push(update);
  })();
  return updates;
}

describe('client.state over WebSocket', () => {
  it('subscribes every state of one tick in one Subscribe and is ready with their snapshots', async () => {
    const edge = new FakeEdge();
    const fanout = client(edge);
    const [a, b, c] = fanout.states(['rooms.a', 'rooms.b', 'rooms.c'], { delta: 'merge-patch' });
    assert.ok(a && b && c);
    await settle();
    const subscribes = edge.socket.frames('subscribe') as unknown as SubscribeBody[];
    assert.equal(subscribes.length, 1, 'one Subscribe');
    assert.deepEqual(
      subscribes[0]?.subscriptions,
      ['rooms.a', 'rooms.b', 'rooms.c'].map((channel) => ({
        channel,
        snapshot: true,
        delta: 'merge-patch',
      })),
    );
    answer(edge.socket, {
      'rooms.a': { state: { title: 'A' }, position: pos(3) },
      'rooms.b': { state: undefined, position: pos(-1) },
      'rooms.c': { state: [1, 2], position: pos(7) },
    });
    await Promise.all([a.ready(), b.ready(), c.ready()]);
    assert.deepEqual(a.value, { title: 'A' });
    assert.equal(b.exists, false);
    assert.equal(b.value, undefined);
    assert.deepEqual(c.value, [1, 2]);
    assert.equal(c.position, pos(7));
    fanout.close();
  });

  for (const delta of ['json-patch', 'merge-patch', 'full'] as const) {
    it(`applies ${delta} patches, with the previous and new documents in each update`, async () => {
      const edge = new FakeEdge();
      const fanout = client(edge);
      const room = fanout.state('rooms.42', { delta });
      const updates = collect(room);
      await settle();
      answer(edge.socket, { 'rooms.42': { state: { title: 'Lobby' }, position: pos(1) } });
      await room.ready();
      const documents: StateDocument[] = [
        { title: 'Hall', members: ['ann'] },
        { members: ['ann', 'bob'] },
        undefined,
        { title: 'Back' },
      ];
      let previous: StateDocument = { title: 'Lobby' };
      documents.forEach((next, index) => {
        edge.socket.send_({ patch: edgePatch('rooms.42', delta, previous, next, pos(index + 1)) });
        previous = next;
      });
      await settle();
      assert.deepEqual(room.value, { title: 'Back' });
      assert.equal(room.position, pos(5));
      const changes = updates.filter((update) => update.type === 'change');
      assert.deepEqual(
        changes.map((update) => update.value),
        documents,
      );
      assert.deepEqual(changes[2]?.previous, { members: ['ann', 'bob'] });
      assert.equal(changes[2]?.exists, false);
      assert.equal(room.gaps, 0);
      fanout.close();
    });
  }

  it('refetches on a patch whose base is not the position held, never showing the skipped state', async () => {
    const edge = new FakeEdge();
    const fanout = client(edge);
    const room = fanout.state('rooms.gap');
    const updates = collect(room);
    await settle();
    answer(edge.socket, { 'rooms.gap': { state: { n: 1 }, position: pos(1) } });
    await room.ready();
    // The change at 2 never came: this patch applies to 2.
    edge.socket.send_({
      patch: {
        channel: 'rooms.gap',
        position: pos(3),
        base: pos(2),
        delta: 'json-patch',
        patch: [{ op: 'replace', path: '/n', value: 3 }],
        exists: true,
      },
    });
    await settle();
    assert.equal(room.gaps, 1);
    assert.equal(room.state, 'refetching');
    assert.deepEqual(room.value, { n: 1 }, 'the last consistent document');
    assert.deepEqual(edge.socket.frames('unsubscribe').at(-1)?.['channels'], ['rooms.gap']);
    const again = lastSubscribe(edge.socket);
    assert.deepEqual(again.subscriptions, [
      { channel: 'rooms.gap', snapshot: true, delta: 'json-patch' },
    ]);
    answer(edge.socket, { 'rooms.gap': { state: { n: 3 }, position: pos(3) } });
    await settle();
    assert.deepEqual(room.value, { n: 3 });
    assert.equal(room.state, 'active');
    const last = updates.at(-1);
    assert.equal(last?.type, 'snapshot');
    assert.equal(last.type === 'snapshot' && last.reset, true);
    assert.ok(!updates.some((update) => update.type === 'change'), 'no change was shown');
    fanout.close();
  });

  it('refetches on a patch that does not apply', async () => {
    const edge = new FakeEdge();
    const fanout = client(edge);
    const room = fanout.state('rooms.bad');
    await settle();
    answer(edge.socket, { 'rooms.bad': { state: { n: 1 }, position: pos(1) } });
    await room.ready();
    edge.socket.send_({
      patch: {
        channel: 'rooms.bad',
        position: pos(2),
        base: pos(1),
        patch: [{ op: 'remove', path: '/missing' }],
        exists: true,
      },
    });
    await settle();
    assert.equal(room.gaps, 1);
    assert.deepEqual(room.value, { n: 1 });
    assert.equal(lastSubscribe(edge.socket).subscriptions[0]?.since, undefined);
    fanout.close();
  });

  it('takes a reset snapshot as a fresh start, and reports refused changes', async () => {
    const edge = new FakeEdge();
    const fanout = client(edge);
    const room = fanout.state('rooms.reset');
    const updates = collect(room);
    await settle();
    answer(edge.socket, { 'rooms.reset': { state: { n: 1 }, position: pos(1) } });
    await room.ready();
    edge.socket.send_({
      stateChangeRefused: {
        channel: 'rooms.reset',
        position: pos(2),
        reason: 'too-large',
        message: 'too large',
      },
    });
    edge.socket.send_({
      snapshot: {
        requestId: 0,
        channel: 'rooms.reset',
        position: pos(9),
        exists: true,
        state: { n: 9 },
        reset: true,
      },
    });
    await settle();
    assert.deepEqual(
      updates.map((update) => update.type),
      ['snapshot', 'refused', 'snapshot'],
    );
    const refused = updates[1];
    assert.equal(refused?.type === 'refused' && refused.reason, 'too-large');
    assert.equal(refused?.position, pos(2));
    const reset = updates[2];
    assert.equal(reset?.type === 'snapshot' && reset.reset, true);
    assert.deepEqual(room.value, { n: 9 });
    assert.equal(room.position, pos(9));
    fanout.close();
  });

  it('resumes after its position on reconnect and applies the patches after it', async () => {
    const edge = new FakeEdge();
    const fanout = client(edge);
    const room = fanout.state('rooms.resume', { delta: 'full' });
    await settle();
    answer(edge.socket, { 'rooms.resume': { state: { n: 1 }, position: pos(1) } });
    await room.ready();
    edge.socket.send_({ patch: edgePatch('rooms.resume', 'full', { n: 1 }, { n: 2 }, pos(1)) });
    await settle();
    const first = edge.socket;
    first.drop();
    await settle(20);
    assert.notEqual(edge.socket, first, 'a new socket');
    const resume = lastSubscribe(edge.socket);
    assert.deepEqual(resume.subscriptions, [
      { channel: 'rooms.resume', snapshot: true, delta: 'full', since: pos(2) },
    ]);
    edge.socket.send_({
      subscribed: {
        requestId: resume.requestId,
        subscriptions: [{ channel: 'rooms.resume', position: pos(2) }],
      },
    });
    // A patch it had already (the resume overlapped), then the next one.
    edge.socket.send_({ patch: edgePatch('rooms.resume', 'full', { n: 1 }, { n: 2 }, pos(1)) });
    edge.socket.send_({ patch: edgePatch('rooms.resume', 'full', { n: 2 }, { n: 3 }, pos(2)) });
    await settle();
    assert.deepEqual(room.value, { n: 3 });
    assert.equal(room.gaps, 0);
    fanout.close();
  });

  it('refuses patterns, a second follow of one channel and an unknown delta', () => {
    const edge = new FakeEdge();
    const fanout = client(edge);
    assert.throws(() => fanout.state('rooms.*'), { code: 'channel_invalid' });
    fanout.state('rooms.once');
    assert.throws(() => fanout.state('rooms.once'), { code: 'invalid_argument' });
    assert.throws(() => fanout.subscribe('rooms.once'), { code: 'invalid_argument' });
    assert.throws(() => fanout.state('rooms.other', { delta: 'diff' as StateDeltaKind }), {
      code: 'invalid_argument',
    });
    fanout.close();
  });

  it('yields the documents of foldStateChanges for random change sequences, in every delta kind', async () => {
    const value: fc.Arbitrary<JsonValue> = fc.oneof(
      fc.record({ a: fc.integer({ min: 0, max: 3 }), b: fc.constantFrom('x', 'y') }),
      fc.record({ a: fc.array(fc.integer({ min: 0, max: 9 }), { maxLength: 4 }) }),
      fc.record({ c: fc.record({ d: fc.constantFrom(1, 2, null) }) }),
      fc.integer({ min: 0, max: 3 }),
      fc.constant(null),
    );
    const change: fc.Arbitrary<Omit<StateChange, 'position'>> = fc.oneof(
      value.map((data) => ({ op: 'put' as const, data: JSON.stringify(data) })),
      value.map((data) => ({ op: 'merge' as const, data: JSON.stringify(data) })),
      fc.constant({ op: 'delete' as const }),
      fc.constant({ op: 'put' as const, data: '{not json' }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<StateDeltaKind>('json-patch', 'merge-patch', 'full'),
        fc.array(change, { minLength: 1, maxLength: 12 }),
        async (delta, drawn) => {
          const changes = drawn.map((item, index) => ({ ...item, position: pos(index + 1) }));
          const fold = foldStateChanges(undefined, changes, {
            maxDocumentBytes: 65_536,
            maxDepth: 16,
          });
          const edge = new FakeEdge();
          const fanout = client(edge);
          const room = fanout.state('rooms.fold', { delta });
          const seen: StateDocument[] = [];
          const refusedAt: string[] = [];
          await settle(2);
          answer(edge.socket, { 'rooms.fold': { state: undefined, position: pos(0) } });
          await room.ready();
          let previous: StateDocument = undefined;
          let at = pos(0);
          const refusals = new Set(fold.refusals.map((refusal) => refusal.position));
          fold.documents.forEach((next, index) => {
            const position = pos(index + 1);
            if (refusals.has(position)) {
              edge.socket.send_({
                stateChangeRefused: { channel: 'rooms.fold', position, reason: 'invalid-json' },
              });
              refusedAt.push(position);
              return;
            }
            edge.socket.send_({
              patch: edgePatch('rooms.fold', delta, previous, next, at, position),
            });
            seen.push(room.value);
            previous = next;
            at = position;
          });
          assert.deepEqual(room.value, fold.document);
          assert.equal(room.gaps, 0);
          assert.deepEqual(
            seen,
            fold.documents.filter((_, index) => !refusals.has(pos(index + 1))),
          );
          assert.deepEqual(refusedAt, [...refusals]);
          fanout.close();
        },
      ),
      { numRuns: 60, seed: 41 },
    );
  });
});

/**
 * The patch frame an edge sends for the step `previous` → `next` at
 * `position` (default: the offset after `base`) in the `delta` form, as
 * docs/reference/protocol.md describes it.
 */
function edgePatch(
  channel: string,
  delta: StateDeltaKind,
  previous: StateDocument,
  next: StateDocument,
  base: string,
  position = pos(Number(base.split(':')[2]) + 1),
): Record<string, unknown> {
  const frame = { channel, position, base, exists: next !== undefined };
  if (next === undefined) {
    return delta === 'json-patch'
      ? { ...frame, delta, patch: [{ op: 'remove', path: '' }] }
      : { ...frame, delta: 'full', patch: null };
  }
  const step = stateDelta(previous, next, delta);
  switch (step.kind) {
    case 'json-patch':
      return { ...frame, delta: 'json-patch', patch: step.ops };
    case 'merge-patch':
      return { ...frame, delta: 'merge-patch', patch: step.patch };
    case 'full':
      if (delta === 'json-patch') {
        const op = previous === undefined ? 'add' : 'replace';
        return { ...frame, delta, patch: [{ op, path: '', value: next }] };
      }
      return { ...frame, delta: 'full', patch: next };
    case 'absent':
      return { ...frame, delta: 'full', patch: null };
  }
}
