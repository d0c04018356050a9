import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertValidChannel, isChannelPattern, isValidChannel, patternMatches } from './channel.js';
import { isFanoutError } from './fanout-error.js';

describe('channels', () => {
  it('accepts dot-separated segments', () => {
    for (const channel of ['orders', 'orders.eu.1234', 'a_b-c.D9', 'x'.repeat(255)]) {
      assert.ok(isValidChannel(channel), channel);
    }
  });

  it('rejects empty segments, wildcards, spaces and over-long names', () => {
    for (const channel of ['', '.a', 'a.', 'a..b', 'a b', 'a/b', 'orders.*', 'x'.repeat(256)]) {
      assert.ok(!isValidChannel(channel), channel);
    }
  });

  it('names the field in the error', () => {
    assert.throws(
      () => {
        assertValidChannel('a..b', 'events[2].channel');
      },
      (error: unknown) =>
        isFanoutError(error) &&
        error.code === 'channel_invalid' &&
        error.message.startsWith('events[2].channel') &&
        error.details['field'] === 'events[2].channel',
    );
  });

  it('matches patterns within their namespace only', () => {
    assert.ok(isChannelPattern('orders.*'));
    assert.ok(!isChannelPattern('*'));
    assert.ok(!isChannelPattern('orders.*.x'));
    assert.ok(patternMatches('orders.*', 'orders.eu'));
    assert.ok(patternMatches('orders.*', 'orders.eu.1234'));
    assert.ok(!patternMatches('orders.*', 'orders'));
    assert.ok(!patternMatches('orders.*', 'ordersx.eu'));
    assert.ok(patternMatches('orders.eu', 'orders.eu'));
  });
});
