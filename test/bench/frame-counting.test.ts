/**
 * How the benchmark clients count the events of a frame without decoding
 * it: batch frames event by event, every other frame as one — Centrifugo's
 * two-byte `{}` ping included, which once threw.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eventsInFrame } from '../support/raw-ws-client.js';

describe('events in a frame', () => {
  it('counts a short frame, a ping or an empty one, as one and does not throw', () => {
    assert.equal(eventsInFrame(Buffer.from('{}'), false), 1);
    assert.equal(eventsInFrame(Buffer.alloc(0), false), 1);
  });

  it('counts the events of a JSON batch frame and one for a plain event', () => {
    const event = (n: number): string => `{"channel":"a","data":{"s":${n}},"position":"1:0:${n}"}`;
    assert.equal(
      eventsInFrame(
        Buffer.from(`{"batch":{"events":[${event(1)},${event(2)},${event(3)}]}}`),
        false,
      ),
      3,
    );
    assert.equal(eventsInFrame(Buffer.from(`{"event":${event(1)}}`), false), 1);
  });
});
