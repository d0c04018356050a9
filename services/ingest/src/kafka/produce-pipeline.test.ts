import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ProducePipeline,
  type PartitionAnswer,
  type PartitionRecord,
  type ProduceTransport,
} from './produce-pipeline.js';
import { encodeRecordHeaders } from './produce-request.js';

/** What a request carried for one partition. */
interface SentBatch {
  readonly partition: number;
  readonly baseSequence: number;
  readonly count: number;
}

interface SentRequest {
  readonly node: number;
  readonly batches: readonly SentBatch[];
  answer(answers: readonly PartitionAnswer[]): void;
  fail(error: Error): void;
}

function readUnsignedVarInt(body: Buffer, offset: number): [number, number] {
  let value = 0;
  let shift = 0;
  for (;;) {
    const byte = body[offset++] ?? 0;
    value += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) return [value, offset];
    shift += 7;
  }
}

/** The partitions of a Produce request body, with each batch's numbering. */
function readRequest(body: Buffer): SentBatch[] {
  let offset = 1 + 2 + 4;
  const [topics, afterTopics] = readUnsignedVarInt(body, offset);
  offset = afterTopics;
  assert.equal(topics - 1, 1, 'one topic');
  const [nameLength, afterLength] = readUnsignedVarInt(body, offset);
  const [partitions, afterPartitions] = readUnsignedVarInt(body, afterLength + nameLength - 1);
  offset = afterPartitions;
  const batches: SentBatch[] = [];
  for (let i = 0; i < partitions - 1; i++) {
    const partition = body.readInt32BE(offset);
    let length: number;
    [length, offset] = readUnsignedVarInt(body, offset + 4);
    const batch = body.subarray(offset, offset + length - 1);
    batches.push({
      partition,
      baseSequence: batch.readInt32BE(53),
      count: batch.readInt32BE(57),
    });
    offset += length - 1 + 1;
  }
  return batches;
}

/** A cluster whose answers the test gives; the log of each partition hands out offsets. */
class FakeCluster implements ProduceTransport {
  readonly requests: SentRequest[] = [];
  leaderOf: number[] = [1, 1, 2, 2];
  refreshes = 0;
  /** Next offset of each partition's log. */
  readonly logs = [0, 0, 0, 0];

  leaders(): Promise<readonly number[]> {
    this.refreshes++;
    return Promise.resolve([...this.leaderOf]);
  }

  produce(node: number, body: Buffer): Promise<readonly PartitionAnswer[]> {
    return new Promise((resolve, reject) => {
      this.requests.push({ node, batches: readRequest(body), answer: resolve, fail: reject });
    });
  }

  /** Kafka's answer when every batch of the request is appended. */
  appended(request: SentRequest): PartitionAnswer[] {
    return request.batches.map(({ partition, count }) => {
      const baseOffset = this.logs[partition] ?? 0;
      this.logs[partition] = baseOffset + count;
      return { partition, errorCode: 0, baseOffset: BigInt(baseOffset) };
    });
  }

