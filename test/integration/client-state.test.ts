/**
 * `client.state()` of @fanout/client against a real broker, ingest and edge
 * process, over each transport that carries state channels: several
 * channels followed at once, concurrent PUT / PATCH / DELETE through the
 * ingest, and every document the client shows is one the channel had —
 * ending on exactly what `GET /v1/state/{channel}` answers. WebSocket runs
 * with both wire formats (`fanout.json`, `fanout.proto`).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  createClient,
  type StateChannel,
  type StateUpdate,
  type ClientOptions,
  type WebSocketConstructor,
} from '@fanout/client';
import { protoWireFormat } from '@fanout/client/proto';
import type { JsonValue } from '@fanout/shared';
import WebSocket from 'ws';
import { uniqueChannel } from '../support/edge-test-clients.js';
import {
  writeState,
  startEdgeProcess,
  startIngestStack,
  type EdgeProcess,
  type IngestStack,
} from '../support/index.js';

const transports: readonly (readonly [string, Partial<ClientOptions>])[] = [
  ['WebSocket JSON', { transports: ['websocket'] }],
  ['WebSocket protobuf', { transports: ['websocket'], wireFormat: protoWireFormat }],
  ['sse', { transports: ['sse'] }],
  ['long-poll', { transports: ['long-poll'] }],
];

interface Snapshot {
  readonly state: JsonValue;
  readonly exists: boolean;
  readonly position: string;
}

/** Waits until `check` holds (a bounded wait, not a timing assertion). */
async function until(check: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('client.state against an edge', () => {
  let stack: IngestStack;
  let edge: EdgeProcess;

  before(async () => {
    stack = await startIngestStack({ name: 'client-state', partitions: 2 });
    edge = await startEdgeProcess({ brokers: stack.kafka.brokers, topic: stack.topic });
  });

  after(async () => {
    await edge.kill('SIGTERM');
    await stack.stop();
  });

  async function write(method: string, channel: string, body?: JsonValue): Promise<string> {
    return writeState(stack.ingest.httpBase, method, channel, body);
  }

  async function read(channel: string): Promise<Snapshot> {
    const response = await fetch(`${edge.httpBase}/v1/state/${channel}`);
    assert.equal(response.status, 200);
    return (await response.json()) as Snapshot;
  }

  for (const [transport, options] of transports) {
    it(`keeps several documents current over ${transport} through concurrent changes`, async () => {
      const channels = ['a', 'b', 'c'].map((name) => uniqueChannel(`client.state.${name}`));
      const [first, second] = channels;
      assert.ok(first !== undefined && second !== undefined);
      await write('PUT', first, { title: 'Lobby', members: ['ann'] });
      await write('PUT', second, { n: 0 });
      const client = createClient({
        url: edge.httpBase,
        WebSocket: WebSocket as unknown as WebSocketConstructor,
        longPollWaitSeconds: 2,
        ...options,
      });
      try {
        const states = client.states(channels);
        const updates = new Map<StateChannel, StateUpdate[]>();
        for (const state of states) {
          const list: StateUpdate[] = [];
          updates.set(state, list);
          void (async () => {
            for await (const update of state) list.push(update);
          })();
        }
        await Promise.all(states.map((state) => state.ready()));
        assert.equal(client.status.transport, options.transports?.[0], 'the transport asked for');
        for (const [index, state] of states.entries()) {
          const expected = await read(channels[index] ?? '');
          assert.deepEqual(state.value ?? null, expected.state);
          assert.equal(state.exists, expected.exists);
        }

        // Concurrent writers, a few changes each, of every kind.
        const last = await Promise.all(
          channels.map(async (channel, writer) => {
            let position = '';
            for (let n = 1; n <= 6; n++) {
              if (n % 3 === 0) position = await write('DELETE', channel);
              else if (n % 2 === 0) position = await write('PATCH', channel, { n, writer });
              else position = await write('PUT', channel, { n, list: [writer, n] });
            }
            return position;
          }),
        );
        const final = await Promise.all(
          channels.map(async (channel, index) => {
            await write('PATCH', channel, { done: true, index });
            return read(channel);
          }),
        );
        for (const [index, state] of states.entries()) {
          const expected = final[index];
          assert.ok(expected !== undefined && last[index] !== undefined);
          await until(() => state.position === expected.position, `${state.channel} at the end`);
          assert.deepEqual(state.value, expected.state, state.channel);
          assert.equal(state.gaps, 0);
          // Positions only move forward: no change was shown twice or out of order.
          const positions = (updates.get(state) ?? []).map((update) => update.position);
          assert.deepEqual(
            positions,
            [...positions].sort((x, y) => Number(x.split(':')[2]) - Number(y.split(':')[2])),
          );
          assert.equal(new Set(positions).size, positions.length);
        }
      } finally {
        client.close();
      }
    });

    it(`follows a channel that has no document yet over ${transport}`, async () => {
      const channel = uniqueChannel('client.state.empty');
      const client = createClient({
        url: edge.httpBase,
        WebSocket: WebSocket as unknown as WebSocketConstructor,
        longPollWaitSeconds: 2,
        ...options,
      });
      try {
        const state = client.state(channel);
        await state.ready();
        assert.equal(client.status.transport, options.transports?.[0], 'the transport asked for');
        assert.equal(state.exists, false);
        assert.match(state.position ?? '', /:-1$/);
        const position = await write('PUT', channel, { hello: 'world' });
        await until(() => state.position === position, 'the put');
        assert.deepEqual(state.value, { hello: 'world' });
        const deleted = await write('DELETE', channel);
        await until(() => state.position === deleted, 'the delete');
        assert.equal(state.exists, false);
        assert.equal(state.value, undefined);
      } finally {
        client.close();
      }
    });
  }
});
