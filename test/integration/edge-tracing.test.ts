/**
 * One trace from the producer to delivery: the producer's traceparent
 * reaches ingest, ingest's publish span travels in the event through Kafka,
 * and the edge's delivery span continues it.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import {
  finishedSpans,
  TestSocket,
  type EdgeHarness,
  type IngestHarness,
  startEdgeStack,
  type EdgeStack,
} from '../support/index.js';

describe('tracing from producer to delivery', () => {
  let stack: EdgeStack;
  let ingest: IngestHarness;
  let edge: EdgeHarness;

  before(async () => {
    stack = await startEdgeStack({ name: 'edge-tracing', partitions: 2 });
    ({ ingest, edge } = stack);
  });

  after(() => stack.stop());

  async function publish(channel: string, traceparent: string): Promise<string> {
    const response = await fetch(`${ingest.httpBase}/v1/channels/${channel}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent },
      body: JSON.stringify({ type: 'traced', data: { at: Date.now() } }),
    });
    assert.equal(response.status, 200, await response.clone().text());
    const body = (await response.json()) as { results: { position: string }[] };
    return body.results[0]?.position ?? '';
  }

  it('continues a sampled producer trace in a delivery span per event, and none for unsampled ones', async () => {
    const channel = `traced.${randomBytes(3).toString('hex')}`;
    const socket = new TestSocket(edge.wsUrl, 'fanout.json.v1');
    await socket.opened;
    socket.sendJson({ subscribe: { requestId: 1, subscriptions: [{ channel }] } });
    await socket.takeJson('subscribed');
    const traceId = randomBytes(16).toString('hex');
    const producerSpanId = randomBytes(8).toString('hex');
    const unsampledTraceId = randomBytes(16).toString('hex');
    const sampledPosition = await publish(channel, `00-${traceId}-${producerSpanId}-01`);
    const unsampledPosition = await publish(
      channel,
      `00-${unsampledTraceId}-${randomBytes(8).toString('hex')}-00`,
    );
    const events = await socket.takeJson('event', 2);
    assert.deepEqual(
      events.map((event) => event['position']),
      [sampledPosition, unsampledPosition],
    );
    socket.close();
    await socket.closed;

    const inTrace = finishedSpans.spans().filter((span) => span.spanContext().traceId === traceId);
    const publishSpan = inTrace.find((span) => span.name.startsWith('POST'));
    const deliverSpan = inTrace.find((span) => span.name === 'fanout deliver');
    assert.ok(publishSpan, `an ingest span in the trace: ${inTrace.map((s) => s.name).join(', ')}`);
    assert.ok(deliverSpan, 'a delivery span in the trace');
    assert.equal(publishSpan.parentSpanContext?.spanId, producerSpanId);
    assert.equal(deliverSpan.parentSpanContext?.spanId, publishSpan.spanContext().spanId);
    assert.equal(deliverSpan.attributes['fanout.channel'], channel);
    assert.equal(deliverSpan.attributes['fanout.position'], sampledPosition);
    assert.equal(deliverSpan.attributes['fanout.deliveries.ws'], 1);
    assert.equal(deliverSpan.attributes['messaging.system'], 'kafka');
    assert.equal(
      finishedSpans.spans().filter((span) => span.spanContext().traceId === unsampledTraceId)
        .length,
      0,
    );
  });
});
