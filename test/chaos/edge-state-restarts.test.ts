/**
 * State channels under edge restarts, as a property against the test broker:
 * for random scripts of puts, merge patches and deletes (some written
 * concurrently), mixed with SIGKILLs of the edge a reader follows, of the
 * edge that writes the checkpoints, and plain reconnects, a reader that
 * follows the channel over SSE and resumes with `Last-Event-ID` always holds
 * exactly the fold of the log at the position it was last told:
 *
 * - every `snapshot` is the fold at its position (a reset one included);
 * - every `patch` applies to what the reader holds (its `base` is a position
 *   whose fold is that document, never before what the reader already has)
 *   and gives the fold at its own position, which is a change of the log;
 * - positions only move forward, and the reader ends at the last change.
 *
 * The edges write checkpoints every 3 changes and keep a patch ring of 3, so
 * resumes are served from the ring, from a fresh snapshot, and from a
 * checkpoint plus the changes after it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import {
  applyStateChange,
  defaultStateLimits,
  type JsonValue,
  type StateChangeOp,
  type StateDocument,
} from '@fanout/shared';
import { applyStatePatch } from '@fanout/edge';
import { SseClient, uniqueChannel } from '../support/edge-test-clients.js';
import type { SseEvent } from '../support/edge-test-clients.js';
import {
  startEdgeProcess,
  startIngestStack,
  writeState,
  type EdgeProcess,
  type IngestStack,
} from '../support/index.js';

const edgeEnv = {
  FANOUT_EDGE_STATE_PATCH_RING: '3',
  FANOUT_EDGE_STATE_CHECKPOINTS_ENABLED: 'true',
  FANOUT_EDGE_STATE_CHECKPOINTS_EVERY_CHANGES: '3',
  FANOUT_EDGE_STATE_CHECKPOINTS_EVERY_SECONDS: '1',
};
/** Reads checkpoints, never writes them: only the writer edge owns that. */
const readerEnv = { ...edgeEnv, FANOUT_EDGE_STATE_CHECKPOINTS_WRITE: 'false' };

type Step =
  | { readonly kind: 'change'; readonly op: StateChangeOp; readonly body?: JsonValue }
  | { readonly kind: 'burst'; readonly changes: readonly Change[] }
  | { readonly kind: 'restart-reader' }
  | { readonly kind: 'restart-writer' }
  | { readonly kind: 'reconnect' };

interface Change {
  readonly op: StateChangeOp;
  readonly body?: JsonValue;
}

interface Written extends Change {
  readonly offset: number;
  readonly position: string;
}

const key = fc.constantFrom('a', 'b', 'c', 'd');
const leaf: fc.Arbitrary<JsonValue> = fc.oneof(
  fc.integer({ min: -5, max: 5 }),
  fc.constantFrom('x', 'y', ''),
  fc.boolean(),
);
const member: fc.Arbitrary<JsonValue> = fc.oneof(
  leaf,
  fc.dictionary(key, leaf, { maxKeys: 3 }),
  fc.array(leaf, { maxLength: 3 }),
);
const document = fc.dictionary(key, member, { maxKeys: 4 });
/** Merge patches: `null` removes a member. */
const mergePatch = fc.dictionary(key, fc.oneof(member, fc.constant(null)), {
  minKeys: 1,
  maxKeys: 3,
});
const change: fc.Arbitrary<Change> = fc.oneof(
  { weight: 2, arbitrary: document.map((body): Change => ({ op: 'put', body })) },
  { weight: 5, arbitrary: mergePatch.map((body): Change => ({ op: 'merge', body })) },
  { weight: 1, arbitrary: fc.constant<Change>({ op: 'delete' }) },
);
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 10, arbitrary: change.map((c): Step => ({ kind: 'change', ...c })) },
  {
    weight: 2,
    arbitrary: fc
      .array(change, { minLength: 2, maxLength: 6 })
      .map((changes): Step => ({ kind: 'burst', changes })),
  },
  { weight: 1, arbitrary: fc.constant<Step>({ kind: 'restart-reader' }) },
  { weight: 1, arbitrary: fc.constant<Step>({ kind: 'restart-writer' }) },
  { weight: 1, arbitrary: fc.constant<Step>({ kind: 'reconnect' }) },
);
/** Scripts with at most three restarts: each costs an edge start. */
const script = fc
  .array(step, { minLength: 8, maxLength: 30 })
  .filter((steps) => steps.filter((s) => s.kind.startsWith('restart')).length <= 3);

function offsetOf(position: string): number {
  return Number(position.split(':')[2]);
}

const methods: Record<StateChangeOp, string> = { put: 'PUT', merge: 'PATCH', delete: 'DELETE' };

