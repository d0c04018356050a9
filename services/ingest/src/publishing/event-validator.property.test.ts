import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isFanoutError, isValidChannel } from '@fanout/shared';
import fc from 'fast-check';
import {
  prepareBatch,
  prepareEvent,
  type IncomingEvent,
  type PublishLimits,
} from './event-validator.js';

const numRuns = 400;

const limits: PublishLimits = {
  maxEventBytes: 512,
  maxBatchEvents: 8,
  allowedContentTypes: ['application/json', 'application/octet-stream', 'text/plain'],
};

const headerName = fc.stringMatching(/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,10}$/);

const validEvent: fc.Arbitrary<IncomingEvent> = fc
  .record(
    {
      channel: fc
        .array(fc.stringMatching(/^[A-Za-z0-9_-]{1,12}$/), { minLength: 1, maxLength: 4 })
        .map((segments) => segments.join('.')),
      type: fc.stringMatching(/^[A-Za-z0-9._:/-]{0,30}$/),
      data: fc.uint8Array({ maxLength: 100 }),
      contentType: fc.constantFrom('', 'application/json', 'Text/Plain; charset=utf-8'),
      headers: fc.dictionary(
        fc.stringMatching(/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,10}$/),
        fc.string(),
        {
          maxKeys: 3,
        },
      ),
      id: fc.oneof(fc.constant(''), fc.stringMatching(/^[A-Za-z0-9._:~-]{1,128}$/)),
    },
    { requiredKeys: ['channel'] },
  )
  .map((event) => ({ ...event, ...(event.headers ? { headers: { ...event.headers } } : {}) }));

/** Strings near the rules: allowed characters, the ones around them, and long runs. */
const hostileText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('', ' ', 'a.b', 'a..b', '*', 'a/b', 'x; y=ü', '\u0000', 'é'),
  fc.integer({ min: 100, max: 600 }).map((length) => 'a'.repeat(length)),
  fc.integer({ min: 1, max: 300 }).map((length) => '字'.repeat(length)),
);
const hostileEvent: fc.Arbitrary<IncomingEvent> = fc
  .record(
    {
      channel: fc.oneof(hostileText, fc.constant('orders.eu')),
      type: fc.option(hostileText),
      data: fc.option(fc.uint8Array({ maxLength: 600 })),
      contentType: fc.option(
        fc.oneof(hostileText, fc.constantFrom('application/json', 'text/plain; q="字字字字"')),
      ),
      headers: fc.option(
        fc.dictionary(fc.oneof(hostileText, headerName), hostileText, { maxKeys: 4 }),
      ),
      id: fc.option(hostileText),
    },
    { requiredKeys: ['channel'] },
  )
  .map((event) => ({ ...event, ...(event.headers ? { headers: { ...event.headers } } : {}) }));

/** What the event occupies in bytes: data, type, content type and headers, as UTF-8. */
function bytesOf(event: {
  data: Uint8Array;
  type: string;
  contentType: string;
  headers: Readonly<Record<string, string>>;
}): number {
  let size =
    event.data.byteLength + Buffer.byteLength(event.type) + Buffer.byteLength(event.contentType);
  for (const [name, value] of Object.entries(event.headers)) {
    size += Buffer.byteLength(name) + Buffer.byteLength(value);
  }
  return size;
}

const validatorCodes = new Set([
  'invalid_argument',
  'channel_invalid',
  'event_too_large',
  'content_type_not_allowed',
]);

describe('event validation (properties)', () => {
  it('accepts every event within the rules and the size limit, keeping it as sent', () => {
    fc.assert(
      fc.property(validEvent, (event) => {
        let prepared;
        try {
          prepared = prepareEvent(event, limits, 0);
        } catch (error) {
          assert.ok(isFanoutError(error));
          assert.equal(error.code, 'event_too_large');
          return;
        }
        assert.equal(prepared.channel, event.channel);
        assert.equal(prepared.type, event.type ?? '');
        assert.deepEqual(prepared.headers, event.headers ?? {});
        if (event.id) assert.equal(prepared.id, event.id);
        assert.equal(prepared.idFromPublisher, Boolean(event.id));
      }),
      { numRuns },
    );
  });

  it('any event is accepted within every bound, or refused with a typed validation error', () => {
    fc.assert(
      fc.property(hostileEvent, (event) => {
        let prepared;
        try {
          prepared = prepareEvent(event, limits, 3);
        } catch (error) {
          assert.ok(isFanoutError(error), `not a FanoutError: ${String(error)}`);
          assert.ok(validatorCodes.has(error.code), `unexpected code ${error.code}`);
          assert.ok(error.message.length < 400, 'the message quotes a bounded part');
          return;
        }
        assert.ok(isValidChannel(prepared.channel));
        assert.match(prepared.id, /^[A-Za-z0-9._:~-]{1,128}$/);
        assert.match(prepared.type, /^[A-Za-z0-9._:/-]{0,128}$/);
        assert.ok(prepared.contentType.length <= 255);
        for (const name of Object.keys(prepared.headers)) {
          assert.match(name, /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$/);
        }
        assert.ok(
          bytesOf(prepared) <= limits.maxEventBytes,
          `${bytesOf(prepared)} bytes accepted under a limit of ${limits.maxEventBytes}`,
        );
      }),
      { numRuns },
    );
  });

  it('a batch is all or nothing, and bounded in count', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(validEvent, hostileEvent), { maxLength: 12 }), (events) => {
        let prepared;
        try {
          prepared = prepareBatch(events, limits);
        } catch (error) {
          assert.ok(isFanoutError(error), `not a FanoutError: ${String(error)}`);
          if (events.length === 0) assert.equal(error.code, 'invalid_argument');
          else if (events.length > limits.maxBatchEvents)
            assert.equal(error.code, 'batch_too_large');
          else {
            assert.ok(validatorCodes.has(error.code), `unexpected code ${error.code}`);
            // The batch is refused because one of its events is.
            assert.ok(
              events.some((event, index) => {
                try {
                  prepareEvent(event, limits, index);
                  return false;
                } catch {
                  return true;
                }
              }),
            );
          }
          return;
        }
        assert.equal(prepared.length, events.length);
        assert.ok(events.length >= 1 && events.length <= limits.maxBatchEvents);
      }),
      { numRuns: 200 },
    );
  });
});
