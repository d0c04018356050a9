import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { wsJsonCodec, type JsonPatchOperation, type JsonValue } from '@fanout/shared';
import { PatchRing, patchRingFloorBytes } from './patch-ring.js';
import { StateStep } from './state-step.js';

function step(offset: number, value: JsonValue, previous: JsonValue = {}): StateStep {
  const ops: JsonPatchOperation[] = [{ op: 'replace', path: '/v', value }];
  return new StateStep(offset, `ep:3:${offset}`, `ep:3:${offset - 1}`, ops, {
    previous,
    next: { v: value },
    nextJson: JSON.stringify({ v: value }),
  });
}

describe('patch ring', () => {
  it('bounds the held patches by count and by bytes, always holding the newest', () => {
    const ring = new PatchRing(64, 0, 1);
    const small = 'x'.repeat(100);
    for (let offset = 1; offset <= 30; offset++) ring.push(step(offset, small), 5000);
    assert.ok(ring.bytes <= 5000, `${ring.bytes} bytes held`);
    const held = ring.size;
    assert.ok(held > 1 && held < 30, `${held} held`);
    assert.equal(ring.base, 30 - held);
    assert.equal(ring.after(ring.base - 1), undefined, 'older than the ring: a snapshot');
    assert.deepEqual(
      ring.after(ring.base)?.map((s) => s.offset),
      Array.from({ length: held }, (_, i) => ring.base + 1 + i),
    );

    // A patch larger than the bound is still held alone; the floor holds small documents' patches.
    ring.push(step(31, 'y'.repeat(8000)), 5000);
    assert.equal(ring.size, 1);
    assert.equal(ring.base, 30);
    const tiny = new PatchRing(64, 0, 1);
    for (let offset = 1; offset <= 4; offset++) tiny.push(step(offset, offset), 8);
    assert.ok(tiny.size >= 3, `small patches of a small document fit in ${patchRingFloorBytes} B`);

    const counted = new PatchRing(2, 0, Number.POSITIVE_INFINITY);
    for (let offset = 1; offset <= 5; offset++) counted.push(step(offset, small), 10);
    assert.equal(counted.size, 2);
    assert.equal(counted.base, 3);
  });

  it('keeps a released step as its encoded patch: JSON Patch only, same bytes', () => {
    const ring = new PatchRing(64, 0);
    const first = step(1, { a: [1, 2] });
    ring.push(first, 100);
    const json = first.json;
    const frame = first.wsFrame('c', 'json', 'json-patch');
    assert.equal(first.canEncode('merge-patch'), true);
    assert.equal(ring.after(0, 'merge-patch')?.length, 1);
    ring.push(step(2, 'b'), 100);
    assert.equal(first.canEncode('merge-patch'), false, 'released once superseded');
    assert.equal(first.canEncode('json-patch'), true);
    assert.equal(first.json, json);
    assert.equal(first.position, 'ep:3:1');
    assert.equal(first.base, 'ep:3:0');
    assert.deepEqual(first.ops, [{ op: 'replace', path: '/v', value: { a: [1, 2] } }]);
    assert.equal(first.wsFrame('c', 'json', 'json-patch'), frame);
    assert.equal(
      first.sseEvent,
      `event: patch\nid: ep:3:1\ndata: {"position":"ep:3:1","base":"ep:3:0","op":[{"op":"replace","path":"/v","value":{"a":[1,2]}}]}\n\n`,
    );
    // A merge-patch reader resuming before the newest step gets a snapshot instead.
    assert.equal(ring.after(0, 'merge-patch'), undefined);
    assert.equal(ring.after(1, 'merge-patch')?.length, 1);
    ring.releaseNewest();
    assert.equal(ring.after(1, 'merge-patch'), undefined);
    assert.equal(ring.after(1, 'json-patch')?.length, 1);
    const decoded = wsJsonCodec.decodeServerFrame(
      first.wsFrame('c', 'json', 'merge-patch') as string,
    );
    assert.equal(decoded.kind === 'patch' ? decoded.delta : undefined, 'json-patch');
  });
});