  async nextRequest(index: number): Promise<SentRequest> {
    for (let turn = 0; turn < 200 && this.requests.length <= index; turn++) {
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    const request = this.requests[index];
    assert.ok(request, `request ${index} was sent`);
    return request;
  }
}

const headers = encodeRecordHeaders([['fanout-producer', 'test']]);
function record(partition: number): PartitionRecord {
  return { partition, key: Buffer.from('k'), value: Buffer.from('v'), timestamp: 1, headers };
}

function pipeline(cluster: FakeCluster, retries = 2): ProducePipeline {
  return new ProducePipeline(cluster, {
    topic: 'events',
    producerId: 7n,
    producerEpoch: 0,
    compression: 'none',
    ackTimeoutMs: 5000,
    retries,
    retryDelayMs: () => 1,
    leaders: cluster.leaderOf,
  });
}

describe('produce pipeline', () => {
  it('numbers each partition from where its last batch ended and sends one request per leader', async () => {
    const cluster = new FakeCluster();
    const producer = pipeline(cluster);
    const first = producer.send([record(0), record(2), record(0), record(1)]);
    const second = producer.send([record(0), record(3)]);
    assert.equal(cluster.requests.length, 4, 'both sends go out at once, one request per leader');
    assert.deepEqual(
      cluster.requests.map((request) => [request.node, request.batches]),
      [
        [
          1,
          [
            { partition: 0, baseSequence: 0, count: 2 },
            { partition: 1, baseSequence: 0, count: 1 },
          ],
        ],
        [2, [{ partition: 2, baseSequence: 0, count: 1 }]],
        [1, [{ partition: 0, baseSequence: 2, count: 1 }]],
        [2, [{ partition: 3, baseSequence: 0, count: 1 }]],
      ],
    );
    for (const request of cluster.requests) request.answer(cluster.appended(request));
    assert.deepEqual(
      await first,
      new Map([
        [0, 0],
        [1, 0],
        [2, 0],
      ]),
    );
    assert.deepEqual(
      await second,
      new Map([
        [0, 2],
        [3, 0],
      ]),
    );
  });

  it('wraps sequence numbers after the largest int32, as Kafka does', () => {
    const cluster = new FakeCluster();
    const producer = pipeline(cluster);
    const big: PartitionRecord[] = [];
    // Reach 2^31 - 2 without sending 2^31 records: number one huge batch by hand.
    (producer as unknown as { sequences: number[] }).sequences[0] = 2 ** 31 - 2;
    for (let i = 0; i < 3; i++) big.push(record(0));
    void producer.send(big);
    void producer.send([record(0)]);
    assert.deepEqual(
      cluster.requests.map((request) => request.batches[0]?.baseSequence),
      [2 ** 31 - 2, 1],
    );
  });

  it('retries a failed batch and the ones behind it in order, with the same numbers', async () => {
    const cluster = new FakeCluster();
    const producer = pipeline(cluster);
    const first = producer.send([record(0), record(0)]);
    const second = producer.send([record(0)]);
    const [a, b] = [await cluster.nextRequest(0), await cluster.nextRequest(1)];
    // The leader moved: the first batch is refused, the second is out of order.
    cluster.leaderOf = [2, 1, 2, 2];
    a.answer([{ partition: 0, errorCode: 6, baseOffset: -1n }]);
    b.answer([{ partition: 0, errorCode: 45, baseOffset: -1n }]);
    const retryA = await cluster.nextRequest(2);
    assert.equal(retryA.node, 2, 'sent to the new leader');
    assert.deepEqual(retryA.batches, [{ partition: 0, baseSequence: 0, count: 2 }]);
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(cluster.requests.length, 3, 'the second waits until the first is written');
    retryA.answer(cluster.appended(retryA));
    const retryB = await cluster.nextRequest(3);
    assert.deepEqual(retryB.batches, [{ partition: 0, baseSequence: 2, count: 1 }]);
    retryB.answer(cluster.appended(retryB));
    assert.deepEqual([...(await first)], [[0, 0]]);
    assert.deepEqual([...(await second)], [[0, 2]]);
    assert.ok(cluster.refreshes >= 1, 'the leaders were asked again');
  });

  it('gives up on a batch behind one that failed for good, without sending it again', async () => {
    const cluster = new FakeCluster();
    const producer = pipeline(cluster);
    const first = producer.send([record(1)]);
    const second = producer.send([record(1)]);
    const [a, b] = [await cluster.nextRequest(0), await cluster.nextRequest(1)];
    a.answer([{ partition: 1, errorCode: 10, baseOffset: -1n, errorMessage: 'too large' }]);
    b.answer([{ partition: 1, errorCode: 45, baseOffset: -1n }]);
    const failed = (await first).get(1);
    assert.ok(failed instanceof Error);
    assert.match(failed.message, /error 10: too large/);
    const behind = (await second).get(1);
    assert.ok(behind instanceof Error);
    assert.match(behind.message, /earlier batch of the partition was not written/);
    assert.equal(cluster.requests.length, 2, 'neither was sent again');
  });

  it('stops after the bounded number of retries of a request that keeps failing', async () => {
    const cluster = new FakeCluster();
    const producer = pipeline(cluster, 2);
    const sent = producer.send([record(2)]);
    for (let attempt = 0; attempt < 3; attempt++) {
      (await cluster.nextRequest(attempt)).fail(new Error('connection reset'));
    }
    const outcome = (await sent).get(2);
    assert.ok(outcome instanceof Error);
    assert.match(outcome.message, /connection reset/);
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(cluster.requests.length, 3, 'one attempt and two retries');
  });

  it('sends nothing more once closed, retries included', async () => {
    const cluster = new FakeCluster();
    const producer = pipeline(cluster);
    const sent = producer.send([record(3)]);
    producer.close();
    (await cluster.nextRequest(0)).fail(new Error('connection closed'));
    assert.ok((await sent).get(3) instanceof Error);
    const after = await producer.send([record(3)]);
    assert.match(String(after.get(3)), /closed/);
    assert.equal(cluster.requests.length, 1);
  });
});
