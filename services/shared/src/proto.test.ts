import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IngestServiceDefinition } from '../generated/ingest-service.js';
import {
  ClientFrame,
  decodeEvent,
  DisconnectAction,
  encodeEvent,
  PublishRequest,
  ServerFrame,
} from './proto.js';

describe('protobuf contract', () => {
  it('round-trips an event envelope as a Kafka record value', () => {
    const bytes = encodeEvent({
      id: 'evt-1',
      channel: 'orders.eu.1',
      type: 'order.created',
      data: new Uint8Array([1, 2, 3]),
      contentType: 'application/octet-stream',
      time: { seconds: 1_700_000_000, nanos: 5 },
      headers: { tenant: 'a' },
      trace: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
      producer: 'svc-a',
    });
    const event = decodeEvent(bytes);
    assert.equal(event.channel, 'orders.eu.1');
    assert.deepEqual([...event.data], [1, 2, 3]);
    assert.equal(event.time?.seconds, 1_700_000_000);
    assert.equal(event.headers['tenant'], 'a');
    assert.equal(event.position, null, 'positions are never stored');
  });

  it('round-trips client and server frames', () => {
    const client = ClientFrame.decode(
      ClientFrame.encode({
        subscribe: {
          requestId: 7,
          subscriptions: [
            { channel: 'orders.*', since: { epoch: 'e', partition: 1, offset: 9 }, types: ['x'] },
          ],
        },
      }).finish(),
    );
    assert.equal(client.frame, 'subscribe');
    assert.equal(client.subscribe?.subscriptions?.[0]?.since?.offset, 9);

    const server = ServerFrame.decode(
      ServerFrame.encode({
        disconnect: {
          closeCode: 4200,
          code: 'draining',
          action: DisconnectAction.DISCONNECT_ACTION_RESUME_ELSEWHERE,
          hint: 'ws://b',
        },
      }).finish(),
    );
    assert.equal(server.frame, 'disconnect');
    assert.equal(server.disconnect?.code, 'draining');
  });

  it('defines the ingest service for grpc-js with its streaming shape', () => {
    assert.equal(IngestServiceDefinition.publish.path, '/fanout.v1.IngestService/Publish');
    assert.equal(IngestServiceDefinition.publish.requestStream, false);
    assert.equal(IngestServiceDefinition.publishStream.requestStream, true);
    assert.equal(IngestServiceDefinition.publishStream.responseStream, true);
    const bytes = IngestServiceDefinition.publish.requestSerialize(
      PublishRequest.create({ events: [{ channel: 'a', data: new Uint8Array([1]) }] }),
    );
    const decoded = IngestServiceDefinition.publish.requestDeserialize(bytes);
    assert.equal(decoded.events[0]?.channel, 'a');
  });
});
