import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeEvent, encodeEvent, type fanout } from '@fanout/shared';
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
