/**
 * State channels read from an edge process against the test broker: state
 * changes written through the ingest (PUT, PATCH, DELETE), read back as a
 * snapshot with its ETag, 304, a long-poll for the next change, an SSE
 * stream of snapshot then patches, resumed with Last-Event-ID within the
 * patch ring (patches) and beyond it (a snapshot marked reset), and across
 * an edge killed with SIGKILL and started again, without a gap.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { JsonValue, StateDocument } from '@fanout/shared';
import { applyStatePatch } from '@fanout/edge';
import { SseClient, uniqueChannel } from '../support/edge-test-clients.js';
import {
  writeState,
  startEdgeProcess,
  startIngestStack,
  type EdgeProcess,
  type IngestStack,
} from '../support/index.js';

interface Snapshot {
  readonly channel: string;
  readonly state: JsonValue;
  readonly exists: boolean;
  readonly position: string;
  readonly reset?: boolean;
}

interface Patches {
  readonly patches: { position: string; base: string; op: unknown }[];
  readonly position: string;
}

describe('state channels on the edge', () => {
  let stack: IngestStack;
  let edge: EdgeProcess;
  const edgeEnv = { FANOUT_EDGE_STATE_PATCH_RING: '3' };

  before(async () => {
    stack = await startIngestStack({ name: 'edge-state', partitions: 2 });
    edge = await startEdgeProcess({
      brokers: stack.kafka.brokers,
      topic: stack.topic,
      env: edgeEnv,
    });
  });

  after(async () => {
    await edge.kill('SIGTERM');
    await stack.stop();
  });

  async function write(method: string, channel: string, body?: JsonValue): Promise<string> {
    return writeState(stack.ingest.httpBase, method, channel, body);
  }

  function stateUrl(channel: string, query = ''): string {
    return `${edge.httpBase}/v1/state/${channel}${query}`;
  }

  it('answers the snapshot with its ETag, 304 for the current one, and long-polls the next change', async () => {
    const channel = uniqueChannel('state.get');
    const empty = await fetch(stateUrl(channel));
    const none = (await empty.json()) as Snapshot;
    assert.equal(empty.status, 200);
    assert.equal(none.state, null);
    assert.equal(none.exists, false);
    assert.match(none.position, /:-1$/);

    await write('PUT', channel, { title: 'Lobby', members: ['ann'] });
    const patched = await write('PATCH', channel, { members: ['ann', 'bob'] });
    // Read-your-writes: the edge folded up to the head as it was at the request.
    const response = await fetch(stateUrl(channel));
    const snapshot = (await response.json()) as Snapshot;
    assert.deepEqual(snapshot.state, { title: 'Lobby', members: ['ann', 'bob'] });
    assert.equal(snapshot.position, patched);
    assert.equal(response.headers.get('etag'), `"${patched}"`);

    const same = await fetch(stateUrl(channel), { headers: { 'if-none-match': `"${patched}"` } });
    assert.equal(same.status, 304);

    const waiting = fetch(stateUrl(channel, '?wait=10'), {
      headers: { 'if-none-match': `"${patched}"` },
    });
    const deleted = await write('DELETE', channel);
    const answer = await waiting;
    assert.equal(answer.status, 200);
    const body = (await answer.json()) as Patches;
    // `base`: the state the patch applies to, the one the ETag named.
    assert.deepEqual(body.patches, [
      { position: deleted, base: patched, op: [{ op: 'remove', path: '' }] },
    ]);
    assert.equal(answer.headers.get('etag'), `"${deleted}"`);

    const gone = (await (await fetch(stateUrl(channel))).json()) as Snapshot;
    assert.equal(gone.exists, false);
    assert.equal(gone.position, deleted);
  });

  it('streams a snapshot then patches over SSE, and resumes within the ring or with a reset snapshot', async () => {
    const channel = uniqueChannel('state.sse');
    await write('PUT', channel, { n: 0, title: 'a title long enough for patches' });
    const stream = await SseClient.open(stateUrl(channel));
    assert.equal(stream.status, 200);
    const [opening] = await stream.take(1, (event) => event.event === 'snapshot');
    assert.ok(opening);
    let held = (JSON.parse(opening.data) as Snapshot).state as StateDocument;
    const positions: string[] = [];
    for (let n = 1; n <= 3; n++) positions.push(await write('PATCH', channel, { n }));
    const patches = await stream.take(3, (event) => event.event === 'patch');
    assert.deepEqual(
      patches.map((event) => event.id),
      positions,
    );
    for (const event of patches) {
      const applied = applyStatePatch(held, (JSON.parse(event.data) as { op: unknown }).op);
      assert.ok(applied.ok);
      held = applied.document;
    }
    assert.deepEqual(held, { n: 3, title: 'a title long enough for patches' });
    await stream.close();

    // Within the ring: the patches after the last id seen.
    positions.push(await write('PATCH', channel, { n: 4 }));
    const resumed = await SseClient.open(stateUrl(channel), {
      'last-event-id': positions[2] ?? '',
    });
    const [next] = await resumed.take(1, (event) => event.event !== 'message');
    assert.equal(next?.event, 'patch');
    assert.equal(next?.id, positions[3]);
    await resumed.close();

    // Beyond the ring (3 changes): a fresh snapshot saying so, never a silent jump.
    for (let n = 5; n <= 8; n++) positions.push(await write('PATCH', channel, { n }));
    const old = await SseClient.open(stateUrl(channel), { 'last-event-id': positions[0] ?? '' });
    const [reset] = await old.take(1, (event) => event.event !== 'message');
    assert.equal(reset?.event, 'snapshot');
    const data = JSON.parse(reset?.data ?? '{}') as Snapshot;
    assert.equal(data.reset, true);
    assert.deepEqual(data.state, { n: 8, title: 'a title long enough for patches' });
    assert.equal(reset?.id, positions[positions.length - 1]);
    await old.close();
  });

  it('resumes on a restarted edge (SIGKILL) without a gap', async () => {
    const channel = uniqueChannel('state.kill');
    await write('PUT', channel, { count: 0, label: 'a label long enough for patches' });
    let stream = await SseClient.open(stateUrl(channel));
    const [opening] = await stream.take(1, (event) => event.event === 'snapshot');
    let held = (JSON.parse(opening?.data ?? '{}') as Snapshot).state as StateDocument;
    let lastId = opening?.id ?? '';
    await write('PATCH', channel, { count: 1 });
    const [first] = await stream.take(1, (event) => event.event === 'patch');
    const applied = applyStatePatch(held, (JSON.parse(first?.data ?? '{}') as { op: unknown }).op);
    assert.ok(applied.ok);
    held = applied.document;
    lastId = first?.id ?? lastId;

    await edge.kill('SIGKILL');
    await edge.exited;
    // Changes while no edge runs.
    await write('PATCH', channel, { count: 2 });
    await write('PATCH', channel, { count: 3 });
    edge = await startEdgeProcess({
      brokers: stack.kafka.brokers,
      topic: stack.topic,
      env: edgeEnv,
    });
    await stream.close();

    stream = await SseClient.open(stateUrl(channel), { 'last-event-id': lastId });
    assert.equal(stream.status, 200);
    const events = await stream.take(
      2,
      (event) => event.event === 'patch' || event.event === 'snapshot',
    );
    for (const event of events) {
      if (event.event === 'snapshot') {
        held = (JSON.parse(event.data) as Snapshot).state;
      } else {
        const next = applyStatePatch(held, (JSON.parse(event.data) as { op: unknown }).op);
        assert.ok(next.ok, 'each patch applies to the document held: no gap');
        held = next.document;
      }
    }
    assert.deepEqual(
      events.map((event) => event.event),
      ['patch', 'patch'],
    );
    assert.deepEqual(held, { count: 3, label: 'a label long enough for patches' });
    await stream.close();
  });
});
