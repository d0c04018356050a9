import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isFanoutError } from './fanout-error.js';
import { readJsonFrame, writeJsonFrame, type JsonObject } from './json-frame.js';

const numRuns = 500;
const names = ['connect', 'subscribe', 'ping'] as const;

const objectArbitrary = fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 3 }), {
  maxKeys: 5,
}) as fc.Arbitrary<JsonObject>;

const anyText = fc.oneof(
  fc.json({ maxDepth: 4 }),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc
    .record({ name: fc.constantFrom(...names, 'other', '__proto__'), body: fc.jsonValue() })
    .map(({ name, body }) => `{${JSON.stringify(name)}:${JSON.stringify(body)}}`),
  fc.integer({ min: 300, max: 5000 }).map((length) => `{"${'x'.repeat(length)}":{}}`),
  fc.constantFrom('{"ping":{}} ', '{"ping":{},"ping":{}}', '{"ping":{}', '"ping"', 'null', ''),
);

describe('JSON frame envelope (properties)', () => {
  it('write then read is the identity for known names', () => {
    fc.assert(
      fc.property(fc.constantFrom(...names), objectArbitrary, (name, body) => {
        const frame = readJsonFrame(writeJsonFrame(name, body), names);
        assert.equal(frame.name, name);
        assert.deepEqual(frame.body, JSON.parse(JSON.stringify(body)));
      }),
      { numRuns },
    );
  });

  it('any text is a frame of a known name with an object body, or frame_invalid', () => {
    fc.assert(
      fc.property(anyText, (text) => {
        try {
          const frame = readJsonFrame(text, names);
          assert.ok(names.includes(frame.name));
          assert.equal(typeof frame.body, 'object');
          assert.ok(frame.body !== null && !Array.isArray(frame.body));
        } catch (error) {
          assert.ok(isFanoutError(error), `not a FanoutError: ${String(error)}`);
          assert.equal(error.code, 'frame_invalid');
          assert.ok(error.message.length < 300, 'the message does not echo the input');
        }
      }),
      { numRuns },
    );
  });
});
