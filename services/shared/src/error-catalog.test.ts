import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { actionForCloseCode, CloseCode, CloseCodeRange } from './close-codes.js';
import {
  errorCatalog,
  errorCodeForCloseCode,
  errorCodes,
  errorSpec,
  GrpcStatus,
  isErrorCode,
  toCloseCode,
  toGrpcStatus,
  toHttpStatus,
} from './error-catalog.js';
import { FanoutError, isFanoutError, toFanoutError } from './fanout-error.js';

/** HTTP statuses that tell a client to come back later (or elsewhere: 307, 421 Misdirected Request). */
const comeBackHttp = new Set([307, 408, 421, 429, 499, 502, 503, 504]);
/** HTTP statuses a transient error may have: come back, a fresh token, a server error. */
const transientHttp = new Set([...comeBackHttp, 401, 500]);

describe('error catalog', () => {
  it('has snake_case codes and a message ending in a full stop for each', () => {
    assert.ok(errorCodes.length > 0);
    assert.equal(new Set(errorCodes).size, errorCodes.length);
    for (const code of errorCodes) {
      assert.match(code, /^[a-z][a-z0-9]*(_[a-z0-9]+)*$/);
      assert.match(errorCatalog[code].message, /\.$/, code);
    }
  });

  it('covers what ingest, edge, cluster and client report', () => {
    for (const code of [
      'invalid_argument',
      'channel_invalid',
      'event_too_large',
      'batch_too_large',
      'content_type_not_allowed',
      'position_invalid',
      'frame_invalid',
      'message_too_large',
      'config_invalid',
      'unauthenticated',
      'token_expired',
      'permission_denied',
      'rate_limited',
      'connection_limit',
      'subscription_limit',
      'position_too_old',
      'position_epoch_mismatch',
      'kafka_unavailable',
      'deadline_exceeded',
      'draining',
      'not_owner',
      'backpressure',
      'idle_timeout',
      'origin_not_allowed',
      'not_found',
      'internal',
    ]) {
      assert.ok(isErrorCode(code), `${code} is missing`);
    }
    assert.equal(isErrorCode('toString'), false);
  });

  it('gives every close code to exactly one error', () => {
    const closes = errorCodes.map((code) => errorCatalog[code].close).filter((c) => c !== null);
    assert.equal(new Set(closes).size, closes.length);
  });

  it('names every close code it uses, and uses every named close code', () => {
    const named = new Set<number>(Object.values(CloseCode));
    assert.equal(named.size, Object.keys(CloseCode).length, 'named close codes are unique');
    for (const code of errorCodes) {
      const { close } = errorCatalog[code];
      if (close !== null) assert.ok(named.has(close), `${code}: ${close} has no CloseCode name`);
    }
    for (const close of named) {
      assert.notEqual(errorCodeForCloseCode(close), undefined, `${close} belongs to no error`);
    }
  });

  it('puts each close code in the range of its action', () => {
    for (const code of errorCodes) {
      const { close, action } = errorCatalog[code];
      if (close === null) continue;
      const inRange = Object.values(CloseCodeRange).some(
        (range) => close >= range.from && close <= range.to,
      );
      assert.ok(inRange, `${code}: ${close} is outside the fanout ranges`);
      assert.equal(actionForCloseCode(close), action, `${code} closes with ${close}`);
      assert.equal(errorCodeForCloseCode(close), code);
    }
  });

  it('falls back to a close code whose range keeps the action', () => {
    const expected = {
      resume: 'resume',
      retry: 'resume',
      resume_elsewhere: 'resume_elsewhere',
      reset: 'stop',
      stop: 'stop',
    } as const;
    for (const code of errorCodes) {
      const { action } = errorSpec(code);
      assert.equal(actionForCloseCode(toCloseCode(code)), expected[action], code);
    }
    assert.equal(toCloseCode('channel_invalid'), CloseCode.frameInvalid);
    assert.equal(toCloseCode('rate_limited'), CloseCode.internal);
    assert.equal(toCloseCode('config_invalid'), CloseCode.serverRefused);
    assert.equal(toCloseCode('draining'), CloseCode.draining);
  });

  it('maps to valid gRPC and HTTP statuses that agree with the action', () => {
    const grpcNumbers = new Set<number>(Object.values(GrpcStatus));
    for (const code of errorCodes) {
      const { action } = errorSpec(code);
      assert.ok(grpcNumbers.has(toGrpcStatus(code)), code);
      assert.notEqual(toGrpcStatus(code), GrpcStatus.OK, code);
      const http = toHttpStatus(code);
      assert.ok(Number.isInteger(http) && http >= 300 && http <= 599, `${code}: HTTP ${http}`);
      if (action === 'stop') {
        assert.ok(!comeBackHttp.has(http), `${code}: stop but HTTP ${http}`);
      }
      if (action === 'resume' || action === 'retry' || action === 'resume_elsewhere') {
        assert.ok(transientHttp.has(http), `${code}: ${action} but HTTP ${http}`);
      }
      if (action === 'reset') assert.equal(http, 410, code);
    }
    assert.equal(toGrpcStatus('kafka_unavailable'), GrpcStatus.UNAVAILABLE);
    assert.equal(toHttpStatus('kafka_unavailable'), 503);
    assert.equal(toHttpStatus('position_too_old'), 410);
    assert.equal(toHttpStatus('position_epoch_mismatch'), 410);
    assert.equal(errorSpec('draining').action, 'resume_elsewhere');
    assert.equal(errorSpec('backpressure').action, 'resume');
  });

  it('is frozen', () => {
    assert.ok(Object.isFrozen(errorCatalog));
    assert.ok(Object.isFrozen(errorCatalog.internal));
    assert.ok(Object.isFrozen(errorCodes));
  });
});

