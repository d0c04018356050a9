import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isFanoutError } from '@fanout/shared';
import { prepareBatch } from './event-validator.js';

const limits = {
  maxEventBytes: 100,
  maxBatchEvents: 3,
  allowedContentTypes: ['application/json', 'text/plain'],
};

function failure(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (error) {
    assert.ok(isFanoutError(error));
    return { code: error.code, message: error.message };
  }
  assert.fail('expected a failure');
}

describe('event validation', () => {
  it('fills defaults and generates ids', () => {
    const [event] = prepareBatch(
      [{ channel: 'a.b', contentType: 'application/json; charset=utf-8' }],
      limits,
    );
    assert.ok(event);
    assert.match(event.id, /^[0-9a-f-]{36}$/);
    assert.equal(event.idFromPublisher, false);
    assert.equal(event.contentType, 'application/json; charset=utf-8');
  });

  it('names the event and field of every violation', () => {
    assert.deepEqual(
      failure(() =>
        prepareBatch(
          [
            { channel: 'ok', contentType: 'text/plain' },
            { channel: '', contentType: 'text/plain' },
          ],
          limits,
        ),
      ).code,
      'channel_invalid',
    );
    assert.match(
      failure(() => prepareBatch([{ channel: 'ok', contentType: 'image/png' }], limits)).message,
      /events\[0\]\.content_type: "image\/png" is not allowed/,
    );
    assert.equal(
      failure(() =>
        prepareBatch(
          [{ channel: 'ok', contentType: 'text/plain', data: new Uint8Array(101) }],
          limits,
        ),
      ).code,
      'event_too_large',
    );
    assert.equal(
      failure(() =>
        prepareBatch(
          Array.from({ length: 4 }, () => ({ channel: 'ok', contentType: 'text/plain' })),
          limits,
        ),
      ).code,
      'batch_too_large',
    );
    assert.match(
      failure(() =>
        prepareBatch([{ channel: 'ok', contentType: 'text/plain', id: 'has space' }], limits),
      ).message,
      /events\[0\]\.id/,
    );
    assert.match(
      failure(() =>
        prepareBatch(
          [{ channel: 'ok', contentType: 'text/plain', headers: { 'bad name': 'x' } }],
          limits,
        ),
      ).message,
      /events\[0\]\.headers/,
    );
    assert.equal(failure(() => prepareBatch([], limits)).code, 'invalid_argument');
  });
});
