import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FanoutError, fanout } from '@fanout/shared';
import {
  countPublishEvents,
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
});
