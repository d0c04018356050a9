/**
 * The edge and the client read each other's bytes: whatever one side writes,
 * the other reads back as the same message, over both subprotocols, and they
 * agree on which stream cursors are valid.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { jsonWireFormat, StreamCursor, type FanoutEvent, type WireFormat } from '@fanout/client';
import { decodeProtoFrame, protoWireFormat } from '@fanout/client/proto';
import {
  decodeClientFrame,
  encodeServerFrame,
  eventJsonText,
  formatStreamCursor,
  parseStreamCursor,
  type ClientMessage,
  type ServerMessage,
} from '@fanout/edge';
import {
  decodeEvent,
  encodeEvent,
  encodeEventFrame,
  formatPosition,
  isFanoutError,
  type fanout,
  type PositionValue,
} from '@fanout/shared';
import fc from 'fast-check';

const numRuns = 300;

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
        { requiredKeys: ['channel', 'types'] },
      ),
      { maxLength: 4 },
    ),
  }),
);

const state = fc.record(
  { channel: text, position, hint: nonEmptyText },
  { requiredKeys: ['channel'] },
);
/** Milliseconds a Date holds. */
const millis = fc.integer({ min: -8.64e15, max: 8.64e15 });
const serverMessage: fc.Arbitrary<ServerMessage> = fc.oneof(
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

/** Plain objects (fast-check builds records without a prototype). */
function plain<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

function sent(format: WireFormat, message: ClientMessage): ClientMessage {
  const data = format.encode(message);
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  return decodeClientFrame(
    format.binary ? 'proto' : 'json',
    Uint8Array.from(bytes).buffer,
    typeof data !== 'string',
  );
}

function received(format: WireFormat, message: ServerMessage): unknown {
  return format.decode(encodeServerFrame(format.binary ? 'proto' : 'json', message));
}

describe('edge and client agree (properties)', () => {
  it('every client frame the client writes, the edge reads back, in both subprotocols', () => {
    fc.assert(
      fc.property(clientMessage, (message) => {
        const expected =
          message.kind === 'subscribe'
            ? {
                ...message,
                subscriptions: message.subscriptions.map((request) => ({ ...request })),
              }
            : { ...message };
        assert.deepEqual(plain(sent(jsonWireFormat, message)), plain(expected));
        assert.deepEqual(plain(sent(protoWireFormat, message)), plain(expected));
      }),
      { numRuns },
    );
  });

  it('every control frame the edge writes, the client reads back, in both subprotocols', () => {
    fc.assert(
      fc.property(serverMessage, (message) => {
        const expected = plain(message);
        assert.deepEqual(plain(received(jsonWireFormat, message)), expected);
        assert.deepEqual(plain(received(protoWireFormat, message)), expected);
      }),
      { numRuns },
    );
  });

  it('every event the edge sends reads the same from JSON and from protobuf', () => {
    const event = fc.record(
      {
        id: text,
        channel: text,
        type: text,
        data: fc.oneof(
          fc.uint8Array({ maxLength: 40 }),
          fc.json().map((json) => new TextEncoder().encode(json)),
          fc.constantFrom(
            new TextEncoder().encode('\uFEFF{"a":1}'),
            new TextEncoder().encode('{\n"a":\r1}'),
            new Uint8Array(0),
          ),
        ),
        contentType: fc.constantFrom(
          '',
          'application/json',
          'application/cloudevents+json; charset=utf-8',
          'text/plain',
          'application/octet-stream',
        ),
        time: fc.record({
          seconds: fc.integer({ min: -1e13, max: 1e13 }),
          nanos: fc.integer({ min: 0, max: 999_999_999 }),
        }),
        headers: fc.dictionary(fc.stringMatching(/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,10}$/), text, {
          maxKeys: 3,
        }),
        producer: text,
        trace: fc.record({ traceparent: text, tracestate: text }),
      },
      { requiredKeys: ['id', 'channel'] },
    );
    fc.assert(
      fc.property(event, positionValue, (properties, where) => {
        const value = encodeEvent({ ...properties, headers: { ...properties.headers } });
        const decoded: fanout.v1.Event = decodeEvent(value);
        const fromJson = jsonWireFormat.decode(
          `{"event":${eventJsonText(decoded, formatPosition(where))}}`,
        );
        const fromProto = decodeProtoFrame(encodeEventFrame(value, where));
        assert.equal(fromJson.kind, 'event');
        assert.equal(fromProto.kind, 'event');
        const [a, b] = [fromJson, fromProto].map((message) => {
          const got = (message as { event: FanoutEvent }).event;
          return { ...got, ...(got.bytes ? { bytes: [...got.bytes] } : {}) };
        });
        assert.deepEqual(a, b);
        assert.equal(a?.position, formatPosition(where));
      }),
      { numRuns },
    );
  });

  it('the edge and the client accept the same stream cursors, and print them alike', () => {
    const near = fc
      .array(fc.constantFrom('e', ':', ',', '0', '1', '-1', '12', '-', '_', ' ', '01', '3:4'), {
        maxLength: 16,
      })
      .map((parts) => parts.join(''));
    const many = fc
      .integer({ min: 1, max: 5000 })
      .filter((count) => count < 200 || count > 2000)
      .map((count) => `e:${Array.from({ length: count }, (_, i) => `${i}:1`).join(',')}`);
    fc.assert(
      fc.property(fc.oneof(near, many, fc.string({ unit: 'binary', maxLength: 40 })), (cursor) => {
        let edgeText: string | undefined;
        let clientText: string | undefined;
        try {
          edgeText = formatStreamCursor(parseStreamCursor(cursor));
        } catch (error) {
          assert.ok(isFanoutError(error) && error.code === 'position_invalid');
        }
        const client = new StreamCursor();
        try {
          client.set(cursor);
          clientText = client.text();
        } catch (error) {
          assert.ok(isFanoutError(error) && error.code === 'position_invalid');
        }
        assert.equal(clientText, edgeText, `cursor ${cursor.slice(0, 80)}`);
      }),
      { numRuns },
    );
  });
});
