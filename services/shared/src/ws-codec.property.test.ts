/**
 * Properties of the WebSocket frame codecs, both subprotocols and both
 * directions: what one side encodes the generated protobuf classes (and the
 * other side) read back as the same values, and any input is either a
 * well-formed message or refused with a catalog code, never another error.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isFanoutError } from './fanout-error.js';
import { formatPosition, parsePosition, type PositionValue } from './position.js';
import { encodeEventBatchFrame } from './proto-event-frame.js';
import { ClientFrame, DisconnectAction, ServerFrame } from './proto.js';
import { encodeJsonBatchFrame, wsJsonCodec } from './ws-json-codec.js';
import type {
  ClientMessage,
  ControlMessage,
  ReceivedClientMessage,
  ServerMessage,
  SubscriptionState,
} from './ws-messages.js';
import { wsProtoCodec } from './ws-proto-codec.js';

const numRuns = 400;

/** Decodes, or checks that the frame was refused with a typed error of the frame. */
function decodedOrRefused<T>(decode: () => T): T | undefined {
  try {
    return decode();
  } catch (error) {
    assert.ok(isFanoutError(error), `not a FanoutError: ${String(error)}`);
    assert.ok(
      error.code === 'frame_invalid' || error.code === 'position_invalid',
      `unexpected code ${error.code}`,
    );
    assert.ok(error.message.length < 400, 'the message does not echo the frame');
    return undefined;
  }
}

function assertWellFormed(message: ReceivedClientMessage): void {
  assert.ok(Number.isInteger(message.requestId));
  assert.ok(message.requestId >= 0 && message.requestId <= 0xffffffff);
  switch (message.kind) {
    case 'connect':
    case 'refreshToken':
      assert.equal(typeof message.token, 'string');
      break;
    case 'unsubscribe':
      assert.ok(message.channels.every((channel) => typeof channel === 'string'));
      break;
    case 'subscribe':
      for (const request of message.subscriptions) {
        assert.equal(typeof request.channel, 'string');
        assert.ok(request.types.every((type) => typeof type === 'string'));
        if (request.since !== undefined) parsePosition(request.since);
      }
      break;
    case 'ping':
      break;
  }
}

/** Plain objects (fast-check builds records without a prototype). */
function plain<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/** Well-formed Unicode: both JSON and protobuf carry it unchanged. */
const text = fc.string({ unit: 'grapheme', maxLength: 20 });
const nonEmptyText = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 });
const requestId = fc.nat(0xffffffff);
const positionValue: fc.Arbitrary<PositionValue> = fc
  .record({
    epoch: fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/),
    partition: fc.integer({ min: 0, max: 2_147_483_647 }),
    offset: fc.integer({ min: -1, max: Number.MAX_SAFE_INTEGER }),
  })
  .map((position) => ({ ...position }));
const position = positionValue.map(formatPosition);

const clientMessage: fc.Arbitrary<ClientMessage> = fc.oneof(
  fc.record({ kind: fc.constant('connect'), requestId, token: text }),
  fc.record({ kind: fc.constant('refreshToken'), requestId, token: text }),
  fc.record({ kind: fc.constant('ping'), requestId }),
  fc.record({ kind: fc.constant('unsubscribe'), requestId, channels: fc.array(text) }),
  fc.record({
    kind: fc.constant('subscribe'),
    requestId,
    subscriptions: fc.array(
      fc.record(
        { channel: text, since: position, types: fc.array(text, { maxLength: 3 }) },
        { requiredKeys: ['channel'] },
      ),
      { maxLength: 4 },
    ),
  }),
);

