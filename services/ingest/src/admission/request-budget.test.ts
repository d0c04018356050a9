import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FanoutError } from '@fanout/shared';
import { RequestBudget, requestByteLimit } from './request-budget.js';

function refusal(run: () => void): FanoutError {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof FanoutError);
    return error;
  }
  assert.fail('not refused');
}

describe('request budget', () => {
  it('holds reservations per connection and per process, and refuses past either with rate_limited', () => {
    let gauge = -1;
    const budget = new RequestBudget({
      maxBytes: 250,
      maxBytesPerConnection: 100,
      onChange: (bytes) => (gauge = bytes),
    });
    const a1 = budget.reserve('a', 60);
    const a2 = budget.reserve('a', 40);
    assert.equal(budget.bytesOf('a'), 100);
    const overConnection = refusal(() => budget.reserve('a', 1));
    assert.equal(overConnection.code, 'rate_limited');
    assert.equal(typeof overConnection.details['retryAfterMs'], 'number');
    assert.match(overConnection.message, /this connection/);

    const b = budget.reserve('b', 100);
    const c = budget.reserve('c', 50);
    assert.equal(budget.bytes, 250);
    assert.equal(gauge, 250);
    const overProcess = refusal(() => budget.reserve('d', 1));
    assert.equal(overProcess.code, 'rate_limited');
    assert.match(overProcess.message, /ingest has 250 bytes/);

    a1.release();
    a1.release();
    assert.equal(budget.bytesOf('a'), 40, 'a second release gives nothing back');
    a2.shrink(100);
    assert.equal(budget.bytesOf('a'), 0, 'never more than held');
    b.release();
    c.release();
    assert.equal(budget.bytes, 0);
    assert.equal(gauge, 0);
  });

  it('grows a reservation, and refuses one that alone needs more than a connection may hold', () => {
    const budget = new RequestBudget({ maxBytes: 1000, maxBytesPerConnection: 100 });
    const reservation = budget.reserve('a', 30);
    reservation.grow(50);
    assert.equal(reservation.bytes, 80);
    const tooLarge = refusal(() => {
      reservation.grow(21);
    });
    assert.equal(tooLarge.code, 'event_too_large');
    assert.equal(reservation.bytes, 80, 'a refused growth takes nothing');
    assert.equal(refusal(() => budget.reserve('b', 101)).code, 'event_too_large');
    reservation.release();
    assert.equal(budget.bytes, 0);
  });

  it('limits a request to what a batch needs, under maxRequestBytes', () => {
    const cap = 16 * 1024 * 1024;
    assert.equal(
      requestByteLimit({ maxEventBytes: 1024 * 1024, maxBatchEvents: 1000, maxRequestBytes: cap }),
      cap,
    );
    assert.equal(
      requestByteLimit({ maxEventBytes: 3000, maxBatchEvents: 10, maxRequestBytes: cap }),
      10 * (4000 + 4096) + 4096,
    );
  });
});
