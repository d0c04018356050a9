/**
 * A WebSocket connection of `fanout.json.v2` over a stand-in for the uWS
 * socket: the deliveries of one `batch()` leave as one batch frame (an event
 * frame when there is one), in order, split at `edge.batchMaxBytes`; control
 * frames never overtake events gathered before them; a batch frame uWS drops
 * at its hard limit closes with positions before its first event.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeEvent, loadConfig, wsJsonCodec } from '@fanout/shared';
import type { FanoutEvent } from '@fanout/shared/portable-core';
import { ConnectionLimits } from '../admission/connection-limits.js';
import type { EdgeMetrics } from '../edge-metrics.js';
import { EdgeEvent } from '../log/edge-event.js';
import type { LiveDelivery, Subscriber } from '../subscriptions/subscriber.js';
import { Subscription } from '../subscriptions/subscription.js';
import { StandInSocket } from './testing/stand-in-socket.js';
import { WsConnection } from './ws-connection.js';

const epoch = 'ww7w7_gUT7WHdd738IhAfQ';
const counter = { inc: (): void => undefined };
const metrics = { deliveries: counter, closes: counter, frameErrors: counter };

function connection(
  batchMaxBytes = 64 * 1024,
  watch?: (connection: WsConnection) => void,
): { ws: StandInSocket; connection: WsConnection } {
  const config = loadConfig({ env: {}, overrides: { 'edge.batchMaxBytes': batchMaxBytes } }).edge;
  const made = new WsConnection(
    { format: 'json', batch: true },
    {
      config,
      metrics: metrics as unknown as EdgeMetrics,
      guard: { report: () => undefined },
      ...(watch === undefined ? {} : { watch }),
    },
    undefined,
    new ConnectionLimits({ total: 0, perAddress: 0, perSubject: 0 }).acquire('127.0.0.1'),
  );
  const ws = new StandInSocket().attachTo(made);
  return { ws, connection: made };
}

function subscription(subscriber: Subscriber): Subscription {
  return new Subscription(
    { channels: ['batch.a'], patterns: [], types: [] },
    subscriber,
    'batch.a',
    () => undefined,
  );
}

function event(offset: number, bytes = 16): EdgeEvent {
  return new EdgeEvent(epoch, 0, {
    offset,
    timestamp: 0,
    value: Buffer.from(
      encodeEvent({
        id: `e${offset}`,
        channel: 'batch.a',
        type: 't',
        contentType: 'application/json',
        data: Buffer.from(JSON.stringify('x'.repeat(bytes))),
      }),
    ),
    headers: [],
  });
}

/** Every frame sent, decoded: `event` and `batch` as their events' offsets, others by kind. */
function read(ws: StandInSocket): (number[] | string)[] {
  const offsetOf = (received: FanoutEvent): number => Number(received.position.split(':')[2]);
  return ws.sent.map((frame) => {
    const message = wsJsonCodec.decodeServerFrame(String(frame));
    if (message.kind === 'event') return [offsetOf(message.event)];
    if (message.kind === 'batch') return message.events.map(offsetOf);
    return message.kind;
  });
}

describe('a WebSocket connection with batch frames', () => {
  it('sends the deliveries of one batch as one frame, in order, a single event as its own frame', () => {
    const { ws, connection: made } = connection();
    const following = subscription(made);
    made.batch(() => {
      for (const offset of [3, 4, 7]) made.deliver(event(offset), following);
    });
    made.batch(() => {
      made.deliver(event(9), following);
    });
    assert.deepEqual(read(ws), [[3, 4, 7], [9]]);
    assert.ok(String(ws.sent[0]).startsWith('{"batch":'));
    assert.ok(String(ws.sent[1]).startsWith('{"event":'));
    assert.equal(following.cursors.get(0), 9);
    const live: LiveDelivery = made.live;
    assert.equal(live.kind === 'topic' && live.batch, true, 'it joins batch topics');
  });

  it('splits a batch at edge.batchMaxBytes, counting what waits as buffered', () => {
    const { ws, connection: made } = connection(2048);
    const following = subscription(made);
    const buffered: number[] = [];
    made.batch(() => {
      for (let offset = 0; offset < 20; offset++) {
        made.deliver(event(offset, 300), following);
        buffered.push(made.bufferedBytes());
      }
    });
    const frames = read(ws);
    assert.ok(frames.length > 1 && frames.length < 20, `${frames.length} frames`);
    assert.deepEqual(
      frames.flat(),
      Array.from({ length: 20 }, (_, offset) => offset),
    );
    for (const frame of ws.sent) assert.ok(Buffer.byteLength(frame) <= 2048);
    assert.ok(buffered.every((bytes) => bytes > 0 && bytes <= 2048));
    assert.equal(made.bufferedBytes(), 0, 'nothing waits after the batch');
  });

  it('never lets a control frame overtake the events gathered before it', () => {
    const { ws, connection: made } = connection();
    const following = subscription(made);
    made.batch(() => {
      made.deliver(event(1), following);
      made.deliver(event(2), following);
      made.reset(0, following, {
        code: 'position_too_old',
        partition: 0,
        requested: `${epoch}:0:2`,
        earliest: `${epoch}:0:5`,
      });
      made.deliver(event(3), following);
    });
    assert.deepEqual(read(ws), [[1, 2], 'reset', [3]]);
  });

  it('closes with the positions before a batch uWS dropped at its hard limit', () => {
    const { ws, connection: made } = connection();
    const following = subscription(made);
    following.cursors.set(0, 10);
    made.batch(() => {
      made.deliver(event(11), following);
    });
    ws.status = 2;
    made.batch(() => {
      for (const offset of [12, 13, 14]) {
        made.deliver(event(offset), following);
        // The hub's catch-up moves the cursor over every event it read.
        following.cursors.set(0, offset);
      }
    });
    assert.equal(following.cursors.get(0), 11, 'the cursor is back before the dropped batch');
    const frames = read(ws);
    assert.deepEqual(frames.slice(0, 2), [[11], [12, 13, 14]]);
    assert.equal(frames[2], 'disconnect');
    assert.equal(ws.ended, 4008);
    const disconnect = wsJsonCodec.decodeServerFrame(String(ws.sent[2]));
    assert.equal(disconnect.kind === 'disconnect' && disconnect.code, 'backpressure');
  });
});

describe('a WebSocket connection and the backpressure sweep', () => {
  it('registers with the sweep when it joins a topic or a send leaves bytes buffered, never for sends the client took', () => {
    const watched: WsConnection[] = [];
    const { ws, connection: made } = connection(64 * 1024, (watchedOne) => {
      watched.push(watchedOne);
    });
    const following = subscription(made);
    made.send({ kind: 'pong', requestId: 1 });
    made.deliver(event(1), following);
    assert.deepEqual(watched, [], 'sent whole (status 1): nothing can pile up');
    assert.equal(made.joinedTopics, false);

    ws.status = 0;
    made.send({ kind: 'pong', requestId: 2 });
    assert.deepEqual(watched, [made], 'a control frame left buffered');
    made.batch(() => {
      made.deliver(event(2), following);
    });
    assert.equal(watched.length, 2, 'an event frame left buffered');

    ws.status = 1;
    const live = made.live;
    assert.equal(live.kind, 'topic');
    if (live.kind === 'topic') live.subscribe('t');
    assert.equal(watched.length, 3, 'a topic reaches it without a send of its own');
    assert.equal(made.joinedTopics, true, 'the sweep keeps it while it may be in a topic');
  });
});