const state = fc.record(
  {
    channel: text,
    position,
    hint: nonEmptyText,
    rewind: fc.record({
      requested: fc.nat({ max: 0xffffffff }),
      found: fc.nat({ max: 0xffffffff }),
      truncated: fc.boolean(),
    }),
  },
  { requiredKeys: ['channel'] },
);
/** Milliseconds a Date holds. */
const millis = fc.integer({ min: -8.64e15, max: 8.64e15 });
const controlMessage: fc.Arbitrary<ControlMessage> = fc.oneof(
  fc.record(
    {
      kind: fc.constant('connected'),
      requestId,
      edgeId: text,
      tokenExpiresAt: millis,
      pingIntervalSeconds: fc.nat(0xffffffff),
    },
    { requiredKeys: ['kind', 'requestId', 'edgeId', 'pingIntervalSeconds'] },
  ),
  fc.record({ kind: fc.constant('subscribed'), requestId, subscriptions: fc.array(state) }),
  fc.record({ kind: fc.constant('unsubscribed'), requestId, channels: fc.array(text) }),
  fc.record(
    { kind: fc.constant('error'), requestId, code: text, message: text, channel: nonEmptyText },
    { requiredKeys: ['kind', 'requestId', 'code', 'message'] },
  ),
  fc.record({
    kind: fc.constant('reset'),
    requestId,
    channel: text,
    requested: position,
    earliest: position,
    code: text,
  }),
  fc.record({ kind: fc.constant('pong'), requestId }),
  fc.record(
    { kind: fc.constant('tokenRefreshed'), requestId, expiresAt: millis },
    { requiredKeys: ['kind', 'requestId'] },
  ),
  fc.record(
    {
      kind: fc.constant('disconnect'),
      closeCode: fc.nat(0xffffffff),
      code: text,
      message: text,
      action: fc.constantFrom('resume', 'resume_elsewhere', 'stop'),
      hint: nonEmptyText,
      positions: fc.array(state),
    },
    { requiredKeys: ['kind', 'closeCode', 'code', 'message', 'action', 'positions'] },
  ),
);

/** The ClientFrame of a message, written by hand from the contract: the test's oracle. */
function clientFrameOf(message: ClientMessage): object {
  switch (message.kind) {
    case 'connect':
    case 'refreshToken':
      return { [message.kind]: { requestId: message.requestId, token: message.token } };
    case 'ping':
      return { ping: { requestId: message.requestId } };
    case 'unsubscribe':
      return { unsubscribe: { requestId: message.requestId, channels: [...message.channels] } };
    case 'subscribe':
      return {
        subscribe: {
          requestId: message.requestId,
          subscriptions: message.subscriptions.map((request) => ({
            channel: request.channel,
            ...(request.since === undefined ? {} : { since: parsePosition(request.since) }),
            types: [...(request.types ?? [])],
          })),
        },
      };
  }
}

function timestampOf(epochMillis: number): { seconds: number; nanos: number } {
  const seconds = Math.floor(epochMillis / 1000);
  return { seconds, nanos: (epochMillis - seconds * 1000) * 1e6 };
}

function statesOf(states: readonly SubscriptionState[]): object[] {
  return states.map((item) => ({
    channel: item.channel,
    ...(item.position === undefined ? {} : { position: parsePosition(item.position) }),
    hint: item.hint ?? '',
    ...(item.rewind === undefined ? {} : { rewind: item.rewind }),
  }));
}

const actionNumbers = {
  resume: DisconnectAction.DISCONNECT_ACTION_RESUME,
  resume_elsewhere: DisconnectAction.DISCONNECT_ACTION_RESUME_ELSEWHERE,
  stop: DisconnectAction.DISCONNECT_ACTION_STOP,
} as const;

