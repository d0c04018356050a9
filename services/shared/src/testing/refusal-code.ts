/**
 * For tests of the package's decoders: runs `decode` and returns the
 * catalog code it was refused with. Fails the test when `decode` accepts
 * its input or throws anything but a `FanoutError`.
 */
import assert from 'node:assert/strict';
import { isFanoutError } from '../fanout-error.js';

export function refusalCode(decode: () => unknown): string {
  try {
    decode();
  } catch (error) {
    assert.ok(isFanoutError(error), `not a FanoutError: ${String(error)}`);
    return error.code;
  }
  assert.fail('the input was accepted');
}
