import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeEvent, encodeEvent, fanout } from '@fanout/shared';
import { EdgeEvent, eventJsonText } from './edge-event.js';

const epoch = 'ww7w7_gUT7WHdd738IhAfQ';

function eventOf(properties: fanout.v1.Event.$Properties): fanout.v1.Event {
  return decodeEvent(encodeEvent(properties));
}

function parsedText(properties: fanout.v1.Event.$Properties): Record<string, unknown> {
  const text = eventJsonText(eventOf(properties), `${epoch}:3:42`);
  assert.ok(!text.includes('\n') && !text.includes('\r'), 'one line, fit for an SSE data field');
  return JSON.parse(text) as Record<string, unknown>;
}

const base = {
  id: 'e-1',
  channel: 'orders.eu',
  type: 'order.created',
  producer: 'checkout',
};

describe('event JSON', () => {
  it('writes every field of the protocol reference, in its order, with JSON data spliced in', () => {
    const text = eventJsonText(
      eventOf({
        ...base,
        contentType: 'application/json',
        data: Buffer.from('{"total": 12.50, "big": 12345678901234567890}'),
        time: { seconds: 1_700_000_000, nanos: 123_000_000 },
        headers: { region: 'eu' },
        trace: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
      }),
      `${epoch}:3:42`,
    );
    assert.equal(
      text,
      '{"id":"e-1","channel":"orders.eu","type":"order.created",' +
        '"data":{"total": 12.50, "big": 12345678901234567890},' +
        '"contentType":"application/json","time":"2023-11-14T22:13:20.123Z",' +
        '"headers":{"region":"eu"},"producer":"checkout",' +
        '"trace":{"traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01","tracestate":""},' +
        `"position":"${epoch}:3:42"}`,
    );
  });

  it('puts JSON with line breaks on one line', () => {
    const json = parsedText({
      ...base,
      contentType: 'application/cloudevents+json; charset=utf-8',
      data: Buffer.from('{\r\n  "a": [1,\n 2],\n  "s": "x\\ny"\n}\n'),
    });
    assert.deepEqual(json['data'], { a: [1, 2], s: 'x\ny' });
  });

  it('sends data that is not JSON, or not valid JSON, as base64', () => {
    const binary = parsedText({
      ...base,
      contentType: 'application/octet-stream',
      data: Buffer.from([0, 1, 2, 255]),
    });
    assert.equal(binary['dataBase64'], 'AAEC/w==');
    assert.equal(binary['data'], undefined);
    const broken = parsedText({
      ...base,
      contentType: 'application/json',
      data: Buffer.from('{"unterminated": '),
    });
    assert.equal(broken['dataBase64'], Buffer.from('{"unterminated": ').toString('base64'));
    const quoted = parsedText({
      ...base,
      id: 'quote"and\\backslash',
      contentType: 'text/plain',
      data: Buffer.from('plain "text"'),
    });
    assert.equal(quoted['id'], 'quote"and\\backslash');
    assert.equal(quoted['dataBase64'], Buffer.from('plain "text"').toString('base64'));
  });

  it('leaves out data, time and trace when the event has none', () => {
    const json = parsedText({ ...base, contentType: 'application/json' });
    assert.deepEqual(Object.keys(json), [
      'id',
      'channel',
      'type',
      'contentType',
      'headers',
      'producer',
      'position',
    ]);
  });

  it('says what a state change does, right after the type; an ordinary event says nothing', () => {
    const put = parsedText({
      ...base,
      type: '',
      contentType: 'application/json',
      data: Buffer.from('{"a":1}'),
      state: fanout.v1.StateOperation.STATE_OPERATION_PUT,
    });
    assert.deepEqual(Object.keys(put).slice(0, 5), ['id', 'channel', 'type', 'state', 'data']);
    assert.equal(put['state'], 'put');
    assert.deepEqual(put['data'], { a: 1 });
    const merge = parsedText({
      ...base,
      contentType: 'application/merge-patch+json',
      data: Buffer.from('{"a":null}'),
      state: fanout.v1.StateOperation.STATE_OPERATION_MERGE,
    });
    assert.equal(merge['state'], 'merge');
    assert.deepEqual(merge['data'], { a: null }, 'a merge patch is JSON (+json)');
    const removal = parsedText({ ...base, state: fanout.v1.StateOperation.STATE_OPERATION_DELETE });
    assert.equal(removal['state'], 'delete');
    assert.equal(removal['contentType'], '');
    assert.equal('data' in removal || 'dataBase64' in removal, false);
    // An operation this edge does not know goes out as its number, which clients refuse.
    // (Field 11, a varint of 9, appended to the record as a newer ingest would write it.)
    const unknown = decodeEvent(Buffer.concat([encodeEvent(base), Buffer.from([11 << 3, 9])]));
    assert.equal(
      (JSON.parse(eventJsonText(unknown, `${epoch}:3:42`)) as Record<string, unknown>)['state'],
      9,
    );
    assert.equal('state' in parsedText({ ...base, contentType: 'text/plain' }), false);

    const value = Buffer.from(
      encodeEvent({ ...base, state: fanout.v1.StateOperation.STATE_OPERATION_DELETE }),
    );
    const event = new EdgeEvent(epoch, 3, { offset: 42, timestamp: 0, value, headers: [] });
    assert.equal(event.state, 'delete');
    assert.equal(
      new EdgeEvent(epoch, 3, {
        offset: 43,
        timestamp: 0,
        value: Buffer.from(encodeEvent(base)),
        headers: [],
      }).state,
      undefined,
    );
  });

  it('is what an EdgeEvent sends, in the JSON frame too', () => {
    const value = Buffer.from(
      encodeEvent({ ...base, contentType: 'application/json', data: Buffer.from('[1]') }),
    );
    const event = new EdgeEvent(epoch, 3, { offset: 42, timestamp: 0, value, headers: [] });
    const json = JSON.parse(event.json) as Record<string, unknown>;
    assert.deepEqual(json['data'], [1]);
    assert.equal(json['position'], event.position);
    assert.equal(event.jsonFrame, `{"event":${event.json}}`);
    assert.equal(event.jsonFrameBytes, Buffer.byteLength(event.jsonFrame));
  });
});