/** The ServerFrame of a control message, written by hand from the contract. */
function serverFrameOf(message: ControlMessage): object {
  switch (message.kind) {
    case 'connected':
      return {
        connected: {
          requestId: message.requestId,
          edgeId: message.edgeId,
          pingIntervalSeconds: message.pingIntervalSeconds,
          ...(message.tokenExpiresAt === undefined
            ? {}
            : { tokenExpiresAt: timestampOf(message.tokenExpiresAt) }),
        },
      };
    case 'subscribed':
      return {
        subscribed: {
          requestId: message.requestId,
          subscriptions: statesOf(message.subscriptions),
        },
      };
    case 'unsubscribed':
      return { unsubscribed: { requestId: message.requestId, channels: [...message.channels] } };
    case 'error':
      return {
        error: {
          requestId: message.requestId,
          code: message.code,
          message: message.message,
          channel: message.channel ?? '',
        },
      };
    case 'reset':
      return {
        reset: {
          requestId: message.requestId,
          channel: message.channel,
          requested: parsePosition(message.requested),
          earliest: parsePosition(message.earliest),
          code: message.code,
        },
      };
    case 'pong':
      return { pong: { requestId: message.requestId } };
    case 'tokenRefreshed':
      return {
        tokenRefreshed: {
          requestId: message.requestId,
          ...(message.expiresAt === undefined ? {} : { expiresAt: timestampOf(message.expiresAt) }),
        },
      };
    case 'disconnect':
      return {
        disconnect: {
          closeCode: message.closeCode,
          code: message.code,
          message: message.message,
          action: actionNumbers[message.action],
          hint: message.hint ?? '',
          positions: statesOf(message.positions),
        },
      };
    case 'snapshot':
    case 'patch':
    case 'stateChangeRefused':
      // State frames (documents as JSON text) are checked in ws-state-frames.test.ts.
      throw new Error(`no oracle for ${message.kind}`);
  }
}

const toObjectOptions = { defaults: true, arrays: true, objects: true } as const;

/** Every field of a decoded ClientFrame, defaults included. */
function clientFields(bytes: Uint8Array): unknown {
  return plain(ClientFrame.toObject(ClientFrame.decode(bytes), toObjectOptions));
}

function serverFields(bytes: Uint8Array): unknown {
  return plain(ServerFrame.toObject(ServerFrame.decode(bytes), toObjectOptions));
}

/** A client message as a codec decodes it: types always listed. */
function received(message: ClientMessage): ReceivedClientMessage {
  return message.kind === 'subscribe'
    ? {
        ...message,
        subscriptions: message.subscriptions.map((request) => ({
          ...request,
          types: request.types ?? [],
        })),
      }
    : message;
}

describe('WebSocket frame codecs against the generated classes (properties)', () => {
  it('every client frame the proto codec encodes, ClientFrame reads as the same values', () => {
    fc.assert(
      fc.property(clientMessage, (message) => {
        const expected = ClientFrame.encode(clientFrameOf(message)).finish();
        assert.deepEqual(
          clientFields(wsProtoCodec.encodeClientFrame(message)),
          clientFields(expected),
        );
      }),
      { numRuns },
    );
  });

  it('every ClientFrame the generated class encodes, the proto codec reads back', () => {
    fc.assert(
      fc.property(clientMessage, (message) => {
        const bytes = ClientFrame.encode(clientFrameOf(message)).finish();
        assert.deepEqual(plain(wsProtoCodec.decodeClientFrame(bytes)), plain(received(message)));
      }),
      { numRuns },
    );
  });

  it('every control frame the proto codec encodes, ServerFrame reads as the same values', () => {
    fc.assert(
      fc.property(controlMessage, (message) => {
        const expected = ServerFrame.encode(serverFrameOf(message)).finish();
        assert.deepEqual(
          serverFields(wsProtoCodec.encodeServerFrame(message)),
          serverFields(expected),
        );
      }),
      { numRuns },
    );
  });

  it('every ServerFrame the generated class encodes, the proto codec reads back', () => {
    fc.assert(
      fc.property(controlMessage, (message) => {
        const bytes = ServerFrame.encode(serverFrameOf(message)).finish();
        assert.deepEqual(plain(wsProtoCodec.decodeServerFrame(bytes)), plain(message));
      }),
      { numRuns },
    );
  });

  it('both codecs read back what they write, and agree, in both directions', () => {
    fc.assert(
      fc.property(clientMessage, controlMessage, (client, control) => {
        const expectedClient = plain(received(client));
        for (const codec of [wsJsonCodec, wsProtoCodec] as const) {
          const decoded =
            codec === wsJsonCodec
              ? wsJsonCodec.decodeClientFrame(wsJsonCodec.encodeClientFrame(client))
              : wsProtoCodec.decodeClientFrame(wsProtoCodec.encodeClientFrame(client));
          assert.deepEqual(plain(decoded), expectedClient, codec.subprotocol);
          const read: ServerMessage =
            codec === wsJsonCodec
              ? wsJsonCodec.decodeServerFrame(wsJsonCodec.encodeServerFrame(control))
              : wsProtoCodec.decodeServerFrame(wsProtoCodec.encodeServerFrame(control));
          assert.deepEqual(plain(read), plain(control), codec.subprotocol);
        }
      }),
      { numRuns },
    );
  });
});

