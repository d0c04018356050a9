import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { httpStatusLine } from './http-status.js';

describe('HTTP status lines', () => {
  it('carry the standard reason phrase', () => {
    assert.equal(httpStatusLine(200), '200 OK');
    assert.equal(httpStatusLine(404), '404 Not Found');
    assert.equal(httpStatusLine(503), '503 Service Unavailable');
  });

  it('name the statuses Node does not, and keep the space before an empty phrase', () => {
    assert.equal(httpStatusLine(499), '499 Client Closed Request');
    assert.equal(httpStatusLine(599), '599 ');
  });
});
