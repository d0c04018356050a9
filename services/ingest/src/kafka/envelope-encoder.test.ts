import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeEvent, encodeEvent, fanout, type StateOperation } from '@fanout/shared';
import { encodeEnvelope, encodeEnvelopeTail } from './envelope-encoder.js';

interface Case {
  readonly name: string;
  readonly id: string;
  readonly channel: string;
  readonly type: string;
  readonly data: Uint8Array;
  readonly contentType: string;
  readonly headers: Record<string, string>;
  readonly timeMs: number;
  readonly producer: string;
  readonly traceparent?: string;
  readonly tracestate?: string;
  readonly state?: StateOperation;
  readonly arrayKey?: string;
}

const stateNumbers: Record<StateOperation, fanout.v1.StateOperation> = {
  put: fanout.v1.StateOperation.STATE_OPERATION_PUT,
  merge: fanout.v1.StateOperation.STATE_OPERATION_MERGE,
  delete: fanout.v1.StateOperation.STATE_OPERATION_DELETE,
};

const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const base: Case = {
  name: 'typical',
  id: '5b0c7c43-5b7e-4f5e-9b8e-2f0d1f7a9c10',
  channel: 'orders.eu.1234',
  type: 'order.created',
  data: new Uint8Array(256).fill(7),
  contentType: 'application/json',
  headers: {},
  timeMs: 1_790_000_000_123,
  producer: 'billing',
};

const cases: Case[] = [
  base,
  { ...base, name: 'with trace context', traceparent },
  { ...base, name: 'with trace state', traceparent, tracestate: 'vendor=a,other=b' },
  { ...base, name: 'trace state without parent is not stored', tracestate: 'vendor=a' },
  {
    ...base,
    name: 'headers, one with an empty value',
    headers: { tenant: 'acme', 'x-empty': '', région: 'Zürich ✓' },
  },
  { ...base, name: 'empty type and data', type: '', data: new Uint8Array(0) },
  { ...base, name: 'empty producer', producer: '' },
  { ...base, name: 'whole second', timeMs: 1_790_000_000_000 },
  { ...base, name: 'epoch zero', timeMs: 0 },
  { ...base, name: 'first millisecond', timeMs: 1 },
  {
    ...base,
    name: 'multi-byte lengths and characters',
    id: 'id-'.repeat(40),
    channel: `channel.${'ü'.repeat(100)}`,
    data: new Uint8Array(70_000).map((_, i) => i % 251),
    contentType: 'text/plain; charset=utf-8',
    headers: { long: 'v'.repeat(300) },
    producer: 'producer-ñ',
    traceparent,
    tracestate: 's'.repeat(200),
  },
  {
    ...base,
    name: 'state put',
    type: '',
    data: new TextEncoder().encode('{"a":1}'),
    state: 'put',
  },
  {
    ...base,
    name: 'state put with an arrayKey',
    data: new TextEncoder().encode('[{"id":1}]'),
    state: 'put',
    arrayKey: '/id/ü~1x'.repeat(20),
  },
  {
    ...base,
    name: 'state merge with trace context',
    data: new TextEncoder().encode('{"a":null}'),
    contentType: 'application/merge-patch+json',
    traceparent,
    state: 'merge',
  },
  {
    ...base,
    name: 'state delete: no data, no content type, no producer',
    type: '',
    data: new Uint8Array(0),
    contentType: '',
    producer: '',
    state: 'delete',
  },
];

describe('envelope encoder', () => {
  for (const c of cases) {
    it(`writes the generated encoder's bytes: ${c.name}`, () => {
      const tail = encodeEnvelopeTail(c.timeMs, c.producer, c.traceparent, c.tracestate);
      const ours = encodeEnvelope(
        {
          id: c.id,
          type: c.type,
          data: c.data,
          contentType: c.contentType,
          headers: c.headers,
          ...(c.state ? { state: c.state } : {}),
          ...(c.arrayKey ? { arrayKey: c.arrayKey } : {}),
        },
        Buffer.from(c.channel, 'utf8'),
        tail,
      );
      const expected = encodeEvent({
        id: c.id,
        channel: c.channel,
        type: c.type,
        data: c.data,
        contentType: c.contentType,
        time: {
          seconds: Math.floor(c.timeMs / 1000),
          nanos: (c.timeMs % 1000) * 1_000_000,
        },
        headers: c.headers,
        ...(c.traceparent
          ? { trace: { traceparent: c.traceparent, tracestate: c.tracestate ?? '' } }
          : {}),
        producer: c.producer,
        ...(c.state ? { state: stateNumbers[c.state] } : {}),
        ...(c.arrayKey ? { arrayKey: c.arrayKey } : {}),
      });
      assert.deepEqual(ours, Buffer.from(expected));
      const decoded = decodeEvent(ours);
      assert.equal(decoded.channel, c.channel);
      assert.deepEqual(decoded.headers, c.headers);
      assert.equal(decoded.state, c.state ? stateNumbers[c.state] : 0);
      assert.equal(decoded.arrayKey, c.arrayKey ?? '');
    });
  }

  it('shares the tail between events without copying it into their buffers', () => {
    const tail = encodeEnvelopeTail(base.timeMs, base.producer, traceparent, undefined);
    const channel = Buffer.from('c');
    const fields = {
      id: 'a',
      type: '',
      data: new Uint8Array([1]),
      contentType: 'x/y',
      headers: {},
    };
    const first = encodeEnvelope(fields, channel, tail);
    const second = encodeEnvelope({ ...fields, id: 'b' }, channel, tail);
    assert.equal(decodeEvent(first).id, 'a');
    assert.equal(decodeEvent(second).id, 'b');
    assert.equal(decodeEvent(second).trace?.traceparent, traceparent);
  });
});