const anyClientValue = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom(-1, 2 ** 32, 1.5, 'e:1:2', 'x', [], {}, null, [null], ['a', 1]),
);
/** JSON client frames near the grammar: known and unknown names, fields of every type. */
const nearJsonClientFrame = fc
  .record({
    name: fc.constantFrom('connect', 'subscribe', 'unsubscribe', 'ping', 'refreshToken', 'pong'),
    requestId: anyClientValue,
    token: anyClientValue,
    channels: anyClientValue,
    subscriptions: fc.oneof(
      anyClientValue,
      fc.array(
        fc.record(
          {
            channel: fc.oneof(fc.constantFrom('orders', 'orders.*'), anyClientValue),
            since: fc.oneof(fc.constantFrom('e:0:1', 'e:0:-1', 'e:00:1', ''), anyClientValue),
            types: anyClientValue,
          },
          { requiredKeys: [] },
        ),
        { maxLength: 4 },
      ),
    ),
  })
  .map(({ name, ...body }) => JSON.stringify({ [name]: body }));

describe('WebSocket client frames (properties)', () => {
  it('any text on fanout.json.v1 decodes to a well-formed message or is refused', () => {
    fc.assert(
      fc.property(
        fc.oneof(nearJsonClientFrame, fc.json({ maxDepth: 3 }), fc.string({ unit: 'binary' })),
        (frame) => {
          const message = decodedOrRefused(() => wsJsonCodec.decodeClientFrame(frame));
          if (message) assertWellFormed(message);
        },
      ),
      { numRuns },
    );
  });

  it('any bytes on fanout.proto.v1 decode to a well-formed message or are refused', () => {
    const encoded = fc
      .record({
        requestId: fc.nat(),
        channel: fc.string({ maxLength: 10 }),
        epoch: fc.string({ maxLength: 10 }),
        partition: fc.integer(),
        offset: fc.integer({ min: -5, max: Number.MAX_SAFE_INTEGER }),
      })
      .map(({ requestId: id, channel, epoch, partition, offset }) =>
        ClientFrame.encode({
          subscribe: {
            requestId: id,
            subscriptions: [{ channel, since: { epoch, partition, offset } }],
          },
        }).finish(),
      );
    fc.assert(
      fc.property(
        fc.oneof(fc.uint8Array({ maxLength: 200 }), encoded),
        fc.integer({ min: 0, max: 40 }),
        fc.nat(255),
        (bytes, at, value) => {
          // Flip one byte of an encoded frame (or of random bytes) to reach the decoder's edges.
          const mutated = bytes.slice();
          if (mutated.length > 0) mutated[at % mutated.length] = value;
          for (const frame of [bytes, mutated]) {
            const message = decodedOrRefused(() => wsProtoCodec.decodeClientFrame(frame));
            if (message) assertWellFormed(message);
          }
        },
      ),
      { numRuns },
    );
  });
});

const anyServerValue = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom('e:1:2', 'e:1', '', '%%%', 'AAA=', '2026-01-01T00:00:00Z', 1e300, -1),
);
const anyTime = fc.oneof(
  fc.date({ noInvalidDate: false }).map((date) => (Number.isNaN(date.getTime()) ? 'x' : date)),
  fc.string(),
);

