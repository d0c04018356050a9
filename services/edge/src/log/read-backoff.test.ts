import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { createLogger } from '@fanout/shared';
import { BackoffProbeFailed, ReadBackoff } from './read-backoff.js';

/** A logger whose lines are kept (messages only). */
function recordingLogger(): { logger: ReturnType<typeof createLogger>; lines: string[] } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of String(chunk).split('\n')) {
        if (line.trim() === '') continue;
        lines.push((JSON.parse(line) as { msg: string }).msg);
      }
      done();
    },
  });
  return { logger: createLogger({ service: 'test', level: 'info', destination }), lines };
}

const refused = (): Promise<never> => Promise.reject(new Error('connection refused'));

describe('read back-off', () => {
  it('pauses exponentially from minMs to maxMs, jittered in the upper half of each pause', () => {
    const { logger } = recordingLogger();
    const low = new ReadBackoff({ logger, what: 'x', random: () => 0 });
    const high = new ReadBackoff({ logger, what: 'x', random: () => 0.999_999 });
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6, 7, 50].map((pause) => high.delayMs(pause)),
      [50, 100, 200, 400, 800, 1600, 2000, 2000],
    );
    assert.deepEqual(
      [1, 2, 6, 7, 50].map((pause) => low.delayMs(pause)),
      [25, 50, 800, 1000, 1000],
    );
  });

  it('lets one probe through per pause while failing; the others fail without an attempt', async () => {
    const { logger, lines } = recordingLogger();
    const backoff = new ReadBackoff({ logger, what: 'cold replay fetch', minMs: 60_000 });
    await assert.rejects(backoff.run(refused), /connection refused/);
    assert.equal(backoff.attempts, 1);
    assert.ok(backoff.failing);
    // 50 reads arrive during the pause: none reaches Kafka until it ends.
    let reached = 0;
    const reads = Array.from({ length: 50 }, () =>
      backoff.run(() => {
        reached++;
        return Promise.reject(new Error('connection refused'));
      }),
    );
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(reached, 0, 'nothing is sent during the pause');
    backoff.wake();
    const outcomes = await Promise.allSettled(reads);
    assert.equal(reached, 1, 'one probe for the 50 reads');
    assert.equal(backoff.attempts, 2);
    const probeFailed = outcomes.filter(
      (outcome) => outcome.status === 'rejected' && outcome.reason instanceof BackoffProbeFailed,
    );
    assert.equal(probeFailed.length, 49);
    assert.deepEqual(
      lines.filter((line) => line.startsWith('cold replay fetch')),
      ['cold replay fetch failed; retrying with back-off (logged once until it recovers)'],
      'logged once for the streak',
    );
  });

  it('lets every waiting read through once a probe succeeds, and logs the recovery with its count', async () => {
    const { logger, lines } = recordingLogger();
    const backoff = new ReadBackoff({ logger, what: 'cold replay fetch', minMs: 60_000 });
    await assert.rejects(backoff.run(refused));
    const reads = Array.from({ length: 20 }, (_, index) =>
      backoff.run(() => Promise.resolve(index)),
    );
    backoff.wake();
    assert.deepEqual(
      await Promise.all(reads),
      Array.from({ length: 20 }, (_, index) => index),
    );
    assert.equal(backoff.attempts, 21);
    assert.equal(backoff.failing, false);
    assert.deepEqual(lines.slice(-1), ['cold replay fetch recovered']);
    // No streak: reads go straight through.
    assert.equal(await backoff.run(() => Promise.resolve('now')), 'now');
  });

  it('probes after the pause without a wake', async () => {
    const { logger } = recordingLogger();
    const backoff = new ReadBackoff({ logger, what: 'x', minMs: 1, maxMs: 1 });
    // The pause's timer is unref'd (it must not hold a stopping edge open):
    // hold the event loop open here the way the edge's sockets do.
    const keepAlive = setInterval(() => undefined, 1_000);
    try {
      await assert.rejects(backoff.run(refused));
      assert.equal(await backoff.run(() => Promise.resolve('back')), 'back');
      assert.equal(backoff.failing, false);
    } finally {
      clearInterval(keepAlive);
    }
  });
});