describe('close codes', () => {
  it('tell clients what to do after protocol-level closes', () => {
    assert.equal(actionForCloseCode(1000), 'resume');
    assert.equal(actionForCloseCode(1001), 'resume');
    assert.equal(actionForCloseCode(1006), 'resume');
    assert.equal(actionForCloseCode(1011), 'resume');
    assert.equal(actionForCloseCode(1002), 'stop');
    assert.equal(actionForCloseCode(1008), 'stop');
    assert.equal(actionForCloseCode(1009), 'stop');
  });

  it('tell clients what to do from the range alone', () => {
    assert.equal(actionForCloseCode(4000), 'resume');
    assert.equal(actionForCloseCode(4199), 'resume');
    assert.equal(actionForCloseCode(4200), 'resume_elsewhere');
    assert.equal(actionForCloseCode(4299), 'resume_elsewhere');
    assert.equal(actionForCloseCode(4450), 'stop');
    assert.equal(actionForCloseCode(4599), 'stop');
    assert.equal(actionForCloseCode(4300), 'resume', 'unassigned codes are transient');
    assert.equal(actionForCloseCode(3000), 'resume');
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
    assert.equal(error.name, 'FanoutError');
    assert.equal(error.spec.http, 400);
    assert.deepEqual(new FanoutError('draining').toJSON(), {
      error: { code: 'draining', message: errorCatalog.draining.message },
    });
  });

  it('is recognised, and unknown errors become internal keeping the cause', () => {
    const cause = new TypeError('boom');
    const wrapped = toFanoutError(cause);
    assert.equal(wrapped.code, 'internal');
    assert.equal(wrapped.cause, cause);
    assert.ok(isFanoutError(wrapped));
    assert.equal(isFanoutError(cause), false);
    assert.equal(isFanoutError({ code: 'internal', message: 'x' }), false);
    const same = new FanoutError('draining');
    assert.equal(toFanoutError(same), same);
  });

  it('adopts error-shaped values with a catalog code', () => {
    const adopted = toFanoutError({ code: 'rate_limited', message: 'slow down' });
    assert.equal(adopted.code, 'rate_limited');
    assert.equal(adopted.message, 'slow down');
    assert.equal(toFanoutError({ code: 'ECONNREFUSED', message: 'no' }).code, 'internal');
  });
});