/** JSON server frames near the grammar: every frame name, fields of every type. */
const nearJsonServerFrame = fc
  .record({
    name: fc.constantFrom(
      'event',
      'batch',
      'connected',
      'subscribed',
      'unsubscribed',
      'error',
      'reset',
      'pong',
      'tokenRefreshed',
      'disconnect',
    ),
    body: fc.record(
      {
        id: anyServerValue,
        channel: anyServerValue,
        position: anyServerValue,
        dataBase64: fc.oneof(fc.base64String(), fc.string(), anyServerValue),
        data: anyServerValue,
        time: anyTime,
        headers: anyServerValue,
        trace: anyServerValue,
        requestId: anyServerValue,
        tokenExpiresAt: anyTime,
        expiresAt: anyTime,
        subscriptions: fc.oneof(
          anyServerValue,
          fc.array(fc.dictionary(fc.string(), anyServerValue)),
        ),
        positions: anyServerValue,
        action: anyServerValue,
        events: fc.oneof(
          anyServerValue,
          fc.array(
            fc.dictionary(fc.constantFrom('id', 'channel', 'position', 'time'), anyServerValue),
          ),
        ),
      },
      { requiredKeys: [] },
    ),
  })
  .map(({ name, body }) => JSON.stringify({ [name]: body }));

describe('WebSocket server frames (properties)', () => {
  it('any text on fanout.json.v1 decodes or is refused with a typed error', () => {
    fc.assert(
      fc.property(
        fc.oneof(nearJsonServerFrame, fc.json({ maxDepth: 3 }), fc.string({ unit: 'binary' })),
        (frame) => {
          decodedOrRefused(() => wsJsonCodec.decodeServerFrame(frame));
        },
      ),
      { numRuns },
    );
  });

  it('any bytes on fanout.proto.v1 decode or are refused with a typed error', () => {
    const seconds = fc.oneof(
      fc.integer({ min: -1e6, max: 1e10 }),
      fc.constantFrom(Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 8.64e12, 8.64e12 + 1),
    );
    const timestamp = fc.record({ seconds, nanos: fc.integer({ min: -2e9, max: 2e9 }) });
    const encoded = fc
      .record({
        time: timestamp,
        expires: timestamp,
        where: fc.record({
          epoch: fc.string({ maxLength: 5 }),
          partition: fc.integer(),
          offset: fc.integer({ min: -3, max: 100 }),
        }),
      })
      .chain(({ time, expires, where }) =>
        fc.constantFrom(
          ServerFrame.encode({ event: { id: 'a', channel: 'c', time, position: where } }).finish(),
          ServerFrame.encode({ connected: { requestId: 1, tokenExpiresAt: expires } }).finish(),
          ServerFrame.encode({ tokenRefreshed: { requestId: 1, expiresAt: expires } }).finish(),
          ServerFrame.encode({ reset: { requested: where, earliest: where } }).finish(),
          ServerFrame.encode({
            batch: {
              events: [
                { id: 'a', channel: 'c', time, position: where },
                { id: 'b', channel: 'c', position: where },
              ],
            },
          }).finish(),
        ),
      );
    fc.assert(
      fc.property(
        fc.oneof(fc.uint8Array({ maxLength: 200 }), encoded),
        fc.nat(),
        fc.nat(255),
        (bytes, at, value) => {
          const mutated = bytes.slice();
          if (mutated.length > 0) mutated[at % mutated.length] = value;
          for (const frame of [bytes, mutated]) {
            const message = decodedOrRefused(() => wsProtoCodec.decodeServerFrame(frame));
            const received =
              message?.kind === 'event'
                ? [message.event]
                : message?.kind === 'batch'
                  ? message.events
                  : [];
            for (const event of received) {
              if (event.time !== '') assert.ok(!Number.isNaN(Date.parse(event.time)));
              parsePosition(event.position);
            }
          }
        },
      ),
      { numRuns },
    );
  });
});

