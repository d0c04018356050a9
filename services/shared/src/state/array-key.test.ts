import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { maxArrayKeyLength, parseArrayKey } from './array-key.js';

describe('parseArrayKey', () => {
  it('parses JSON Pointers into unescaped tokens', () => {
    assert.deepEqual(parseArrayKey('/id'), { tokens: ['id'] });
    assert.deepEqual(parseArrayKey('/meta/symbol'), { tokens: ['meta', 'symbol'] });
    assert.deepEqual(parseArrayKey('/a~1b/c~0d'), { tokens: ['a/b', 'c~d'] });
    assert.deepEqual(parseArrayKey('/'), { tokens: [''] });
  });

  it('refuses what is not a pointer, bad escapes, prototype names and long keys', () => {
    for (const bad of [
      'id',
      '#/id',
      '/a~2',
      '/a~',
      '/__proto__',
      '/x/constructor',
      '/prototype',
      `/${'k'.repeat(maxArrayKeyLength)}`,
    ]) {
      assert.ok('problem' in parseArrayKey(bad), bad);
    }
    assert.ok('tokens' in parseArrayKey(`/${'k'.repeat(maxArrayKeyLength - 1)}`));
  });
});
