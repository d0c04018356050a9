/**
 * Keyed array diffs against the test broker: a 100-element list put through
 * the ingest with `?arrayKey=/id`, then put again with one element inserted
 * at the front, reaches an SSE watch of the edge as one `add` operation,
 * which applied to the snapshot gives the new list; the same put without a
 * key is sent as the whole document.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { JsonValue, StateDocument } from '@fanout/shared';
import { applyStatePatch } from '@fanout/edge';
import { SseClient, uniqueChannel } from '../support/edge-test-clients.js';
import {
  startEdgeProcess,
  startIngestStack,
  type EdgeProcess,
  type IngestStack,
} from '../support/index.js';

describe('keyed array diffs on the edge', () => {
  let stack: IngestStack;
  let edge: EdgeProcess;

  before(async () => {
    stack = await startIngestStack({ name: 'edge-state-array-key', partitions: 2 });
    edge = await startEdgeProcess({ brokers: stack.kafka.brokers, topic: stack.topic });
  });

  after(async () => {
    await edge.kill('SIGTERM');
    await stack.stop();
  });

  async function put(channel: string, body: JsonValue, arrayKey?: string): Promise<string> {
    const query = arrayKey === undefined ? '' : `?arrayKey=${encodeURIComponent(arrayKey)}`;
    const response = await fetch(`${stack.ingest.httpBase}/v1/state/${channel}${query}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const text = await response.text();
    assert.equal(response.status, 200, text);
    return (JSON.parse(text) as { position: string }).position;
  }

  const row = (id: number): JsonValue => ({
    id: `item-${id}`,
    name: `Item number ${id}`,
    price: id * 1.25,
    tags: ['stock', id % 2 === 0 ? 'even' : 'odd'],
  });
  const list = Array.from({ length: 100 }, (_, index) => row(index));
  const inserted = [row(1000), ...list];

  it('sends an element inserted at the front of a keyed list as one small add', async () => {
    const channel = uniqueChannel('state.keyed');
    await put(channel, { items: list }, '/id');
    const stream = await SseClient.open(`${edge.httpBase}/v1/state/${channel}`);
    assert.equal(stream.status, 200);
    const [opening] = await stream.take(1, (event) => event.event === 'snapshot');
    assert.ok(opening);
    const held = (JSON.parse(opening.data) as { state: JsonValue }).state as StateDocument;
    assert.deepEqual(held, { items: list });

    const position = await put(channel, { items: inserted }, '/id');
    const [patch] = await stream.take(1, (event) => event.event === 'patch');
    assert.equal(patch?.id, position);
    const ops = (JSON.parse(patch?.data ?? '{}') as { op: unknown }).op;
    assert.deepEqual(ops, [{ op: 'add', path: '/items/0', value: row(1000) }]);
    assert.ok((patch?.data.length ?? 0) < 300, `${patch?.data.length} bytes`);
    const applied = applyStatePatch(held, ops);
    assert.deepEqual(applied, { ok: true, document: { items: inserted } });
    await stream.close();
  });

  it('sends the same put without a key as the whole document', async () => {
    const channel = uniqueChannel('state.unkeyed');
    await put(channel, { items: list });
    const stream = await SseClient.open(`${edge.httpBase}/v1/state/${channel}`);
    await stream.take(1, (event) => event.event === 'snapshot');
    await put(channel, { items: inserted });
    const [patch] = await stream.take(1, (event) => event.event === 'patch');
    const ops = (JSON.parse(patch?.data ?? '{}') as { op: unknown }).op;
    assert.deepEqual(ops, [{ op: 'replace', path: '', value: { items: inserted } }]);
    await stream.close();
  });
});
