import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import kafkajs from 'kafkajs';
import { partitionForChannel } from './channel-partition.js';

describe('channel partitioning', () => {
  it("agrees with Kafka's default partitioner (as implemented by kafkajs) for any key", () => {
    const partitioner = kafkajs.Partitioners.DefaultPartitioner();
    for (const partitions of [1, 3, 12, 100]) {
      const partitionMetadata = Array.from({ length: partitions }, (_, partitionId) => ({
        partitionId,
        leader: 1,
        partitionErrorCode: 0,
        replicas: [1],
        isr: [1],
        offlineReplicas: [],
      }));
      for (const key of [
        'a',
        'ab',
        'abc',
        'abcd',
        'orders.eu.1234',
        'ünïcödé.チャンネル',
        'x'.repeat(255),
      ]) {
        const expected = partitioner({
          topic: 't',
          partitionMetadata,
          message: { key, value: null },
        });
        assert.equal(partitionForChannel(key, partitions), expected, `${key} / ${partitions}`);
      }
    }
  });

  it('rejects a partition count that is not a positive integer', () => {
    assert.throws(() => partitionForChannel('a', 0), RangeError);
  });
});
