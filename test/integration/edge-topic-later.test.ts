/**
 * An edge started before its topic exists (a fresh install where the edge
 * comes up before the ingest has created the topic) turns ready by itself
 * once the topic is there: no client request is needed, since a Service
 * sends none to an unready pod.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import {
  startEdge,
  stopOwnKafka,
  testKafka,
  uniqueName,
  type EdgeHarness,
  type TestKafka,
} from '../support/index.js';

describe('an edge started before its topic exists', () => {
  let kafka: TestKafka | undefined;
  let edge: EdgeHarness | undefined;
  let topic: string | undefined;

  after(async () => {
    await edge?.stop();
    if (topic !== undefined) await kafka?.deleteTopic(topic).catch(() => undefined);
    await kafka?.close();
    await stopOwnKafka();
  });

  it('turns ready once the topic is created, without any client', async () => {
    kafka = await testKafka();
    topic = uniqueName('later');
    edge = await startEdge({ brokers: kafka.brokers, topic });
    assert.equal(edge.app.ready().ready, false, 'not ready while the topic is missing');
    await sleep(2500);
    assert.equal(edge.app.ready().ready, false, 'still not ready: the topic is still missing');
    await kafka.admin.createTopics({
      topics: [{ topic, numPartitions: 2, replicationFactor: 1 }],
      waitForLeaders: true,
    });
    const deadline = Date.now() + 30_000;
    while (!edge.app.ready().ready && Date.now() < deadline) await sleep(100);
    assert.equal(edge.app.ready().ready, true, 'ready without a client request');
    const answer = await fetch(`${edge.httpBase}/readyz`);
    await answer.body?.cancel();
    assert.equal(answer.status, 200);
  });
});
