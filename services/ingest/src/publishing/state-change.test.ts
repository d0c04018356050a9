import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isFanoutError, type StateOperation } from '@fanout/shared';
import { prepareStateChange, type IncomingStateChange } from './state-change.js';

const stateLimits = { maxDocumentBytes: 64, maxPatchBytes: 32, maxDepth: 4 };
const publishLimits = {
  maxEventBytes: 1000,
  maxBatchEvents: 10,
  // State changes carry fanout's content types whatever the producers' allow-list says.
  allowedContentTypes: ['text/plain'],
};
const bytes = (text: string) => new TextEncoder().encode(text);

function change(operation: StateOperation, data: Uint8Array | string): IncomingStateChange {
  return {
    channel: 'rooms.1',
    operation,
    data: typeof data === 'string' ? bytes(data) : data,
  };
}

function refusal(given: IncomingStateChange): { code: string; message: string } {
  try {
    prepareStateChange(given, stateLimits, publishLimits);
  } catch (error) {
    assert.ok(isFanoutError(error), `not a FanoutError: ${String(error)}`);
    return { code: error.code, message: error.message };
  }
  assert.fail('the change was accepted');
}

describe('state change validation', () => {
  it('prepares a put, a merge and a delete with their content types and state', () => {
    const put = prepareStateChange(
      { ...change('put', ' {"a":[1,2],"b":"ü"}\n'), id: 'v-1', type: 'room.state' },
      stateLimits,
      publishLimits,
    );
    assert.equal(put.state, 'put');
    assert.equal(put.contentType, 'application/json');
    assert.equal(put.id, 'v-1');
    assert.equal(put.idFromPublisher, true);
    assert.equal(put.type, 'room.state');
    assert.equal(new TextDecoder().decode(put.data), ' {"a":[1,2],"b":"ü"}\n', 'stored as sent');

    const merge = prepareStateChange(change('merge', '{"a":null}'), stateLimits, publishLimits);
    assert.equal(merge.state, 'merge');
    assert.equal(merge.contentType, 'application/merge-patch+json');
    assert.equal(merge.idFromPublisher, false);

    const remove = prepareStateChange(change('delete', ''), stateLimits, publishLimits);
    assert.equal(remove.state, 'delete');
    assert.equal(remove.contentType, '');
    assert.equal(remove.data.byteLength, 0);
    assert.equal(
      prepareStateChange({ channel: 'rooms.1', operation: 'delete' }, stateLimits, publishLimits)
        .state,
      'delete',
      'a delete without data at all',
    );
  });

  it("carries a PUT's arrayKey, and refuses a bad one or one on MERGE/DELETE with invalid_argument", () => {
    const put = prepareStateChange(
      { ...change('put', '[{"id":1}]'), arrayKey: '/id' },
      stateLimits,
      publishLimits,
    );
    assert.equal(put.arrayKey, '/id');
    const none = prepareStateChange(
      { ...change('put', '[]'), arrayKey: '' },
      stateLimits,
      publishLimits,
    );
    assert.equal(none.arrayKey, undefined, 'empty is no key');
    for (const [given, pattern] of [
      [{ ...change('put', '[]'), arrayKey: 'id' }, /JSON Pointer/],
      [{ ...change('put', '[]'), arrayKey: '/a~' }, /~0/],
      [{ ...change('put', '[]'), arrayKey: `/${'k'.repeat(256)}` }, /256/],
      [{ ...change('put', '[]'), arrayKey: '/__proto__' }, /__proto__/],
      [{ ...change('merge', '{}'), arrayKey: '/id' }, /only a PUT/],
      [{ ...change('delete', ''), arrayKey: '/id' }, /only a PUT/],
    ] satisfies [IncomingStateChange, RegExp][]) {
      const { code, message } = refusal(given);
      assert.equal(code, 'invalid_argument');
      assert.match(message, pattern);
    }
  });

  it('accepts a merge patch that is not an object (RFC 7396: it replaces the document)', () => {
    for (const patch of ['[1,2]', '"text"', '42', 'null', 'true']) {
      assert.equal(
        prepareStateChange(change('merge', patch), stateLimits, publishLimits).state,
        'merge',
        patch,
      );
    }
  });

  it('refuses a document that is not one well-formed UTF-8 JSON value with state_invalid', () => {
    const cases: [string, Uint8Array | string][] = [
      ['empty', ''],
      ['whitespace only', '  \n'],
      ['not JSON', '{a:1}'],
      ['trailing garbage', '{"a":1} x'],
      ['two values', '{"a":1}{"b":2}'],
      ['a trailing comma', '[1,2,]'],
      ['a byte order mark', new Uint8Array([0xef, 0xbb, 0xbf, 0x7b, 0x7d])],
      ['invalid UTF-8', new Uint8Array([0x22, 0xc3, 0x28, 0x22])],
      ['a lone continuation byte', new Uint8Array([0x22, 0x80, 0x22])],
      ['nested deeper than maxDepth', '[[[[[1]]]]]'],
    ];
    for (const [name, data] of cases) {
      for (const operation of ['put', 'merge'] as const) {
        assert.equal(
          refusal(change(operation, data)).code,
          'state_invalid',
          `${operation}: ${name}`,
        );
      }
    }
    assert.equal(
      prepareStateChange(change('put', '[[[[1]]]]'), stateLimits, publishLimits).state,
      'put',
      'maxDepth levels are allowed',
    );
    assert.match(refusal(change('put', '[[[[[1]]]]]')).message, /deeper than 4 levels/);
  });

  it('refuses a delete with a body with state_invalid', () => {
    assert.equal(refusal(change('delete', '{}')).code, 'state_invalid');
    assert.equal(refusal(change('delete', ' ')).code, 'state_invalid');
  });

  it('refuses a document or patch over its limit with state_too_large', () => {
    const document = `"${'d'.repeat(62)}"`;
    assert.equal(document.length, 64);
    assert.equal(
      prepareStateChange(change('put', document), stateLimits, publishLimits).state,
      'put',
    );
    const tooLarge = refusal(change('put', `"${'d'.repeat(63)}"`));
    assert.equal(tooLarge.code, 'state_too_large');
    assert.match(tooLarge.message, /65 bytes, more than the limit of 64/);
    assert.equal(refusal(change('merge', document)).code, 'state_too_large');
    assert.equal(
      prepareStateChange(change('merge', `"${'p'.repeat(30)}"`), stateLimits, publishLimits).state,
      'merge',
    );
  });

  it('checks channel, type, id, headers and event size as for any event', () => {
    assert.equal(refusal({ ...change('put', '{}'), channel: 'a..b' }).code, 'channel_invalid');
    assert.equal(refusal({ ...change('put', '{}'), type: 'no spaces' }).code, 'invalid_argument');
    assert.equal(refusal({ ...change('put', '{}'), id: 'bad id' }).code, 'invalid_argument');
    assert.equal(
      refusal({ ...change('put', '{}'), headers: { 'bad name': 'v' } }).code,
      'invalid_argument',
    );
    assert.equal(
      refusal({ ...change('put', '{}'), headers: { big: 'h'.repeat(1000) } }).code,
      'event_too_large',
    );
  });
});
