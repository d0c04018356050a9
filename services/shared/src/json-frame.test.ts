import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isFanoutError } from './fanout-error.js';
import { isJsonObject, readJsonFrame, writeJsonFrame } from './json-frame.js';

const names = ['ping', 'subscribe'] as const;

function frameInvalid(message: string): (error: unknown) => boolean {
  return (error: unknown) => {
    assert.ok(isFanoutError(error), String(error));
    assert.equal(error.code, 'frame_invalid');
    assert.equal(error.message, message);
    return true;
  };
}

describe('JSON frame envelope', () => {
  it('reads the name and body of a one-key frame', () => {
    assert.deepEqual(readJsonFrame('{"ping":{"requestId":7}}', names), {
      name: 'ping',
      body: { requestId: 7 },
    });
    assert.deepEqual(readJsonFrame('{"subscribe":{}}', names), { name: 'subscribe', body: {} });
  });

  it('writes what it reads', () => {
    const text = writeJsonFrame('subscribe', { requestId: 1, subscriptions: [] });
    assert.equal(text, '{"subscribe":{"requestId":1,"subscriptions":[]}}');
    assert.deepEqual(readJsonFrame(text, names).body, { requestId: 1, subscriptions: [] });
  });

  it('says what is wrong with a frame that is not one', () => {
    assert.throws(() => readJsonFrame('{ping', names), frameInvalid('the frame is not JSON'));
    assert.throws(
      () => readJsonFrame('[{"ping":{}}]', names),
      frameInvalid('the frame must be a JSON object'),
    );
    assert.throws(
      () => readJsonFrame('{"ping":{},"subscribe":{}}', names),
      frameInvalid('the frame must have exactly one key, one of ping, subscribe'),
    );
    assert.throws(
      () => readJsonFrame('{}', names),
      frameInvalid('the frame must have exactly one key, one of ping, subscribe'),
    );
    assert.throws(() => readJsonFrame('{"ping":3}', names), frameInvalid('ping must be an object'));
    assert.throws(
      () => readJsonFrame('{"pong":{}}', names),
      frameInvalid('unknown frame "pong"; expected one of ping, subscribe'),
    );
  });

  it('names the frame as told', () => {
    assert.throws(
      () => readJsonFrame('null', names, 'the frame from the edge'),
      frameInvalid('the frame from the edge must be a JSON object'),
    );
  });

  it('takes only plain objects as objects', () => {
    assert.equal(isJsonObject({}), true);
    assert.equal(isJsonObject([]), false);
    assert.equal(isJsonObject(null), false);
    assert.equal(isJsonObject('{}'), false);
  });
});
