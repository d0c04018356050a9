import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  assertValidChannel,
  isChannelPattern,
  isValidChannel,
  maxChannelLength,
  namespacesAllow,
  patternMatches,
} from './channel.js';
import { isFanoutError } from './fanout-error.js';

const numRuns = 500;

const segment = fc.stringMatching(/^[A-Za-z0-9_-]{1,20}$/);
const channelArbitrary = fc
  .array(segment, { minLength: 1, maxLength: 8 })
  .map((segments) => segments.join('.'));

/** Text near the grammar: segments, dots, stars and characters that are not allowed. */
const nearChannel = fc
  .array(
    fc.oneof(
      segment,
      fc.constantFrom('.', '.', '*', '.*', '..', ' ', '/', '\u0000', 'é', '%2e', '\n'),
      fc.string({ maxLength: 2 }),
    ),
    { maxLength: 10 },
  )
  .map((parts) => parts.join(''));

const anyText = fc.oneof(
  nearChannel,
  fc.string({ unit: 'binary', maxLength: 300 }),
  fc.integer({ min: 250, max: 2000 }).map((length) => 'a'.repeat(length)),
);

describe('channel names and patterns (properties)', () => {
  it('accepts every dot-separated name of allowed segments up to the length bound', () => {
    fc.assert(
      fc.property(channelArbitrary, (channel) => {
        assert.equal(isValidChannel(channel), channel.length <= maxChannelLength);
        assert.equal(isChannelPattern(`${channel}.*`), channel.length + 2 <= maxChannelLength);
      }),
      { numRuns },
    );
  });

  it('assertValidChannel throws channel_invalid exactly when isValidChannel is false', () => {
    fc.assert(
      fc.property(anyText, (text) => {
        let thrown: unknown;
        try {
          assertValidChannel(text, 'field');
        } catch (error) {
          thrown = error;
        }
        if (isValidChannel(text)) {
          assert.equal(thrown, undefined);
          assert.ok(text.length >= 1 && text.length <= maxChannelLength);
          assert.ok(!isChannelPattern(text), 'a channel is never a pattern');
        } else {
          assert.ok(isFanoutError(thrown), `not a FanoutError: ${String(thrown)}`);
          assert.equal(thrown.code, 'channel_invalid');
          assert.ok(thrown.message.length < 400, 'the message quotes a bounded part of the input');
        }
      }),
      { numRuns },
    );
  });

  it('a pattern is a valid channel followed by .*, and matches only below its namespace', () => {
    fc.assert(
      fc.property(anyText, channelArbitrary, (text, channel) => {
        if (!isChannelPattern(text)) return;
        const namespace = text.slice(0, -2);
        assert.ok(isValidChannel(namespace));
        assert.equal(patternMatches(text, namespace), false);
        assert.equal(patternMatches(text, `${namespace}.${channel}`), true);
        assert.equal(patternMatches(text, channel), channel.startsWith(`${namespace}.`));
      }),
      { numRuns },
    );
  });

  it('namespaces allow a channel and its patterns, and nothing outside them', () => {
    fc.assert(
      fc.property(channelArbitrary, channelArbitrary, (namespace, channel) => {
        assert.equal(namespacesAllow([namespace], `${namespace}.${channel}`), true);
        assert.equal(namespacesAllow([namespace], `${namespace}.${channel}.*`), true);
        assert.equal(namespacesAllow(['*'], channel), true);
        assert.equal(
          namespacesAllow([namespace], channel),
          channel === namespace || channel.startsWith(`${namespace}.`),
        );
      }),
      { numRuns },
    );
  });
});
