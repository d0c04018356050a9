import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FanoutError, fanout } from '@fanout/shared';
import {
  countPublishEvents,
  decodeChangeStateRequest,
  decodePublishRequest,
  decodePublishStreamRequest,
} from './publish-request-decoder.js';

const pb = fanout.v1;

function code(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof FanoutError, `a FanoutError, not ${String(error)}`);
    return error.code;
  }
  return 'none';
}

describe('publish request decoder', () => {
  it('counts the events of a Publish message without decoding them', () => {
    const bytes = pb.PublishRequest.encode({
      events: [{ channel: 'a', data: Buffer.alloc(300) }, { channel: 'b' }, {}],
    }).finish();
    assert.equal(countPublishEvents(bytes), 3);
    assert.equal(countPublishEvents(Buffer.alloc(0)), 0);
    assert.equal(countPublishEvents(Buffer.alloc(2000, Buffer.from([0x0a, 0x00]))), 1000);
  });

  it('decodes a Publish message within the batch size', () => {
    const bytes = pb.PublishRequest.encode({ events: [{ channel: 'a', id: 'x' }] }).finish();
    assert.equal(decodePublishRequest(bytes, 1).events[0]?.id, 'x');
    assert.equal(
      code(() => decodePublishRequest(Buffer.alloc(2002, Buffer.from([0x0a, 0x00])), 1000)),
      'batch_too_large',
    );
  });

  it('answers invalid_argument for bytes that are not the message', () => {
    for (const bytes of [
      Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x07]),
      Buffer.from([0x0a, 0x05, 0x01]),
      Buffer.from([0x0a, 0x02, 0x0a, 0x7f]),
      Buffer.from([0x80]),
      Buffer.from([0x00, 0x00]),
    ]) {
      assert.equal(
        code(() => decodePublishRequest(bytes, 1000)),
        'invalid_argument',
        bytes.toString('hex'),
      );
    }
    assert.equal(
      code(() => decodePublishStreamRequest(Buffer.from([0x12, 0x09, 0x01]))),
      'invalid_argument',
    );
  });

  it('decodes a ChangeState message into its change; the operation must be set', () => {
    const bytes = pb.ChangeStateRequest.encode({
      channel: 'rooms.1',
      operation: pb.StateOperation.STATE_OPERATION_MERGE,
      data: Buffer.from('{"a":null}'),
      id: 'c-1',
      type: 'room.state',
      headers: { tenant: 'acme' },
    }).finish();
    const change = decodeChangeStateRequest(bytes);
    assert.equal(change.channel, 'rooms.1');
    assert.equal(change.operation, 'merge');
    assert.equal(Buffer.from(change.data ?? []).toString(), '{"a":null}');
    assert.equal(change.id, 'c-1');
    assert.equal(change.type, 'room.state');
    assert.deepEqual(change.headers, { tenant: 'acme' });
    const keyed = pb.ChangeStateRequest.encode({
      channel: 'rooms.1',
      operation: pb.StateOperation.STATE_OPERATION_PUT,
      data: Buffer.from('[]'),
      arrayKey: '/id',
    }).finish();
    assert.equal(decodeChangeStateRequest(keyed).arrayKey, '/id');
    const unset = pb.ChangeStateRequest.encode({ channel: 'rooms.1' }).finish();
    assert.equal(
      code(() => decodeChangeStateRequest(unset)),
      'invalid_argument',
    );
    // Field 2, a varint of 9: an operation this ingest does not know.
    const unknown = Buffer.concat([unset, Buffer.from([2 << 3, 9])]);
    assert.equal(
      code(() => decodeChangeStateRequest(unknown)),
      'invalid_argument',
    );
    assert.equal(
      code(() => decodeChangeStateRequest(Buffer.from([0x0a, 0x05]))),
      'invalid_argument',
    );
  });
});
