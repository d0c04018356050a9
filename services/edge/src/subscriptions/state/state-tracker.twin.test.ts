/**
 * State trackers on the in-memory twin of the log: the fold through the
 * hub's catch-up → live seam, snapshots and patches that never gap or
 * repeat under concurrent writes, refusals reported, truncated history
 * answered unavailable until a put or delete, eviction, and the GET read.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { setImmediate as turn } from 'node:timers/promises';
import fc from 'fast-check';
import { Registry } from 'prom-client';
import {
  applyStateChange,
  canonicalJson,
  parseArrayKey,
  type ArrayKeyTokens,
  createLogger,
  FanoutError,
  parsePosition,
  type JsonValue,
  type StateDocument,
  type StateLimits,
  type StateDeltaKind,
  type StateOperation,
  type StatePatchFrame,
  wsJsonCodec,
  wsProtoCodec,
} from '@fanout/shared';
import { createEdgeMetrics, type EdgeMetrics } from '../../edge-metrics.js';
import type { MemoryEventLog } from '../../log/memory-event-log.js';
import type { ChannelHub } from '../channel-hub.js';
import { startMemoryHub } from '../memory-hub.js';
import { readState } from './state-read.js';
import { applyStatePatch, applyWsStatePatch, statePatchOps } from './state-patch.js';
import type { RefusedChange, StateStep } from './state-step.js';
import type { StateListener, StateOpening } from './state-tracker.js';
import { StateTrackers } from './state-trackers.js';

const logger = createLogger({ service: 'test', level: 'silent' });

interface Twin {
  readonly log: MemoryEventLog;
  readonly hub: ChannelHub;
  readonly trackers: StateTrackers;
  readonly metrics: EdgeMetrics;
  close(): Promise<void>;
}

const opened: Twin[] = [];

afterEach(async () => {
  await Promise.all(opened.splice(0).map((twin) => twin.close()));
});

async function twin(
  options: { limits?: StateLimits; maxChannels?: number; patchRing?: number; ring?: number } = {},
): Promise<Twin> {
  const { log, hub, close } = await startMemoryHub({
    logger,
    topic: 'state-twin',
    ringCapacity: options.ring ?? 1000,
    replayFetchMaxBytes: 4096,
  });
  const metrics = createEdgeMetrics(new Registry());
  const trackers = new StateTrackers({
    hub,
    limits: options.limits ?? { maxDocumentBytes: 262_144, maxDepth: 64 },
    maxChannels: options.maxChannels ?? 100,
    patchRing: options.patchRing ?? 64,
    kafkaWaitMs: 10_000,
    metrics,
    logger,
  });
  const created: Twin = {
    log,
    hub,
    trackers,
    metrics,
    async close() {
      trackers.close();
      await close();
    },
  };
  opened.push(created);
  return created;
}

/** The canonical JSON of a document; undefined when absent. */
function canonical(document: StateDocument): string | undefined {
  return document === undefined ? undefined : canonicalJson(document);
}

function change(channel: string, op: StateOperation, data?: JsonValue | string) {
  return {
    channel,
    state: op,
    ...(data === undefined ? {} : { data: typeof data === 'string' ? data : JSON.stringify(data) }),
    contentType: op === 'merge' ? 'application/merge-patch+json' : 'application/json',
  };
}

/** A reader recording what it is given. */
class Reader implements StateListener {
  readonly steps: StateStep[] = [];
  readonly refusals: RefusedChange[] = [];
  readonly endings: FanoutError[] = [];
  changed(step: StateStep): void {
    this.steps.push(step);
  }
  refused(change: RefusedChange): void {
    this.refusals.push(change);
  }
  ended(error: FanoutError): void {
    this.endings.push(error);
  }
}

/** Joins a reader now (pinned like a request), after the tracker caught up. */
async function join(
  edge: Twin,
  channel: string,
): Promise<{ reader: Reader; opening: StateOpening }> {
  const tracker = edge.trackers.acquire(channel);
  try {
    await tracker.caughtUp(Date.now() + 10_000);
  } finally {
    tracker.pins--;
  }
  const reader = new Reader();
  return { reader, opening: tracker.join(reader) };
}

