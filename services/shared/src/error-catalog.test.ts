import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { actionForCloseCode, CloseCodeRange } from './close-codes.js';
import {
  errorCatalog,
  errorCodeForCloseCode,
  errorCodes,
  GrpcStatus,
  toCloseCode,
  toGrpcStatus,
  toHttpStatus,
} from './error-catalog.js';
import { FanoutError, toFanoutError } from './fanout-error.js';

describe('error catalog', () => {
  it('has snake_case codes and a message ending in a full stop for each', () => {
    for (const code of errorCodes) {
      assert.match(code, /^[a-z][a-z0-9_]*$/);
      assert.match(errorCatalog[code].message, /\.$/, code);
    }
  });

  it('gives every close code to exactly one error', () => {
    const closes = errorCodes.map((code) => errorCatalog[code].close).filter((c) => c !== null);
    assert.equal(new Set(closes).size, closes.length);
  });

  it('puts each close code in the range of its action', () => {
    for (const code of errorCodes) {
      const { close, action } = errorCatalog[code];
      if (close === null) continue;
      assert.ok(close >= 4000 && close <= 4999, `${code}: ${close} is outside 4000-4999`);
      assert.equal(actionForCloseCode(close), action, `${code} closes with ${close}`);
      assert.equal(errorCodeForCloseCode(close), code);
    }
  });

  it('maps to valid gRPC and HTTP statuses', () => {
    const grpcNumbers = new Set<number>(Object.values(GrpcStatus));
    for (const code of errorCodes) {
      assert.ok(grpcNumbers.has(toGrpcStatus(code)), code);
      assert.notEqual(toGrpcStatus(code), GrpcStatus.OK, code);
      const http = toHttpStatus(code);
      assert.ok(http >= 300 && http <= 599, `${code}: HTTP ${http}`);
    }
    assert.equal(toGrpcStatus('kafka_unavailable'), 14);
    assert.equal(toHttpStatus('position_too_old'), 410);
    assert.equal(toCloseCode('channel_invalid'), 4000, 'errors without a close code close as 4000');
  });

  it('tells clients what to do after protocol-level closes', () => {
    assert.equal(actionForCloseCode(1006), 'resume');
    assert.equal(actionForCloseCode(1001), 'resume');
    assert.equal(actionForCloseCode(1002), 'stop');
    assert.equal(actionForCloseCode(CloseCodeRange.resumeElsewhere.from), 'resume_elsewhere');
    assert.equal(actionForCloseCode(4450), 'stop');
  });
});

describe('FanoutError', () => {
  it('carries code, message and details into its JSON body', () => {
    const error = new FanoutError('channel_invalid', 'channel "" is empty', {
      details: { field: 'events[0].channel' },
    });
    assert.deepEqual(error.toJSON(), {
      error: {
        code: 'channel_invalid',
        message: 'channel "" is empty',
        details: { field: 'events[0].channel' },
      },
    });
    assert.ok(Object.isFrozen(error.details));
  });

  it('wraps unknown errors as internal, keeping the cause', () => {
    const cause = new TypeError('boom');
    const wrapped = toFanoutError(cause);
    assert.equal(wrapped.code, 'internal');
    assert.equal(wrapped.cause, cause);
    const same = new FanoutError('draining');
    assert.equal(toFanoutError(same), same);
  });
});
