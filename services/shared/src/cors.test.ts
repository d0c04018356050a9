import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CorsPolicy, type CorsPolicyOptions } from './cors.js';

const rules: Omit<CorsPolicyOptions, 'allowedOrigins'> = {
  methods: ['GET', 'OPTIONS'],
  requestHeaders: ['authorization', 'last-event-id'],
  exposedHeaders: ['retry-after'],
  maxAgeSeconds: 600,
};

describe('CORS policy', () => {
  it('allows the listed origins exactly', () => {
    const policy = new CorsPolicy({
      ...rules,
      allowedOrigins: ['https://app.example.com', 'http://localhost:3000'],
    });
    assert.equal(policy.allowsOrigin('https://app.example.com'), true);
    assert.equal(policy.allowsOrigin('http://localhost:3000'), true);
    for (const origin of [
      'https://evil.example.com',
      'http://app.example.com',
      'https://app.example.com:443',
      'https://app.example.com/',
      'https://APP.example.com',
      'https://sub.app.example.com',
      'null',
    ]) {
      assert.equal(policy.allowsOrigin(origin), false, origin);
    }
  });

  it('allows any origin with *, but never an empty Origin', () => {
    const any = new CorsPolicy({ ...rules, allowedOrigins: ['*'] });
    assert.equal(any.allowsOrigin('https://anything.example'), true);
    assert.equal(any.allowsOrigin('null'), true);
    assert.equal(any.allowsOrigin(''), false);
    const none = new CorsPolicy({ ...rules, allowedOrigins: [] });
    assert.equal(none.allowsOrigin('https://app.example.com'), false);
    assert.equal(none.allowsOrigin(''), false);
  });

  it('answers with the origin itself, Vary: Origin and the exposed headers', () => {
    const policy = new CorsPolicy({ ...rules, allowedOrigins: ['*'] });
    assert.deepEqual(policy.answerHeaders('https://app.example.com'), [
      ['access-control-allow-origin', 'https://app.example.com'],
      ['vary', 'Origin'],
      ['access-control-expose-headers', 'retry-after'],
    ]);
    const quiet = new CorsPolicy({ ...rules, exposedHeaders: [], allowedOrigins: ['*'] });
    assert.deepEqual(quiet.answerHeaders('https://app.example.com'), [
      ['access-control-allow-origin', 'https://app.example.com'],
      ['vary', 'Origin'],
    ]);
  });

  it('answers preflights with the methods, request headers and max age, and no credentials', () => {
    const policy = new CorsPolicy({
      allowedOrigins: ['https://app.example.com'],
      methods: ['POST'],
      requestHeaders: ['content-type', 'authorization', 'x-api-key'],
      maxAgeSeconds: 600,
    });
    assert.deepEqual(policy.preflightHeaders(), [
      ['access-control-allow-methods', 'POST'],
      ['access-control-allow-headers', 'content-type, authorization, x-api-key'],
      ['access-control-max-age', '600'],
    ]);
    const all = [...policy.answerHeaders('https://app.example.com'), ...policy.preflightHeaders()];
    assert.ok(all.every(([name]) => name === name.toLowerCase()));
    assert.ok(!all.some(([name]) => name === 'access-control-allow-credentials'));
  });
});
