/**
 * State checkpoints against the test broker: an edge that owns the
 * partitions writes checkpoints (every 5 changes, every second), a fresh
 * edge serves the fold from the newest checkpoint without reading the
 * channel's history, a reader subscribing over SSE while changes are being
 * written gets a snapshot and patches that replay to exactly the sequence of
 * states, a checkpointer killed with SIGKILL and started again continues
 * from the checkpoints, and a checkpoint of another epoch or a corrupt one
 * is ignored.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { partitionForChannel, type JsonValue, type StateDocument } from '@fanout/shared';
import { applyStatePatch, checkpointTopicOf, encodeCheckpoint } from '@fanout/edge';
import { SseClient, uniqueChannel, waitFor } from '../support/edge-test-clients.js';
import {
  writeState,
  startEdgeProcess,
  startIngestStack,
  type EdgeProcess,
  type IngestStack,
} from '../support/index.js';

interface Snapshot {
  readonly state: JsonValue;
  readonly exists: boolean;
  readonly position: string;
}

const partitions = 2;
const checkpointEnv = {
  FANOUT_EDGE_STATE_CHECKPOINTS_ENABLED: 'true',
  FANOUT_EDGE_STATE_CHECKPOINTS_EVERY_CHANGES: '5',
  FANOUT_EDGE_STATE_CHECKPOINTS_EVERY_SECONDS: '1',
};
// A fresh reader: no warm-up, so it reads no partition before a client asks for one.
const readerEnv = {
  ...checkpointEnv,
  FANOUT_EDGE_STATE_CHECKPOINTS_WRITE: 'false',
  FANOUT_EDGE_WARMUP_EVENTS: '0',
};

async function metric(edge: EdgeProcess, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${edge.metricsBase}/metrics`)).text();
  const line = text
    .split('\n')
    .find(
      (entry) =>
        (entry.startsWith(`${name} `) || entry.startsWith(`${name}{`)) && entry.includes(labels),
    );
  return Number(line?.split(' ').at(-1) ?? 0);
}

function offsetOf(position: string): number {
  return Number(position.split(':')[2]);
}

describe('state checkpoints', () => {
  let stack: IngestStack;
  let writer: EdgeProcess;
  const started: EdgeProcess[] = [];
  /** State changes written so far (all channels). */
  let changes = 0;

  async function edge(env: Readonly<Record<string, string>>): Promise<EdgeProcess> {
    const process = await startEdgeProcess({
      brokers: stack.kafka.brokers,
      topic: stack.topic,
      env,
    });
    started.push(process);
    return process;
  }

  before(async () => {
    stack = await startIngestStack({ name: 'state-checkpoints', partitions });
    writer = await edge(checkpointEnv);
  });

  after(async () => {
    await Promise.all(started.map((process) => process.kill('SIGTERM')));
    await stack.stop();
  });

  async function write(method: string, channel: string, body?: JsonValue): Promise<string> {
    const position = await writeState(stack.ingest.httpBase, method, channel, body);
    changes++;
    return position;
  }

  async function snapshot(edgeProcess: EdgeProcess, channel: string): Promise<Snapshot> {
    const response = await fetch(`${edgeProcess.httpBase}/v1/state/${channel}`);
    const text = await response.text();
    assert.equal(response.status, 200, text);
    return JSON.parse(text) as Snapshot;
  }

  /**
   * Waits until `by` folded `changes` state changes (when given) and its
   * checkpoints stopped growing: the pending ones and the mark are written.
   */
  async function checkpointed(by: EdgeProcess, changes?: number): Promise<void> {
    if (changes !== undefined) {
      await waitFor(
        async () => (await metric(by, 'fanout_edge_state_checkpointer_folds_total')) >= changes,
        'the checkpointer folded every change',
        20_000,
      );
    }
    let seen = -1;
    for (;;) {
      const now = await metric(by, 'fanout_edge_state_checkpoints_written_total');
      if (now === seen && now > 0) return;
      seen = now;
      await new Promise((resolve) => setTimeout(resolve, 1500));
    }
  }

  it('serves a fresh edge the fold from the newest checkpoint, and patches without a gap under concurrent writes', async () => {
    const channel = uniqueChannel('state.cp');
    await write('PUT', channel, { title: 'counter', n: 0 });
    let last = '';
    for (let n = 1; n <= 59; n++) last = await write('PATCH', channel, { n });
    await checkpointed(writer, changes);

    const fresh = await edge(readerEnv);
    const answer = await snapshot(fresh, channel);
    assert.deepEqual(answer.state, { title: 'counter', n: 59 });
    assert.equal(answer.position, last);
    assert.equal(await metric(fresh, 'fanout_edge_state_checkpoints_read_total'), 1);
    assert.equal(
      await metric(fresh, 'fanout_edge_state_start_records_count', 'from="checkpoint"'),
      1,
    );

    // Another channel with a checkpoint, read over SSE while it changes.
    const watched = uniqueChannel('state.cp.watch');
    let expected: StateDocument = { items: {} };
    const states = new Map<string, StateDocument>();
    states.set(await write('PUT', watched, expected), expected);
    for (let n = 1; n <= 10; n++) {
      const patch = { items: { [`k${n}`]: n }, n };
      states.set(await write('PATCH', watched, patch), (expected = merge(expected, patch)));
    }
    await checkpointed(writer, changes);
    const order: string[] = [];
    const writing = (async () => {
      for (let n = 11; n <= 60; n++) {
        const patch =
          n % 7 === 0 ? { items: { [`k${n - 3}`]: null } } : { items: { [`k${n}`]: n }, n };
        const position = await write('PATCH', watched, patch);
        expected = merge(expected, patch);
        states.set(position, expected);
        order.push(position);
      }
    })();
    await waitFor(() => order.length >= 5, 'writes under way');
    const stream = await SseClient.open(`${fresh.httpBase}/v1/state/${watched}?watch=true`);
    assert.equal(stream.status, 200);
    const [opening] = await stream.take(1, (event) => event.event === 'snapshot');
    assert.ok(opening);
    const first = JSON.parse(opening.data) as Snapshot;
    await writing;
    const finalPosition = order.at(-1) ?? '';
    let held = first.state as StateDocument;
    assert.deepEqual(held, states.get(first.position), 'the snapshot is the fold at its position');
    const later = order.filter((position) => offsetOf(position) > offsetOf(first.position));
    const patches = await stream.take(later.length, (event) => event.event === 'patch');
    await stream.close();
    assert.deepEqual(
      patches.map((event) => event.id),
      later,
      'every change after the snapshot, once, in order',
    );
    for (const event of patches) {
      const applied = applyStatePatch(held, (JSON.parse(event.data) as { op: unknown }).op);
      assert.ok(applied.ok);
      held = applied.document;
      assert.deepEqual(held, states.get(event.id ?? ''));
    }
    assert.equal(patches.at(-1)?.id ?? first.position, finalPosition);
    assert.equal(await metric(fresh, 'fanout_edge_state_checkpoints_read_total'), 2);
  });

  it('continues from the checkpoints after the checkpointer is killed, and ignores checkpoints of another epoch or corrupt ones', async () => {
    const channel = uniqueChannel('state.cp.restart');
    await write('PUT', channel, { n: 0 });
    for (let n = 1; n <= 12; n++) await write('PATCH', channel, { n });
    await checkpointed(writer, changes);
    await writer.kill('SIGKILL');

    const restarted = await edge(checkpointEnv);
    let last = '';
    for (let n = 13; n <= 20; n++) last = await write('PATCH', channel, { n });
    await checkpointed(restarted);
    const fresh = await edge(readerEnv);
    const answer = await snapshot(fresh, channel);
    assert.deepEqual(answer.state, { n: 20 });
    assert.equal(answer.position, last);
    assert.equal(await metric(fresh, 'fanout_edge_state_checkpoints_read_total'), 1);
    // The restarted checkpointer resumed from the mark: its checkpoint was
    // written after the 20th change, so the fresh edge folded none.
    assert.equal(
      await metric(fresh, 'fanout_edge_state_start_records_count', 'from="checkpoint"'),
      1,
    );
    await restarted.kill('SIGTERM');

    // Checkpoints of another epoch, and corrupt ones, are ignored.
    const foreign = uniqueChannel('state.cp.epoch');
    const corrupt = uniqueChannel('state.cp.corrupt');
    const foreignAt = await write('PUT', foreign, { real: true });
    const corruptAt = await write('PUT', corrupt, { real: 'yes' });
    const producer = stack.kafka.kafka.producer();
    await producer.connect();
    await producer.send({
      topic: checkpointTopicOf(stack.topic),
      messages: [
        {
          key: foreign,
          partition: partitionForChannel(foreign, partitions),
          value: encodeCheckpoint({
            kind: 'channel',
            epoch: 'AAAAAAAAAAAAAAAAAAAAAA',
            offset: offsetOf(foreignAt),
            through: offsetOf(foreignAt),
            json: '{"real":false}',
          }),
        },
        {
          key: corrupt,
          partition: partitionForChannel(corrupt, partitions),
          value: Buffer.from([1, 1, 200, 0, 0]),
        },
      ],
    });
    await producer.disconnect();
    const reader = await edge(readerEnv);
    assert.deepEqual((await snapshot(reader, foreign)).state, { real: true });
    assert.deepEqual((await snapshot(reader, corrupt)).state, { real: 'yes' });
    assert.equal((await snapshot(reader, corrupt)).position, corruptAt);
    assert.equal(
      await metric(reader, 'fanout_edge_state_checkpoints_ignored_total', 'reason="epoch"'),
      1,
    );
    assert.equal(
      await metric(reader, 'fanout_edge_state_checkpoints_ignored_total', 'reason="corrupt"'),
      1,
    );
    assert.equal(await metric(reader, 'fanout_edge_state_checkpoints_read_total'), 0);
  });
});

/** RFC 7396 merge, for the expected states. */
function merge(target: StateDocument, patch: JsonValue): StateDocument {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const base =
    target !== null && typeof target === 'object' && !Array.isArray(target) ? target : {};
  const merged: Record<string, JsonValue> = {};
  for (const [key, value] of Object.entries(base)) {
    if (!(key in patch)) merged[key] = value;
  }
  for (const [key, value] of Object.entries(patch)) {
    if (value !== null) merged[key] = merge(base[key], value) as JsonValue;
  }
  return merged;
}
