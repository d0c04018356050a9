/**
 * `client.resource(url)` without an edge: the URL is checked as the edge
 * checks it, a resource is followed once, and a transport other than
 * WebSocket ends it with `invalid_argument` (only a WebSocket subscription
 * names a resource).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isFanoutError } from '@fanout/shared/portable-core';
import { createClient } from './fanout-client.js';

function code(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    assert.ok(isFanoutError(error), String(error));
    return error.code;
  }
  assert.fail('accepted');
}

describe('client.resource', () => {
  it('refuses a URL the edge would refuse, and a resource followed already', () => {
    // A fetch that never answers: nothing here reaches an edge.
    const client = createClient({
      url: 'http://127.0.0.1:9',
      transports: ['sse'],
      fetch: () => new Promise<Response>(() => undefined),
    });
    try {
      for (const url of [
        '',
        '/relative',
        'ftp://example.com/x',
        'https://user:secret@example.com/x',
        `https://example.com/${'a'.repeat(4100)}`,
      ]) {
        assert.equal(
          code(() => client.resource(url)),
          'invalid_argument',
          url.slice(0, 40),
        );
      }
      const item = client.resource('https://example.com/items/7');
      assert.equal(item.resource, 'https://example.com/items/7');
      assert.equal(item.channel, '');
      assert.equal(item.statusChannel, undefined);
      assert.equal(
        code(() => client.resource('https://example.com/items/7')),
        'invalid_argument',
      );
    } finally {
      client.close();
    }
  });

  it('over SSE the resource ends with invalid_argument: it needs the WebSocket transport', async () => {
    const client = createClient({
      url: 'http://127.0.0.1:9',
      transports: ['sse'],
      fetch: () => new Promise<Response>(() => undefined),
    });
    try {
      const item = client.resource('https://example.com/items/8');
      await assert.rejects(item.ready(), (error: unknown) => {
        assert.ok(isFanoutError(error));
        assert.equal(error.code, 'invalid_argument');
        assert.match(error.message, /WebSocket/);
        return true;
      });
      assert.equal(item.state, 'ended');
      // Ended, it is no longer followed: the URL may be followed again.
      client.resource('https://example.com/items/8').close();
    } finally {
      client.close();
    }
  });
});
