import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeEvent, ServerFrame } from './proto.js';
import { encodeEventFrame } from './proto-event-frame.js';

const position = { epoch: 'k7Hq2a', partition: 3, offset: 1042 };

describe('event frames built from Kafka record values', () => {
  for (const [name, size] of [
    ['an empty payload', 0],
    ['a small payload', 10],
    ['a payload with a two-byte length', 300],
    ['a payload with a three-byte length', 70_000],
  ] as const) {
    it(`equals the encoded ServerFrame for ${name}`, () => {
      const event = {
        id: 'evt-1',
        channel: 'orders.eu.1',
        type: 'order.created',
        data: new Uint8Array(size).fill(7),
        contentType: 'application/octet-stream',
        time: { seconds: 1_700_000_000, nanos: 1 },
        headers: { tenant: 'a' },
        producer: 'svc-a',
      };
      const frame = encodeEventFrame(encodeEvent(event), position);
      const expected = ServerFrame.encode({ event: { ...event, position } }).finish();
      // Compared as plain Uint8Arrays: in Node.js protobufjs writes Buffers.
      assert.deepEqual(frame, new Uint8Array(expected));
      const decoded = ServerFrame.decode(frame);
      assert.equal(decoded.frame, 'event');
      assert.equal(decoded.event?.id, 'evt-1');
      assert.equal(decoded.event?.data?.length ?? 0, size);
      assert.deepEqual({ ...decoded.event?.position }, position);
    });
  }

  it('builds a frame for an event whose fields are all defaults', () => {
    const frame = encodeEventFrame(encodeEvent({}), { epoch: 'e', partition: 0, offset: 0 });
    const decoded = ServerFrame.decode(frame);
    assert.equal(decoded.event?.position?.epoch, 'e');
    assert.equal(decoded.event.position.offset, 0);
  });
});
