import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { FanoutError } from './fanout-error.js';
import { createLogger } from './logger.js';

function capture(): { stream: Writable; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk.toString('utf8'));
      callback();
    },
  });
  return {
    stream,
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

describe('logger', () => {
  it('writes JSON lines with service, version, level name and component', () => {
    const out = capture();
    const logger = createLogger({
      service: 'fanout-test',
      version: '1.2.3',
      level: 'debug',
      destination: out.stream,
    });
    logger.child({ component: 'reader' }).debug({ partition: 3 }, 'caught up');
    logger.trace('not written');
    const [line, ...rest] = out.lines();
    assert.equal(rest.length, 0);
    assert.equal(line?.['service'], 'fanout-test');
    assert.equal(line?.['version'], '1.2.3');
    assert.equal(line?.['level'], 'debug');
    assert.equal(line?.['component'], 'reader');
    assert.equal(line?.['partition'], 3);
    assert.equal(line?.['msg'], 'caught up');
    assert.match(String(line?.['time']), /^\d{4}-\d\d-\d\dT/);
  });

  it('keeps the catalog code of errors and redacts credentials', () => {
    const out = capture();
    const logger = createLogger({ service: 'fanout-test', destination: out.stream });
    logger.warn(
      {
        err: new FanoutError('rate_limited', 'slow down', { details: { retryAfterMs: 100 } }),
        sasl: { password: 'hunter2' },
        headers: { authorization: 'Bearer secret' },
      },
      'refused',
    );
    const [line] = out.lines();
    const err = line?.['err'] as Record<string, unknown>;
    assert.equal(err['code'], 'rate_limited');
    assert.equal(err['message'], 'slow down');
    assert.deepEqual(err['details'], { retryAfterMs: 100 });
    assert.equal(err['type'], 'FanoutError');
    assert.equal((line?.['sasl'] as Record<string, unknown>)['password'], '[redacted]');
    assert.doesNotMatch(JSON.stringify(line), /hunter2|Bearer secret/);
  });
});
