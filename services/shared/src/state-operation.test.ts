import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { refusalCode as refusal } from './testing/refusal-code.js';
import { fanout } from '../generated/fanout.js';
import { eventFromJson } from './fanout-event.js';
import { encodeEvent } from './proto.js';
import { encodeEventFrame } from './proto-event-frame.js';
import {
  isStateOperation,
  stateContentTypes,
  stateOperationNumbers,
  stateOperationOf,
  stateOperations,
} from './state-operation.js';
import { wsProtoCodec } from './ws-proto-codec.js';

const { StateOperation } = fanout.v1;

const eventJson = {
  id: 'x',
  channel: 'a.b',
  type: '',
  contentType: 'application/json',
  headers: {},
  producer: '',
  position: 'ep:1:2',
};

describe('state operations', () => {
  it('have the numbers of fanout.v1.StateOperation', () => {
    assert.deepEqual(stateOperationNumbers, {
      put: StateOperation.STATE_OPERATION_PUT,
      merge: StateOperation.STATE_OPERATION_MERGE,
      delete: StateOperation.STATE_OPERATION_DELETE,
    });
    for (const operation of stateOperations) {
      assert.equal(stateOperationOf(stateOperationNumbers[operation]), operation);
      assert.ok(isStateOperation(operation));
    }
    assert.equal(stateOperationOf(StateOperation.STATE_OPERATION_UNSPECIFIED), undefined);
    assert.equal(stateOperationOf(undefined), undefined);
    assert.equal(stateOperationOf(4), null);
    assert.equal(isStateOperation('patch'), false);
    assert.deepEqual(stateContentTypes, {
      put: 'application/json',
      merge: 'application/merge-patch+json',
      delete: '',
    });
  });

  it('are read from the JSON event, and an unknown one is refused', () => {
    assert.equal(eventFromJson(eventJson).state, undefined);
    assert.equal('state' in eventFromJson(eventJson), false);
    const put = eventFromJson({ ...eventJson, state: 'put', data: { a: 1 } });
    assert.equal(put.state, 'put');
    assert.deepEqual(put.data, { a: 1 });
    assert.equal(eventFromJson({ ...eventJson, state: 'delete', contentType: '' }).state, 'delete');
    assert.equal(
      refusal(() => eventFromJson({ ...eventJson, state: 'replace' })),
      'frame_invalid',
    );
    assert.equal(
      refusal(() => eventFromJson({ ...eventJson, state: 2 })),
      'frame_invalid',
    );
  });

  it('are read from the binary event frame, and an unknown one is refused', () => {
    const frame = (state: fanout.v1.StateOperation) =>
      encodeEventFrame(
        encodeEvent({
          id: 'x',
          channel: 'a.b',
          data: new TextEncoder().encode('{"a":null}'),
          contentType: 'application/merge-patch+json',
          state,
        }),
        { epoch: 'ep', partition: 1, offset: 2 },
      );
    const merge = wsProtoCodec.decodeServerFrame(frame(StateOperation.STATE_OPERATION_MERGE));
    assert.equal(merge.kind, 'event');
    if (merge.kind === 'event') {
      assert.equal(merge.event.state, 'merge');
      assert.deepEqual(merge.event.data, { a: null });
      assert.equal(merge.event.position, 'ep:1:2');
    }
    const ordinary = wsProtoCodec.decodeServerFrame(
      frame(StateOperation.STATE_OPERATION_UNSPECIFIED),
    );
    assert.ok(ordinary.kind === 'event' && !('state' in ordinary.event));
    assert.equal(
      refusal(() =>
        wsProtoCodec.decodeServerFrame(
          // Field 11, a varint of 7, appended to the record as a newer ingest would write it.
          encodeEventFrame(
            Buffer.concat([encodeEvent({ id: 'x', channel: 'a.b' }), Buffer.from([11 << 3, 7])]),
            { epoch: 'ep', partition: 1, offset: 2 },
          ),
        ),
      ),
      'frame_invalid',
    );
  });
});