async function caughtUp(edge: Twin, channel: string): Promise<void> {
  const tracker = edge.trackers.acquire(channel);
  try {
    await tracker.caughtUp(Date.now() + 10_000);
  } finally {
    tracker.pins--;
  }
}

const abort = new AbortController();

function arrayKeyTokens(pointer: string): ArrayKeyTokens {
  const parsed = parseArrayKey(pointer);
  if (!('tokens' in parsed)) throw new Error(parsed.problem);
  return parsed.tokens;
}

const wsDeltas: readonly (readonly ['json' | 'proto', StateDeltaKind])[] = [
  ['json', 'json-patch'],
  ['json', 'merge-patch'],
  ['json', 'full'],
  ['proto', 'json-patch'],
  ['proto', 'merge-patch'],
  ['proto', 'full'],
];

/** A WebSocket `patch` frame as a client reads it. */
function decodeWsPatch(frame: string | Uint8Array): StatePatchFrame<JsonValue> {
  const message =
    typeof frame === 'string'
      ? wsJsonCodec.decodeServerFrame(frame)
      : wsProtoCodec.decodeServerFrame(frame);
  assert.equal(message.kind, 'patch');
  if (message.kind !== 'patch') throw new Error('not a patch');
  return message;
}

describe('state trackers on the twin of the log', () => {
  it("diffs with the arrayKey of the last put: the put's step, later merges, none after a delete", async () => {
    const edge = await twin();
    const rows = (ids: number[]) => ids.map((id) => ({ id, name: `row ${id}`, tags: ['a', 'b'] }));
    const ids = Array.from({ length: 50 }, (_, index) => index);
    edge.log.publish([{ ...change('list.k', 'put', { rows: rows(ids) }), arrayKey: '/id' }]);
    const { reader, opening } = await join(edge, 'list.k');
    assert.equal(opening.kind, 'snapshot');
    const added = { id: 100, name: 'row 100', tags: ['a', 'b'] };
    edge.log.publish([
      { ...change('list.k', 'put', { rows: rows([100, ...ids]) }), arrayKey: '/id' },
      change('list.k', 'merge', { rows: rows([100, ...ids.slice(1)]) }),
      change('list.k', 'delete'),
      change('list.k', 'put', { rows: rows(ids) }),
      change('list.k', 'put', { rows: rows([100, ...ids]) }),
    ]);
    await caughtUp(edge, 'list.k');
    assert.equal(reader.steps.length, 5);
    const ops = reader.steps.map((step) => step.ops);
    assert.deepEqual(ops[0], [{ op: 'add', path: '/rows/0', value: added }], 'the put has its key');
    assert.deepEqual(ops[1], [{ op: 'remove', path: '/rows/1' }], 'the merge keeps it');
    assert.deepEqual(ops[2], [{ op: 'remove', path: '' }]);
    assert.equal(ops[3]?.[0]?.op, 'add');
    assert.deepEqual(
      ops[4]?.map((op) => [op.op, op.path]),
      [['replace', '']],
      'a put without a key: index by index, larger than the document, so the whole document',
    );
  });

  it('folds puts, merges and deletes of its channel, ignoring other events and channels', async () => {
    const edge = await twin();
    edge.log.publish([
      change('room.a', 'put', { title: 'Lobby', members: ['ann'] }),
      { channel: 'room.a', type: 'chat', data: '{"text":"hi"}' },
      change('room.b', 'put', { other: true }),
      change('room.a', 'merge', { members: ['ann', 'bob'], title: null }),
    ]);
    const { opening } = await join(edge, 'room.a');
    assert.equal(opening.kind, 'snapshot');
    if (opening.kind !== 'snapshot') return;
    assert.deepEqual(opening.snapshot.document, { members: ['ann', 'bob'] });
    assert.equal(opening.snapshot.json, '{"members":["ann","bob"]}');
    assert.equal(opening.snapshot.offset, 3);
    edge.log.publish([change('room.a', 'delete')]);
    await caughtUp(edge, 'room.a');
    const snapshot = edge.trackers.peek('room.a')?.snapshot();
    assert.equal(snapshot?.document, undefined);
    assert.equal(snapshot?.offset, 4);
  });

  it('answers a channel that never had state as absent at the position before the first record', async () => {
    const edge = await twin();
    edge.log.publish([{ channel: 'room.none', data: 'x' }]);
    const { opening } = await join(edge, 'room.none');
    assert.equal(opening.kind, 'snapshot');
    if (opening.kind !== 'snapshot') return;
    assert.equal(opening.snapshot.document, undefined);
    assert.equal(opening.snapshot.offset, -1);
    assert.match(opening.snapshot.position, /:0:-1$/);
  });

  it('reports a change the fold refuses with its position and keeps the document', async () => {
    const edge = await twin({ limits: { maxDocumentBytes: 40, maxDepth: 64 } });
    edge.log.publish([change('room.r', 'put', { a: 1 })]);
    const { reader } = await join(edge, 'room.r');
    const [big] = edge.log.publish([change('room.r', 'merge', { b: 'x'.repeat(64) })]);
    edge.log.publish([change('room.r', 'put', 'not json')]);
    await caughtUp(edge, 'room.r');
    assert.deepEqual(
      reader.refusals.map((refusal) => [refusal.offset, refusal.reason]),
      [
        [big?.offset, 'too-large'],
        [(big?.offset ?? 0) + 1, 'invalid-json'],
      ],
    );
    assert.deepEqual(reader.steps, []);
    assert.deepEqual(edge.trackers.peek('room.r')?.snapshot().document, { a: 1 });
    assert.match(reader.refusals[0]?.sseEvent ?? '', /^event: state_change_refused\nid: /);
  });

  it('folds a put of the document it already holds to no step, keeping the position', async () => {
    const edge = await twin();
    const [first] = edge.log.publish([change('res.same', 'put', { price: 1, tags: ['a'] })]);
    const { reader, opening } = await join(edge, 'res.same');
    const steps: readonly StateStep[] = reader.steps;
    assert.equal(opening.kind, 'snapshot');
    // The same document again, members in the same order: what a bridge's new owner publishes.
    edge.log.publish([change('res.same', 'put', { price: 1, tags: ['a'] })]);
    edge.log.publish([change('res.same', 'merge', { price: 1 })]);
    await caughtUp(edge, 'res.same');
    assert.deepEqual(reader.steps, [], 'no patch for an unchanged document');
    const tracker = edge.trackers.peek('res.same');
    assert.equal(tracker?.snapshot().offset, first?.offset, 'the state keeps its position');
    const [changed] = edge.log.publish([change('res.same', 'put', { price: 2, tags: ['a'] })]);
    await caughtUp(edge, 'res.same');
    assert.deepEqual(
      steps.map((step) => [step.offset, step.base]),
      [[changed?.offset, tracker?.snapshot().position.replace(/\d+$/, String(first?.offset))]],
      'the next real change is a step based on the position of the last one',
    );
    const patched = applyStatePatch({ price: 1, tags: ['a'] }, steps[0]?.ops);
    assert.deepEqual(patched.ok ? patched.document : undefined, { price: 2, tags: ['a'] });
  });

  it('snapshot plus every patch delivered is the fold at each position, under concurrent writes and joins', async () => {
    const documents = fc.oneof(
      fc.constant<JsonValue>(null),
      fc.dictionary(
        fc.constantFrom('a', 'b', 'c'),
        fc.oneof(fc.integer(), fc.string(), fc.constant(null)),
        {
          maxKeys: 3,
        },
      ),
      fc.array(fc.integer({ min: 0, max: 9 }), { maxLength: 4 }),
    );
    const action = fc.oneof(
      fc.record({ kind: fc.constant('put' as const), data: documents }),
      fc.record({ kind: fc.constant('merge' as const), data: documents }),
      fc.record({ kind: fc.constant('delete' as const) }),
      fc.record({ kind: fc.constant('invalid' as const) }),
      fc.record({ kind: fc.constant('other' as const) }),
      fc.record({ kind: fc.constant('join' as const) }),
      fc.record({ kind: fc.constant('turn' as const) }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(action, { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 1, max: 6 }),
        async (actions, patchRing) => {
          const limits = { maxDocumentBytes: 60, maxDepth: 8 };
          const edge = await twin({ limits, patchRing });
          try {
            const channel = 'prop.s';
            const joined: { reader: Reader; opening: StateOpening }[] = [];
            const joining: Promise<void>[] = [];
            for (const step of actions) {
              if (step.kind === 'turn') await turn();
              else if (step.kind === 'join') {
                joining.push(
                  join(edge, channel).then((entry) => {
                    joined.push(entry);
                  }),
                );
              } else if (step.kind === 'other') {
                edge.log.publish([
                  { channel, data: '{}' },
                  { channel: 'prop.t', data: '{}' },
                ]);
              } else if (step.kind === 'invalid') {
                edge.log.publish([change(channel, 'merge', '{nope')]);
              } else if (step.kind === 'delete') {
                edge.log.publish([change(channel, 'delete')]);
              } else {
                edge.log.publish([change(channel, step.kind, step.data)]);
              }
            }
            await Promise.all(joining);
            joined.push(await join(edge, channel));
            await caughtUp(edge, channel);
            // The fold of what was published, at every offset.
            const expected = new Map<number, StateDocument>();
            const applied: number[] = [];
            let document: StateDocument = undefined;
            let offset = 0;
            for (const step of actions) {
              if (step.kind === 'turn' || step.kind === 'join') continue;
              if (step.kind === 'other') {
                offset += 2;
                continue;
              }
              const op = step.kind === 'invalid' ? 'merge' : step.kind;
              const data =
                step.kind === 'invalid'
                  ? '{nope'
                  : step.kind === 'delete'
                    ? undefined
                    : JSON.stringify(step.data);
              const result = applyStateChange(
                document,
                { op, ...(data === undefined ? {} : { data }), position: String(offset) },
                limits,
              );
              if (result.ok) {
                // A change that leaves the document as it was is no step.
                if (result.json !== canonical(document)) applied.push(offset);
                document = result.document;
              }
              expected.set(offset, document);
              offset += 1;
            }
            const foldAt = (at: number): StateDocument => {
              let found: StateDocument = undefined;
              for (const [position, value] of expected) if (position <= at) found = value;
              return found;
            };
            for (const { reader, opening } of joined) {
              assert.equal(opening.kind, 'snapshot');
              if (opening.kind !== 'snapshot') continue;
              let held = opening.snapshot.document;
              assert.deepEqual(held, foldAt(opening.snapshot.offset), 'the snapshot is the fold');
              assert.deepEqual(
                reader.steps.map((step) => step.offset),
                applied.filter((at) => at > opening.snapshot.offset),
                'every change after the snapshot, once, in order',
              );
              // The WebSocket frames of every delta, in both formats, give the same documents.
              const viaWs = wsDeltas.map(() => held);
              let base = opening.snapshot.position;
              for (const step of reader.steps) {
                const next = applyStatePatch(held, (JSON.parse(step.json) as { op: unknown }).op);
                assert.ok(next.ok, 'the patch applies');
                held = next.document;
                assert.deepEqual(held, foldAt(step.offset), `the fold at ${step.offset}`);
                assert.equal(step.base, base, 'each patch applies to the previous position');
                base = step.position;
                wsDeltas.forEach(([format, delta], index) => {
                  const frame = decodeWsPatch(step.wsFrame(channel, format, delta));
                  assert.equal(frame.base, step.base);
                  const applied = applyWsStatePatch(viaWs[index], frame);
                  assert.ok(applied.ok, `the ${format} ${delta} patch applies`);
                  viaWs[index] = applied.document;
                  assert.deepEqual(applied.document, held, `${format} ${delta} at ${step.offset}`);
                });
              }
            }
            // Resuming from any position the ring still covers gives the same documents.
            const tracker = edge.trackers.peek(channel);
            assert.ok(tracker);
            const final = tracker.snapshot();
            for (const at of [-1, ...applied]) {
              const steps = tracker.stepsAfter(
                { epoch: tracker.epoch, partition: 0, offset: at },
                `p${at}`,
              );
              if (steps === undefined) continue;
              let held = foldAt(at);
              for (const step of steps) {
                const next = applyStatePatch(held, step.ops);
                assert.ok(next.ok);
                held = next.document;
              }
              assert.deepEqual(held, final.document, `resumed after ${at}`);
            }
          } finally {
            await edge.close();
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('answers truncated history unavailable until a put or delete re-bases it', async () => {
    const edge = await twin();
    edge.log.publish([change('trunc.a', 'put', { v: 1 }), change('trunc.a', 'merge', { w: 2 })]);
    edge.log.truncate(0, 1);
    const tracker = edge.trackers.acquire('trunc.a');
    try {
      await tracker.caughtUp(Date.now() + 10_000);
    } finally {
      tracker.pins--;
    }
    assert.throws(
      () => {
        tracker.assertServable();
      },
      (error: unknown) =>
        error instanceof FanoutError &&
        error.code === 'state_unavailable' &&
        error.details['reason'] === 'history_truncated',
    );
    await assert.rejects(
      readState(
        edge.trackers,
        { channel: 'trunc.a', wait: 0, kafkaWaitMs: 10_000 },
        () => false,
        abort.signal,
      ),
      (error: unknown) => error instanceof FanoutError && error.code === 'state_unavailable',
    );
    edge.log.publish([change('trunc.a', 'merge', { x: 3 })]);
    await caughtUp(edge, 'trunc.a');
    assert.equal(tracker.baseKnown, false, 'a merge does not re-base');
    edge.log.publish([change('trunc.a', 'put', { fresh: true })]);
    await caughtUp(edge, 'trunc.a');
    const read = await readState(
      edge.trackers,
      { channel: 'trunc.a', wait: 0, kafkaWaitMs: 10_000 },
      () => false,
      abort.signal,
    );
    assert.equal(read?.kind, 'snapshot');
    if (read?.kind === 'snapshot') assert.deepEqual(read.snapshot.document, { fresh: true });
  });

  it('evicts the least recently used tracker without readers, and refuses when all have readers', async () => {
    const edge = await twin({ maxChannels: 2 });
    edge.log.publish([
      change('ev.a', 'put', 1),
      change('ev.b', 'put', 2),
      change('ev.c', 'put', 3),
    ]);
    const { reader } = await join(edge, 'ev.a');
    await caughtUp(edge, 'ev.b');
    assert.equal(edge.trackers.size, 2);
    await caughtUp(edge, 'ev.c');
    assert.equal(edge.trackers.size, 2);
    assert.equal(edge.trackers.peek('ev.b'), undefined, 'ev.b (no readers) was evicted');
    assert.ok(edge.trackers.peek('ev.a'), 'ev.a has a reader');
    assert.equal(await edge.metrics.stateEvictions.get().then((m) => m.values[0]?.value), 1);
    await join(edge, 'ev.c');
    assert.throws(
      () => edge.trackers.acquire('ev.d'),
      (error: unknown) => error instanceof FanoutError && error.code === 'state_unavailable',
    );
    assert.deepEqual(reader.endings, []);
  });

  it('reads with ETag, 304 and long-poll patches, and a reset snapshot when the ring is passed', async () => {
    const edge = await twin({ patchRing: 2 });
    edge.log.publish([change('get.a', 'put', { n: 0, title: 'the lobby of the building' })]);
    const read = (request: { since?: string; ifNoneMatch?: string; wait?: number }) =>
      readState(
        edge.trackers,
        { channel: 'get.a', wait: request.wait ?? 0, kafkaWaitMs: 10_000, ...request },
        () => false,
        abort.signal,
      );
    const first = await read({});
    assert.equal(first?.kind, 'snapshot');
    if (first?.kind !== 'snapshot') return;
    assert.equal((await read({ ifNoneMatch: first.snapshot.position }))?.kind, 'not_modified');
    const waiting = read({ ifNoneMatch: first.snapshot.position, wait: 5 });
    await turn();
    edge.log.publish([change('get.a', 'merge', { n: 1 })]);
    const patched = await waiting;
    assert.equal(patched?.kind, 'patches');
    if (patched?.kind !== 'patches') return;
    assert.deepEqual(JSON.parse(`[${patched.steps.map((step) => step.json).join(',')}]`), [
      {
        position: patched.position,
        base: first.snapshot.position,
        op: [{ op: 'replace', path: '/n', value: 1 }],
      },
    ]);
    edge.log.publish([
      change('get.a', 'merge', { n: 2 }),
      change('get.a', 'merge', { n: 3 }),
      change('get.a', 'merge', { n: 4 }),
    ]);
    const old = await read({ since: first.snapshot.position });
    assert.equal(old?.kind, 'snapshot');
    if (old?.kind === 'snapshot') {
      assert.equal(old.reset, true);
      assert.deepEqual(old.snapshot.document, { n: 4, title: 'the lobby of the building' });
    }
    const recent = await read({ since: patched.position.replace(/:\d+$/, ':2') });
    assert.equal(recent?.kind, 'patches');
    if (recent?.kind === 'patches') assert.equal(recent.steps.length, 2);
  });

  it('folds each change from the JSON it holds: keyed patches, live merge-patch frames, resumes', async () => {
    const edge = await twin({ patchRing: 8 });
    const rows = (ids: number[]) => ids.map((id) => ({ id, name: `row ${id}` }));
    edge.log.publish([
      { ...change('json.k', 'put', { rows: rows([1, 2, 3]), n: 0 }), arrayKey: '/id' },
      change('json.k', 'merge', { n: 1 }),
    ]);
    const { reader, opening } = await join(edge, 'json.k');
    assert.equal(opening.kind, 'snapshot');
    const tracker = edge.trackers.peek('json.k');
    assert.ok(tracker);
    const before = tracker.snapshot();
    assert.equal(
      before.json,
      '{"rows":[{"id":1,"name":"row 1"},{"id":2,"name":"row 2"},{"id":3,"name":"row 3"}],"n":1}',
    );
    assert.deepEqual(before.document, JSON.parse(before.json ?? ''));

    // A live WebSocket reader of merge-patch deltas encodes each step as it is told.
    const frames: (string | Uint8Array)[] = [];
    tracker.join({
      changed: (step) => frames.push(step.wsFrame('json.k', 'json', 'merge-patch')),
      refused: () => undefined,
      ended: () => undefined,
    });
    edge.log.publish([change('json.k', 'merge', { rows: rows([0, 1, 2, 3]) })]);
    await caughtUp(edge, 'json.k');
    assert.deepEqual(
      reader.steps.map((step) => step.ops),
      [[{ op: 'add', path: '/rows/0', value: { id: 0, name: 'row 0' } }]],
      'the keyed patch from the document parsed from its JSON',
    );
    assert.deepEqual(tracker.snapshot().document, { rows: rows([0, 1, 2, 3]), n: 1 });
    const [frame] = frames;
    assert.ok(frame !== undefined);
    const decoded = decodeWsPatch(frame);
    assert.equal(decoded.delta, 'merge-patch', 'a merge patch, made while the step was told');
    assert.deepEqual(decoded.patch, { rows: rows([0, 1, 2, 3]) });

    // Once told, a step holds its encoded patch only: a JSON Patch reader resumes by
    // patches, a merge-patch one gets a snapshot.
    edge.log.publish([change('json.k', 'merge', { n: 2 })]);
    await caughtUp(edge, 'json.k');
    const since = { value: parsePosition(before.position), text: before.position };
    const patches = tracker.join(new Reader(), since);
    assert.equal(patches.kind, 'patches');
    if (patches.kind === 'patches') {
      assert.equal(patches.steps.length, 2);
      let document: StateDocument = before.document;
      for (const step of patches.steps) {
        const applied = applyStatePatch(document, step.ops);
        assert.ok(applied.ok);
        document = applied.document;
      }
      assert.deepEqual(document, tracker.snapshot().document);
    }
    const merge = tracker.join(new Reader(), since, 'merge-patch');
    assert.equal(merge.kind, 'snapshot');
    if (merge.kind === 'snapshot') assert.equal(merge.reset, true);
    const newest = reader.steps[1]?.position ?? '';
    assert.equal(reader.steps.length, 2);
    const one = tracker.join(
      new Reader(),
      {
        value: parsePosition(reader.steps[0]?.position ?? ''),
        text: reader.steps[0]?.position ?? '',
      },
      'merge-patch',
    );
    assert.equal(one.kind, 'snapshot', 'the newest step holds its encoded patch only');
    const current = tracker.join(
      new Reader(),
      { value: parsePosition(newest), text: newest },
      'merge-patch',
    );
    assert.deepEqual(current, { kind: 'patches', steps: [] });
  });

  it('gives the patches a fold holding the values would give, for any changes', async () => {
    const member = fc.record({
      id: fc.integer({ min: 0, max: 5 }),
      v: fc.oneof(fc.integer(), fc.string({ maxLength: 3 })),
    });
    const value = fc.oneof(
      fc.integer({ min: -3, max: 3 }),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.string({ maxLength: 4 }),
      fc.boolean(),
      fc.constant(null),
      fc.array(member, { maxLength: 5 }),
      fc.dictionary(
        fc.constantFrom('x', 'y', '__proto__', 'rows'),
        fc.oneof(fc.integer(), fc.constant(null)),
        { maxKeys: 3 },
      ),
    );
    const documents = fc.oneof(
      fc.dictionary(fc.constantFrom('a', 'b', 'rows', 'n'), value, { maxKeys: 4 }),
      fc.array(member, { maxLength: 5 }),
      value,
    );
    const action = fc.oneof(
      fc.record({ op: fc.constant('put' as const), data: documents, keyed: fc.boolean() }),
      fc.record({ op: fc.constant('merge' as const), data: documents, keyed: fc.constant(false) }),
      fc.record({
        op: fc.constant('delete' as const),
        data: fc.constant(undefined),
        keyed: fc.constant(false),
      }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(action, { minLength: 1, maxLength: 12 }), async (actions) => {
        const edge = await twin();
        try {
          const channel = 'same.ops';
          const { reader } = await join(edge, channel);
          // The reference: the values of each document kept from one change to the next.
          let held: StateDocument = undefined;
          let heldJson: string | undefined;
          let key: ArrayKeyTokens | undefined;
          const expected: unknown[] = [];
          let refused = 0;
          for (const { op, data, keyed } of actions) {
            const published = change(
              channel,
              op,
              data === undefined ? undefined : JSON.stringify(data),
            );
            edge.log.publish([keyed ? { ...published, arrayKey: '/id' } : published]);
            const result = applyStateChange(
              held,
              {
                op,
                ...(published.data === undefined ? {} : { data: published.data }),
                position: '',
              },
              { maxDocumentBytes: 262_144, maxDepth: 64 },
            );
            if (!result.ok) {
              // Refused (a `__proto__` member): the document and its key stay.
              refused++;
              continue;
            }
            if (op === 'put') key = keyed ? arrayKeyTokens('/id') : undefined;
            if (op === 'delete') key = undefined;
            if (result.json !== heldJson) {
              expected.push(statePatchOps(held, result.document, result.json, key));
            }
            held = result.document;
            heldJson = result.json;
          }
          await caughtUp(edge, channel);
          assert.deepEqual(
            reader.steps.map((step) => step.ops),
            expected,
          );
          assert.equal(reader.refusals.length, refused);
          assert.equal(edge.trackers.peek(channel)?.snapshot().json, heldJson);
        } finally {
          await edge.close();
        }
      }),
      { numRuns: 60 },
    );
  });
});