describe('state channels under edge restarts (property)', () => {
  let stack: IngestStack;
  const running: EdgeProcess[] = [];

  async function edge(env: Readonly<Record<string, string>>): Promise<EdgeProcess> {
    const process = await startEdgeProcess({
      brokers: stack.kafka.brokers,
      topic: stack.topic,
      env,
    });
    running.push(process);
    return process;
  }

  async function kill(process: EdgeProcess): Promise<void> {
    running.splice(running.indexOf(process), 1);
    await process.kill('SIGKILL');
  }

  before(async () => {
    stack = await startIngestStack({ name: 'state-restarts', partitions: 2 });
  });

  after(async () => {
    await Promise.all(running.map((process) => process.kill('SIGTERM')));
    await stack.stop();
  });

  it('a resuming SSE reader always holds the fold of the log at its position', async (t) => {
    const counts = { snapshots: 0, resets: 0, patches: 0, changes: 0, restarts: 0, reconnects: 0 };
    let writer = await edge(edgeEnv);
    let reader = await edge(readerEnv);

    await fc.assert(
      fc.asyncProperty(script, async (steps) => {
        const channel = uniqueChannel('state.prop');
        const written: Written[] = [];
        /** The fold after every change with an offset up to `offset`. */
        const foldAt = (offset: number): StateDocument => {
          let folded: StateDocument;
          for (const w of [...written].sort((x, y) => x.offset - y.offset)) {
            if (w.offset > offset) break;
            const result = applyStateChange(
              folded,
              {
                op: w.op,
                position: w.position,
                ...(w.body === undefined ? {} : { data: JSON.stringify(w.body) }),
              },
              defaultStateLimits,
            );
            assert.ok(result.ok, `change at ${w.position} applies`);
            folded = result.document;
          }
          return folded;
        };
        const write = async (c: Change): Promise<void> => {
          const position = await writeState(stack.ingest.httpBase, methods[c.op], channel, c.body);
          written.push({ ...c, position, offset: offsetOf(position) });
          counts.changes++;
        };

        let held: StateDocument;
        let last: string | undefined;
        const seen = (event: SseEvent): void => {
          const id = event.id ?? '';
          if (event.event === 'snapshot') {
            const data = JSON.parse(event.data) as {
              state: JsonValue;
              exists: boolean;
              position: string;
            };
            assert.equal(data.position, id);
            counts.snapshots++;
            if (last !== undefined) counts.resets++;
            if (last !== undefined && data.position !== last) {
              assert.ok(offsetOf(id) >= offsetOf(last), `a snapshot never goes back (${id})`);
            }
            held = data.exists ? data.state : undefined;
            assert.deepEqual(held, foldAt(offsetOf(id)), `the snapshot at ${id} is the fold`);
            last = id;
            return;
          }
          assert.equal(event.event, 'patch', `only snapshots and patches: ${event.data}`);
          const data = JSON.parse(event.data) as { position: string; base: string; op: unknown };
          assert.equal(data.position, id);
          assert.ok(last !== undefined, 'a patch after a snapshot');
          assert.ok(offsetOf(id) > offsetOf(last), `patch ${id} after ${last}`);
          assert.ok(offsetOf(data.base) >= offsetOf(last), `patch ${id}: base not before ${last}`);
          assert.deepEqual(held, foldAt(offsetOf(data.base)), `patch ${id} applies to its base`);
          assert.ok(
            written.some((w) => w.position === id),
            `patch ${id} is a change of the log`,
          );
          const applied = applyStatePatch(held, data.op);
          assert.ok(applied.ok, `patch ${id} applies`);
          held = applied.document;
          counts.patches++;
          assert.deepEqual(held, foldAt(offsetOf(id)), `the patch at ${id} gives the fold`);
          last = id;
        };

        const open = async (): Promise<SseClient> => {
          const stream = await SseClient.open(
            `${reader.httpBase}/v1/state/${channel}?watch=true`,
            last === undefined ? {} : { 'last-event-id': last },
          );
          assert.equal(stream.status, 200);
          return stream;
        };
        /** Whatever the stream already delivered, checked in order. */
        const drain = (stream: SseClient): void => {
          for (const event of stream.events.splice(0)) seen(event);
        };

        let stream = await open();
        await stream.take(1, (event) => (seen(event), true));
        for (const s of steps) {
          if (s.kind === 'change') await write(s);
          else if (s.kind === 'burst') await Promise.all(s.changes.map(write));
          else if (s.kind === 'reconnect') {
            counts.reconnects++;
            drain(stream);
            await stream.close();
            stream = await open();
          } else if (s.kind === 'restart-reader') {
            counts.restarts++;
            await kill(reader);
            // What the killed edge delivered in full still counts; the cut-off rest is resumed.
            const delivered = await stream.rest(5_000).catch((): SseEvent[] => []);
            delivered.forEach(seen);
            drain(stream);
            reader = await edge(readerEnv);
            stream = await open();
          } else {
            counts.restarts++;
            await kill(writer);
            writer = await edge(edgeEnv);
          }
          drain(stream);
        }

        // The last change that changed the document: a change that leaves it as it was
        // (a delete of nothing, a merge or put of what it holds) sends no patch.
        const changing = [...written]
          .sort((x, y) => x.offset - y.offset)
          .filter((w) => !isDeepStrictEqual(foldAt(w.offset - 1), foldAt(w.offset)));
        const end = changing.at(-1);
        while (end !== undefined && (last === undefined || offsetOf(last) < end.offset)) {
          await stream.take(1, (event) => (seen(event), true), 20_000);
        }
        await stream.close();
        assert.deepEqual(held, foldAt(Number.MAX_SAFE_INTEGER), 'the reader ends at the fold');
        const answer = await fetch(`${reader.httpBase}/v1/state/${channel}`);
        assert.equal(answer.status, 200);
        const snapshot = (await answer.json()) as { state: JsonValue; exists: boolean };
        assert.deepEqual(snapshot.exists ? snapshot.state : undefined, held);
      }),
      {
        numRuns: 6,
        endOnFailure: true,
        // FANOUT_TEST_PROPERTY_SEED=<seed> replays the scripts of a failed run (its seed is printed).
        ...(process.env['FANOUT_TEST_PROPERTY_SEED'] === undefined
          ? {}
          : { seed: Number(process.env['FANOUT_TEST_PROPERTY_SEED']) }),
      },
    );
    t.diagnostic(JSON.stringify(counts));
    assert.ok(counts.patches > 0 && counts.restarts > 0, 'the scripts resumed and restarted');
  });
});
