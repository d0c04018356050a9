/** Ratios in words: "1.0× (same)" within ±5 %, and which direction is better. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { betterWords, ratioVerdict, ratioWords } from './ratio-words.js';

describe('ratio words', () => {
  it('writes a ratio within 5 % of 1 as the same', () => {
    assert.equal(ratioWords(1), '1.0× (same)');
    assert.equal(ratioWords(0.95), '1.0× (same)');
    assert.equal(ratioWords(1.05), '1.0× (same)');
    assert.equal(ratioWords(1.049), '1.0× (same)');
  });

  it('writes other ratios with two decimals, two significant digits below 0.1', () => {
    assert.equal(ratioWords(1.06), '1.06×');
    assert.equal(ratioWords(0.94), '0.94×');
    assert.equal(ratioWords(2.314), '2.31×');
    assert.equal(ratioWords(0.0123), '0.012×');
    assert.equal(ratioWords(undefined), '–');
    assert.equal(ratioWords(Number.NaN), '–');
  });

  it('says which direction is better and whether fanout did better', () => {
    assert.equal(betterWords('higher'), 'higher is better');
    assert.equal(betterWords('lower'), 'lower is better');
    assert.equal(ratioVerdict(2, 'higher'), 'fanout better');
    assert.equal(ratioVerdict(2, 'lower'), 'fanout worse');
    assert.equal(ratioVerdict(0.5, 'lower'), 'fanout better');
    assert.equal(ratioVerdict(1.02, 'lower'), 'same');
    assert.equal(ratioVerdict(undefined, 'lower'), 'unknown');
  });
});
