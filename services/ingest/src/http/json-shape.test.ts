import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { jsonShape } from './json-shape.js';

const shape = (text: string, maxDepth = 64) => jsonShape(Buffer.from(text), maxDepth);

describe('JSON shape', () => {
  it('measures nesting and counts structural tokens outside strings', () => {
    assert.deepEqual(shape('{"a":[1,2,{"b":null}]}'), { depth: 3, tokens: 8 });
    assert.deepEqual(shape('"text"'), { depth: 0, tokens: 1 });
    assert.deepEqual(shape('{"[{,:":"\\"[{,:"}'), { depth: 1, tokens: 3 }, 'strings are skipped');
  });

  it('stops as soon as the nesting passes the limit', () => {
    const deep = shape('['.repeat(100_000) + ']'.repeat(100_000), 64);
    assert.equal(deep.depth, 65);
  });
});
