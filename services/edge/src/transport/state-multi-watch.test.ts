/**
 * `StateMultiWatch` with two trackers of one partition whose changes reach
 * the stream out of order (one tracker folds a fetch before the other): a
 * change waits until every tracker of its partition has folded through it,
 * the changes go out in offset order, and the cursor of each `id:` never
 * passes a change of the stream that was not sent before it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatStreamCursor, parseStreamCursor } from '@fanout/shared';
import { Registry } from 'prom-client';
import { createEdgeMetrics } from '../edge-metrics.js';
import { SessionRegistry } from '../subscriptions/session-registry.js';
import type {
  StateListener,
  StateOpening,
  StateSnapshot,
  StateTracker,
} from '../subscriptions/state/state-tracker.js';
import type { RefusedChange, StateStep } from '../subscriptions/state/state-step.js';
import type { SseStream } from './sse-stream.js';
import { StateMultiWatch } from './state-multi-watch.js';

const epoch = 'ep0ch';
const partition = 0;

/** The part of a tracker the stream uses: one channel, folded through an offset we set. */
class FakeTracker {
  readonly partition = partition;
  readonly epoch = epoch;
  readonly channel: string;
  folded: number;
  listener: StateListener | undefined;

  constructor(channel: string, folded: number) {
    this.channel = channel;
    this.folded = folded;
  }

  foldedThrough(): number {
    return this.folded;
  }

  join(listener: StateListener): StateOpening {
    this.listener = listener;
    return { kind: 'snapshot', snapshot: this.snapshot(), reset: false };
  }

  leave(listener: StateListener): void {
    if (this.listener === listener) this.listener = undefined;
  }

  snapshot(): StateSnapshot {
    return {
      channel: this.channel,
      document: { n: 0 },
      json: '{"n":0}',
      position: `${epoch}:${partition}:${this.folded}`,
      offset: this.folded,
    };
  }

  /** Folds through `through`, emitting the change of its channel at `offset`. */
  change(offset: number, through = offset): void {
    this.folded = through;
    const step = {
      offset,
      position: `${epoch}:${partition}:${offset}`,
      json: `{"position":"${epoch}:${partition}:${offset}","op":[]}`,
    };
    this.listener?.changed(step as unknown as StateStep);
  }

  refuse(offset: number, through = offset): void {
    this.folded = through;
    const change = {
      offset,
      position: `${epoch}:${partition}:${offset}`,
      json: `{"position":"${epoch}:${partition}:${offset}","reason":"invalid-json"}`,
    };
    this.listener?.refused(change as unknown as RefusedChange);
  }
}

/** The part of an SSE stream the watch writes to: the text sent, event by event. */
class FakeStream {
  readonly key = 'sse-test';
  closed = false;
  text = '';
  ends: string[] = [];

  start(): void {
    // Headers: nothing to record.
  }

  send(frame: string): void {
    this.text += frame;
  }

  end(code: string): void {
    this.ends.push(code);
    this.closed = true;
  }

  /** The events sent so far, `[event, id, data]`. */
  events(): { event: string; id: string | undefined; data: string }[] {
    return this.text
      .split('\n\n')
      .filter((block) => block !== '')
      .map((block) => {
        const lines = block.split('\n');
        const field = (name: string): string | undefined =>
          lines.find((line) => line.startsWith(`${name}: `))?.slice(name.length + 2);
        return { event: field('event') ?? '', id: field('id'), data: field('data') ?? '' };
      });
  }
}

function watchOf(trackers: readonly FakeTracker[]): {
  stream: FakeStream;
  watch: StateMultiWatch;
} {
  const stream = new FakeStream();
  const watch = new StateMultiWatch(
    stream as unknown as SseStream,
    trackers as unknown as StateTracker[],
    new SessionRegistry(),
    createEdgeMetrics(new Registry()),
  );
  return { stream, watch };
}

/** Lets the microtask that writes held changes run. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function offsetOf(cursor: string | undefined): number | undefined {
  return cursor === undefined ? undefined : parseStreamCursor(cursor).offsets.get(partition);
}

describe('StateMultiWatch', () => {
  it('holds a change until every tracker of its partition folded through it, then writes in offset order', async () => {
    const a = new FakeTracker('rooms.a', 10);
    const b = new FakeTracker('rooms.b', 10);
    const { stream, watch } = watchOf([a, b]);
    watch.open(new Map([[partition, 10]]), undefined);
    const opening = stream.events();
    assert.deepEqual(
      opening.map((event) => event.event),
      ['snapshot', 'snapshot'],
    );
    assert.equal(opening[0]?.id, undefined, 'only the last snapshot of the group has an id');
    assert.equal(offsetOf(opening[1]?.id), 10);

    // b folds a fetch first: its change at 12, while a is still at 10 (a's
    // change at 11 is in the same fetch).
    b.change(12, 13);
    await settle();
    assert.equal(stream.events().length, 2, "b's change waits: a has not folded 11 yet");
    assert.equal(offsetOf(watch.position()), 10, 'the cursor does not pass the unsent change');

    // a folds the same fetch: its change at 11.
    a.change(11, 13);
    await settle();
    const changes = stream.events().slice(2);
    assert.deepEqual(
      changes.map((event) => [event.event, offsetOf(event.id)]),
      [
        ['patch', 11],
        ['patch', 12],
      ],
    );
    assert.deepEqual(
      changes.map((event) => (JSON.parse(event.data) as { channel: string }).channel),
      ['rooms.a', 'rooms.b'],
    );
    assert.equal(watch.position(), formatStreamCursor({ epoch, offsets: new Map([[0, 12]]) }));
    watch.end();
  });

  it('never sends a cursor past a change another tracker has yet to give, refusals included', async () => {
    const a = new FakeTracker('rooms.a', 5);
    const b = new FakeTracker('rooms.b', 5);
    const { stream, watch } = watchOf([a, b]);
    watch.open(new Map([[partition, 5]]), undefined);
    // a is ahead by two fetches: changes at 6 and 9; b has folded only to 7
    // and gives a refused change at 7.
    a.change(6, 9);
    a.change(9, 9);
    b.refuse(7, 7);
    await settle();
    const sent = stream.events().slice(2);
    assert.deepEqual(
      sent.map((event) => [event.event, offsetOf(event.id)]),
      [
        ['patch', 6],
        ['state_change_refused', 7],
      ],
      'up to what both folded (7), in offset order; 9 waits for b',
    );
    assert.equal(offsetOf(watch.position()), 7);
    // b folds through 9 (its channel has no change at 8 or 9): 9 goes out.
    b.folded = 9;
    b.change(8, 9);
    await settle();
    assert.deepEqual(
      stream
        .events()
        .slice(4)
        .map((event) => [event.event, offsetOf(event.id)]),
      [
        ['patch', 8],
        ['patch', 9],
      ],
    );
    // Every id only moves forward.
    const ids = stream
      .events()
      .map((event) => offsetOf(event.id))
      .filter((offset) => offset !== undefined);
    assert.deepEqual(
      ids,
      [...ids].sort((x, y) => x - y),
    );
    watch.end();
    assert.equal(a.listener, undefined, 'the trackers are left at the end');
    assert.equal(b.listener, undefined);
  });
});
