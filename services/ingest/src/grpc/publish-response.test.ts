import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fanout } from '@fanout/shared';
import { encodePublishResponse, type PublishResultValue } from './publish-response.js';

const generated = (results: readonly PublishResultValue[]): Buffer =>
  Buffer.from(
    fanout.v1.PublishResponse.encode({
      results: results.map((result) => ({
        id: result.id,
        position: { ...result.position },
        duplicate: result.duplicate,
      })),
    }).finish(),
  );

const result = (
  id: string,
  partition: number,
  offset: number,
  duplicate = false,
  epoch = 'q1zX-9_e',
): PublishResultValue => ({ id, position: { epoch, partition, offset }, duplicate });

const uuid = '5b0c7c43-5b7e-4f5e-9b8e-2f0d1f7a9c10';
const cases: { readonly name: string; readonly results: readonly PublishResultValue[] }[] = [
  { name: 'no results', results: [] },
  { name: 'one generated id', results: [result(uuid, 3, 1234)] },
  { name: 'partition and offset zero', results: [result(uuid, 0, 0)] },
  { name: 'a duplicate', results: [result('order-7', 11, 99, true)] },
  { name: 'an empty id', results: [result('', 1, 1)] },
  { name: 'offset -1 (ten-byte varint)', results: [result(uuid, 2, -1)] },
  {
    name: 'large numbers',
    results: [result(uuid, 2 ** 31 - 1, 2 ** 53 - 1), result(uuid, 128, 2 ** 35)],
  },
  {
    name: 'long and multi-byte ids',
    results: [result('ü-'.repeat(40), 5, 300), result('x'.repeat(128), 5, 301)],
  },
  {
    name: 'epochs that change between results',
    results: [
      result(uuid, 1, 1, false, 'a'),
      result(uuid, 1, 2, false, 'b'.repeat(64)),
      result(uuid, 1, 3, true, 'a'),
    ],
  },
  {
    name: 'a full batch',
    results: Array.from({ length: 1000 }, (_, i) =>
      result(`${uuid.slice(0, -4)}${i}`, i % 12, i * 977, i % 7 === 0),
    ),
  },
];

describe('PublishResponse encoder', () => {
  for (const c of cases) {
    it(`writes the generated encoder's bytes: ${c.name}`, () => {
      assert.deepEqual(encodePublishResponse(c.results), generated(c.results));
    });
  }

  it('decodes to the same results with the generated decoder', () => {
    const results = [result(uuid, 7, 42), result('mine', 0, 0, true)];
    const decoded = fanout.v1.PublishResponse.decode(encodePublishResponse(results));
    assert.deepEqual(
      decoded.results.map((r) => ({
        id: r.id,
        position: {
          epoch: r.position?.epoch,
          partition: r.position?.partition,
          offset: r.position?.offset,
        },
        duplicate: r.duplicate,
      })),
      results,
    );
  });
});
