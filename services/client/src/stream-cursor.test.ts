import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DedupeWindow } from './dedupe-window.js';
import { StreamCursor } from './stream-cursor.js';

describe('StreamCursor', () => {
  it('advances per partition and refuses positions it has passed', () => {
    const cursor = new StreamCursor();
    assert.equal(cursor.text(), undefined);
    assert.equal(cursor.advance('ep:2:5'), true);
    assert.equal(cursor.advance('ep:0:1'), true);
    assert.equal(cursor.text(), 'ep:0:1,2:5');
    assert.equal(cursor.advance('ep:2:5'), false, 'the same position is a duplicate');
    assert.equal(cursor.advance('ep:2:4'), false, 'an older one too');
    assert.equal(cursor.advance('ep:2:6'), true);
    assert.equal(cursor.text(), 'ep:0:1,2:6');
  });

  it('takes a stream cursor and starts over in a new epoch', () => {
    const cursor = new StreamCursor();
    cursor.set('old:1:10,3:-1');
    assert.equal(cursor.advance('old:3:0'), true);
    assert.equal(cursor.text(), 'old:1:10,3:0');
    assert.equal(cursor.advance('new:1:0'), true);
    assert.equal(cursor.text(), 'new:1:0');
  });

  it('rejects malformed cursors with position_invalid', () => {
    const cursor = new StreamCursor();
    assert.throws(() => {
      cursor.set('nope');
    }, /position_invalid|is invalid/);
  });
});

describe('DedupeWindow', () => {
  it('remembers the most recent ids only', () => {
    const window = new DedupeWindow(2);
    assert.equal(window.seen('a'), false);
    assert.equal(window.seen('b'), false);
    assert.equal(window.seen('a'), true);
    assert.equal(window.seen('c'), false);
    assert.equal(window.seen('a'), false, 'a left the window when c came');
  });
});
