/**
 * channel-rewind.ts: `parseRewind`'s bounds and errors; `rewindStart` on
 * the in-memory twin of the log (the N-th last event of a channel among
 * another channel's, only the asked types, fewer events than asked, the
 * `edge.maxRewindScan` bound reported as `truncated`, the log's start);
 * `rewindCursor` and `RewindFilter` of several rewound channels.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { createLogger, FanoutError, formatPositionOf } from '@fanout/shared';
import type { EdgeEvent } from '../log/edge-event.js';
import {
  parseRewind,
  RewindFilter,
  rewindCursor,
  rewindStart,
  type RewindStart,
} from './channel-rewind.js';
import { startMemoryHub, type MemoryHub } from './memory-hub.js';

const logger = createLogger({ service: 'test', level: 'silent' });
const config = { maxRewind: 50, maxRewindScan: 20, kafkaWaitMs: 2000 };

const opened: MemoryHub[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((twin) => twin.close()));
});

async function twin(): Promise<MemoryHub> {
  const started = await startMemoryHub({ logger, topic: 'rewind', partitions: 1 });
  opened.push(started);
  return started;
}

function isInvalid(limit: number) {
  return (error: unknown): boolean =>
    error instanceof FanoutError &&
    error.code === 'invalid_argument' &&
    error.details['field'] === 'rewind' &&
    error.details['limit'] === limit &&
    error.message.includes('edge.maxRewind');
}

describe('parseRewind', () => {
  it('reads 0 to edge.maxRewind; absent is no rewind', () => {
    assert.equal(parseRewind(null, 50), undefined);
    assert.equal(parseRewind('', 50), undefined);
    assert.equal(parseRewind('0', 50), 0);
    assert.equal(parseRewind('7', 50), 7);
    assert.equal(parseRewind('50', 50), 50);
    assert.equal(parseRewind('007', 50), 7);
  });

  it('refuses anything else with invalid_argument naming the limit', () => {
    for (const text of [
      '51',
      '-1',
      '1.5',
      '1e1',
      '0x10',
      ' 5',
      '5 ',
      '+5',
      'NaN',
      'five',
      '9'.repeat(17),
    ]) {
      assert.throws(() => parseRewind(text, 50), isInvalid(50), JSON.stringify(text));
    }
  });
});

describe('rewindStart', () => {
  it("starts before the channel's N-th last event, counting only its events (and types)", async () => {
    const { log, hub, reader } = await twin();
    const offsets = log
      .publish([
        { channel: 'r.x', type: 'a' },
        { channel: 'r.other' },
        { channel: 'r.x', type: 'b' },
        { channel: 'r.x', type: 'a' },
        { channel: 'r.other' },
        { channel: 'r.x', type: 'b' },
      ])
      .map((written) => written.offset);
    const options = { hub, reader, config };

    const three = await rewindStart(options, { channel: 'r.x', count: 3 });
    assert.equal(three.after, (offsets[2] ?? 0) - 1, 'before the third last event of r.x');
    assert.equal(three.head, 6);
    assert.deepEqual([three.requested, three.found, three.truncated], [3, 3, false]);
    assert.equal(three.position, formatPositionOf(three.epoch, 0, three.after));

    const typed = await rewindStart(options, { channel: 'r.x', count: 2, types: ['a'] });
    assert.equal(typed.after, (offsets[0] ?? 0) - 1, "both of type a: from r.x's first event");
    assert.equal(typed.found, 2);

    const more = await rewindStart(options, { channel: 'r.x', count: 10 });
    assert.deepEqual([more.found, more.truncated], [4, false], 'the log holds only four');
    assert.equal(more.after, -1);

    const none = await rewindStart(options, { channel: 'r.x', count: 0 });
    assert.deepEqual([none.after, none.found], [5, 0], 'live from the head');

    await assert.rejects(rewindStart(options, { channel: 'r.x', count: 51 }), isInvalid(50));
  });

  it('stops after edge.maxRewindScan records and says so (truncated), but not at the log start', async () => {
    const { log, hub, reader } = await twin();
    log.publish([
      { channel: 'r.sparse' },
      ...Array.from({ length: 25 }, () => ({ channel: 'r.busy' })),
    ]);
    const options = { hub, reader, config };
    const bounded = await rewindStart(options, { channel: 'r.sparse', count: 2 });
    assert.deepEqual([bounded.found, bounded.truncated], [0, true]);
    assert.equal(
      bounded.after,
      bounded.head - config.maxRewindScan - 1,
      'the oldest record scanned',
    );

    // Retention removed the sparse event: the scan ends at the log start, not the bound.
    log.truncate(0, 15);
    const started = await rewindStart(
      { hub, reader, config: { ...config, maxRewindScan: 100 } },
      { channel: 'r.sparse', count: 2 },
    );
    assert.deepEqual([started.found, started.truncated], [0, false]);
  });
});

describe('rewindCursor and RewindFilter', () => {
  const start = (channel: string, partition: number, after: number, head: number): RewindStart => ({
    channel,
    epoch: 'ep',
    partition,
    after,
    position: formatPositionOf('ep', partition, after),
    head,
    requested: 3,
    found: 3,
    truncated: false,
  });
  const event = (channel: string, partition: number, offset: number): EdgeEvent =>
    ({ channel, partition, offset }) as unknown as EdgeEvent;

  it('starts each partition at the lowest start of its channels', () => {
    const cursor = rewindCursor([start('a', 0, 5, 10), start('b', 0, 3, 12), start('c', 1, 7, 9)]);
    assert.equal(cursor.epoch, 'ep');
    assert.deepEqual([...cursor.offsets].sort(), [
      [0, 3],
      [1, 7],
    ]);
  });

  it("drops each channel's events up to its own start and other matches from before the request", () => {
    const filter = new RewindFilter([start('a', 0, 5, 10), start('b', 0, 8, 10)]);
    assert.equal(filter.admits(event('a', 0, 5)), false, "a's start");
    assert.equal(filter.admits(event('a', 0, 6)), true);
    assert.equal(filter.admits(event('b', 0, 7)), false, "older than b's last three");
    assert.equal(filter.admits(event('b', 0, 9)), true);
    // Another channel (a pattern's match): history below the head, live from it.
    assert.equal(filter.admits(event('p.x', 0, 9)), false);
    assert.equal(filter.admits(event('p.x', 0, 10)), true);
    assert.equal(filter.admits(event('p.x', 1, 0)), true, 'a partition no channel rewound');
  });
});