/** An event as the edge holds it: its protobuf fields, and its JSON object text. */
const edgeEvent = fc
  .record({
    id: nonEmptyText,
    channel: nonEmptyText,
    type: text,
    data: fc.option(fc.jsonValue({ maxDepth: 2 }), { nil: undefined }),
    headers: fc.dictionary(fc.stringMatching(/^[a-z]{1,8}$/), text, { maxKeys: 3 }),
    producer: text,
    where: positionValue,
  })
  .map(({ id, channel, type, data, headers, producer, where }) => {
    const json = data === undefined ? undefined : JSON.stringify(data);
    const contentType = json === undefined ? '' : 'application/json';
    const proto = {
      id,
      channel,
      type,
      contentType,
      data: json === undefined ? new Uint8Array(0) : new TextEncoder().encode(json),
      headers,
      producer,
      position: where,
    };
    const position = formatPosition(where);
    const jsonText = JSON.stringify({
      id,
      channel,
      type,
      ...(json === undefined ? {} : { data: JSON.parse(json) as unknown }),
      contentType,
      headers,
      producer,
      position,
    });
    return { proto, jsonText };
  });

describe('WebSocket batch frames (properties)', () => {
  it('a batch frame reads as its events one by one, in order, in both subprotocols', () => {
    fc.assert(
      fc.property(fc.array(edgeEvent, { minLength: 0, maxLength: 8 }), (events) => {
        const frames = events.map(({ proto }) => ServerFrame.encode({ event: proto }).finish());
        const one = frames.map((frame) => {
          const read = wsProtoCodec.decodeServerFrame(frame);
          assert.equal(read.kind, 'event');
          return read.kind === 'event' ? read.event : undefined;
        });
        const batch = encodeEventBatchFrame(frames);
        assert.deepEqual(
          plain(wsProtoCodec.decodeServerFrame(batch)),
          plain({ kind: 'batch', events: one }),
        );
        // The generated class reads the same events from the batch as from each frame.
        const fields = (bytes: Uint8Array): unknown =>
          plain(
            ServerFrame.toObject(ServerFrame.decode(bytes), { ...toObjectOptions, bytes: String }),
          );
        assert.deepEqual(
          fields(batch),
          fields(
            ServerFrame.encode({ batch: { events: events.map(({ proto }) => proto) } }).finish(),
          ),
        );
        const texts = events.map(({ jsonText }) => jsonText);
        const oneJson = texts.map((body) => {
          const read = wsJsonCodec.decodeServerFrame(`{"event":${body}}`);
          return read.kind === 'event' ? read.event : undefined;
        });
        assert.deepEqual(
          plain(wsJsonCodec.decodeServerFrame(encodeJsonBatchFrame(texts))),
          plain({ kind: 'batch', events: oneJson }),
        );
        // Both subprotocols read the same events.
        assert.deepEqual(plain(oneJson), plain(one));
      }),
      { numRuns },
    );
  });

  it('a batch frame with an event that does not decode is refused as a whole', () => {
    fc.assert(
      fc.property(
        fc.array(edgeEvent, { minLength: 1, maxLength: 5 }),
        fc.nat(),
        fc.constantFrom(
          '{}',
          '{"id":"x","channel":"c"}',
          '{"id":"x","channel":"c","position":"e:1"}',
          '1',
          'null',
        ),
        (events, at, broken) => {
          const texts = events.map(({ jsonText }) => jsonText);
          texts.splice(at % (texts.length + 1), 0, broken);
          assert.equal(
            decodedOrRefused(() => wsJsonCodec.decodeServerFrame(encodeJsonBatchFrame(texts))),
            undefined,
          );
          const frames = events.map(({ proto }) => ServerFrame.encode({ event: proto }).finish());
          // An event without a position cannot move a cursor.
          frames.splice(
            at % (frames.length + 1),
            0,
            ServerFrame.encode({ event: { id: 'x' } }).finish(),
          );
          assert.equal(
            decodedOrRefused(() => wsProtoCodec.decodeServerFrame(encodeEventBatchFrame(frames))),
            undefined,
          );
        },
      ),
      { numRuns },
    );
  });
});
