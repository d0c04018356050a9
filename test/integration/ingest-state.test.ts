/**
 * State changes through the ingest into Kafka, over HTTP (PUT, PATCH,
 * DELETE /v1/state/{channel}) and gRPC (ChangeState): each is one record of
 * its channel with `Event.state` set and the operation's content type, in
 * the channel's partition and order; retries with the same id answer the
 * first write; malformed changes are refused with their catalog codes and
 * nothing is written.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { decodeEvent, fanout, parsePosition, partitionForChannel } from '@fanout/shared';
import {
  readTopic,
  startIngest,
  stopOwnKafka,
  testKafka,
  type IngestHarness,
  type TestKafka,
} from '../support/index.js';

const { StateOperation } = fanout.v1;
const bytes = (text: string) => new TextEncoder().encode(text);

interface StateAnswer {
  readonly id: string;
  readonly position: string;
  readonly duplicate: boolean;
}

function errorCode(error: unknown): string | undefined {
  const value = (error as { metadata?: grpc.Metadata }).metadata?.get('fanout-error-code')[0];
  return value === undefined ? undefined : String(value);
}

describe('ingest state changes into Kafka', () => {
  let kafka: TestKafka;
  let ingest: IngestHarness;
  let topic: string;

  before(async () => {
    kafka = await testKafka();
    topic = await kafka.createTopic({ name: 'ingest-state', partitions: 3 });
    ingest = await startIngest({
      brokers: kafka.brokers,
      topic,
      partitions: 3,
      env: {
        FANOUT_STATE_MAX_DOCUMENT_BYTES: '1024',
        FANOUT_STATE_MAX_PATCH_BYTES: '256',
        FANOUT_STATE_MAX_DEPTH: '8',
      },
    });
  });

  after(async () => {
    await ingest.stop();
    await kafka.close();
    await stopOwnKafka();
  });

  const url = (channel: string, query = '') => `${ingest.httpBase}/v1/state/${channel}${query}`;

  async function change(
    method: string,
    channel: string,
    body: string | Uint8Array | undefined,
    headers: Record<string, string> = {},
    query = '',
  ): Promise<Response> {
    return fetch(url(channel, query), {
      method,
      headers,
      ...(body === undefined ? {} : { body }),
    });
  }

  async function answered(response: Response): Promise<StateAnswer> {
    const text = await response.text();
    assert.equal(response.status, 200, text);
    return JSON.parse(text) as StateAnswer;
  }

  async function refused(response: Response): Promise<{ status: number; code: string }> {
    const body = (await response.json()) as { error: { code: string } };
    return { status: response.status, code: body.error.code };
  }

  async function recordAt(position: string) {
    const { partition, offset } = parsePosition(position);
    const record = (await readTopic(kafka.kafka, topic)).find(
      (r) => r.partition === partition && r.offset === offset,
    );
    assert.ok(record, `a record at ${position}`);
    return { record, event: decodeEvent(record.value) };
  }

  it('writes PUT, PATCH and DELETE over HTTP as records of the channel with state set, in order', async () => {
    const channel = 'rooms.http.1';
    const before = await fetch(`${ingest.httpBase}/v1/channels/${channel}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'chat', data: { text: 'hi' } }),
    });
    assert.equal(before.status, 200);
    const event = ((await before.json()) as { results: StateAnswer[] }).results[0];
    const put = await answered(
      await change(
        'PUT',
        channel,
        '{"title":"Room","members":["ann"]}',
        { 'content-type': 'application/json; charset=utf-8' },
        '?type=room.state&arrayKey=/members~1id',
      ),
    );
    const patch = await answered(
      await change('PATCH', channel, '{"title":null,"topic":"x"}', {
        'content-type': 'application/merge-patch+json',
      }),
    );
    const remove = await answered(await change('DELETE', channel, undefined));
    assert.equal(put.duplicate, false);
    assert.match(put.id, /^[0-9a-f-]{36}$/, 'an id is generated');

    const positions = [event?.position ?? '', put.position, patch.position, remove.position].map(
      (text) => parsePosition(text),
    );
    for (const position of positions) {
      assert.equal(position.epoch, ingest.app.topic.epoch);
      assert.equal(position.partition, partitionForChannel(channel, 3), "the channel's partition");
    }
    for (let i = 1; i < positions.length; i++) {
      assert.ok(positions[i]!.offset > positions[i - 1]!.offset, 'ordered with the events');
    }

    const stored = await recordAt(put.position);
    assert.equal(stored.record.key, channel);
    assert.equal(stored.event.state, StateOperation.STATE_OPERATION_PUT);
    assert.equal(stored.event.contentType, 'application/json');
    assert.equal(stored.event.type, 'room.state');
    assert.equal(stored.event.id, put.id);
    assert.equal(new TextDecoder().decode(stored.event.data), '{"title":"Room","members":["ann"]}');
    assert.equal(stored.event.producer, 'anonymous');
    assert.equal(stored.event.arrayKey, '/members~1id', 'the arrayKey is stored as sent');

    const patched = (await recordAt(patch.position)).event;
    assert.equal(patched.state, StateOperation.STATE_OPERATION_MERGE);
    assert.equal(patched.contentType, 'application/merge-patch+json');
    assert.equal(patched.type, '');
    assert.equal(patched.arrayKey, '', 'a merge carries no arrayKey');
    assert.equal(new TextDecoder().decode(patched.data), '{"title":null,"topic":"x"}');

    const removed = (await recordAt(remove.position)).event;
    assert.equal(removed.state, StateOperation.STATE_OPERATION_DELETE);
    assert.equal(removed.contentType, '');
    assert.equal(removed.data.byteLength, 0);

    const ordinary = (await recordAt(event?.position ?? '')).event;
    assert.equal(ordinary.state, StateOperation.STATE_OPERATION_UNSPECIFIED, 'events have none');
  });

  it('answers an HTTP retry with the same Idempotency-Key from the first write, writing once', async () => {
    const channel = 'rooms.http.retry';
    const send = () =>
      change('PUT', channel, '{"v":1}', {
        'content-type': 'application/json',
        'idempotency-key': 'room-v1',
      });
    const first = await answered(await send());
    const second = await answered(await send());
    assert.deepEqual(first, { id: 'room-v1', position: first.position, duplicate: false });
    assert.deepEqual(second, { ...first, duplicate: true });
    const copies = (await readTopic(kafka.kafka, topic)).filter(
      (r) => r.key === channel && decodeEvent(r.value).id === 'room-v1',
    );
    assert.equal(copies.length, 1);
  });

  it('refuses malformed HTTP state changes with their catalog codes, writing nothing', async () => {
    const channel = 'rooms.http.refused';
    const json = { 'content-type': 'application/json' };
    const patchType = { 'content-type': 'application/merge-patch+json' };
    const cases: [string, Promise<Response>, number, string][] = [
      [
        'PUT as text/plain',
        change('PUT', channel, '{}', { 'content-type': 'text/plain' }),
        415,
        'content_type_not_allowed',
      ],
      [
        'PATCH as application/json',
        change('PATCH', channel, '{}', json),
        415,
        'content_type_not_allowed',
      ],
      [
        'PUT as merge patch',
        change('PUT', channel, '{}', patchType),
        415,
        'content_type_not_allowed',
      ],
      ['PUT of no JSON', change('PUT', channel, '{"a":', json), 400, 'state_invalid'],
      ['PUT with trailing garbage', change('PUT', channel, '{"a":1}]', json), 400, 'state_invalid'],
      [
        'PUT with a byte order mark',
        change('PUT', channel, new Uint8Array([0xef, 0xbb, 0xbf, 0x7b, 0x7d]), json),
        400,
        'state_invalid',
      ],
      [
        'PUT of invalid UTF-8',
        change('PUT', channel, new Uint8Array([0x22, 0xff, 0x22]), json),
        400,
        'state_invalid',
      ],
      [
        'PUT nested too deep',
        change('PUT', channel, '['.repeat(9) + ']'.repeat(9), json),
        400,
        'state_invalid',
      ],
      ['PUT of an empty body', change('PUT', channel, '', json), 400, 'state_invalid'],
      ['DELETE with a body', change('DELETE', channel, '{}', json), 400, 'state_invalid'],
      [
        'PUT over maxDocumentBytes',
        change('PUT', channel, JSON.stringify('d'.repeat(1100)), json),
        413,
        'state_too_large',
      ],
      [
        'PATCH over maxPatchBytes',
        change('PATCH', channel, JSON.stringify('p'.repeat(300)), patchType),
        413,
        'state_too_large',
      ],
      ['an invalid channel', change('PUT', 'rooms..x', '{}', json), 400, 'channel_invalid'],
      [
        'an arrayKey that is not a JSON Pointer',
        change('PUT', channel, '[]', json, '?arrayKey=id'),
        400,
        'invalid_argument',
      ],
      [
        'an arrayKey with a bad escape',
        change('PUT', channel, '[]', json, '?arrayKey=/a~2'),
        400,
        'invalid_argument',
      ],
      [
        'an arrayKey over 256 characters',
        change('PUT', channel, '[]', json, `?arrayKey=/${'k'.repeat(256)}`),
        400,
        'invalid_argument',
      ],
      [
        'an arrayKey on PATCH',
        change('PATCH', channel, '{}', patchType, '?arrayKey=/id'),
        400,
        'invalid_argument',
      ],
      ['POST', change('POST', channel, '{}', json), 405, 'method_not_allowed'],
    ];
    for (const [name, response, status, code] of cases) {
      assert.deepEqual(await refused(await response), { status, code }, name);
    }
    const post = await change('GET', channel, undefined);
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'PUT, PATCH, DELETE');
    await post.body?.cancel();
    assert.equal((await change('PUT', `${channel}/more`, '{}', json)).status, 404);
    assert.equal(
      (await readTopic(kafka.kafka, topic)).filter((r) => r.key === channel).length,
      0,
      'nothing was written',
    );
  });

  it('accepts a merge patch that is not an object, which replaces the document', async () => {
    const answer = await answered(
      await change('PATCH', 'rooms.http.scalar', '[1,2]', {
        'content-type': 'application/merge-patch+json',
      }),
    );
    assert.equal(new TextDecoder().decode((await recordAt(answer.position)).event.data), '[1,2]');
  });

  it('writes ChangeState over gRPC the same way, with headers and type', async () => {
    const channel = 'rooms.grpc.1';
    const put = await ingest.client.changeState({
      channel,
      operation: StateOperation.STATE_OPERATION_PUT,
      data: bytes('{"n":1}'),
      type: 'room.state',
      headers: { tenant: 'acme' },
      arrayKey: '/id',
    });
    const merge = await ingest.client.changeState({
      channel,
      operation: StateOperation.STATE_OPERATION_MERGE,
      data: bytes('{"n":2}'),
      id: 'merge-1',
    });
    const remove = await ingest.client.changeState({
      channel,
      operation: StateOperation.STATE_OPERATION_DELETE,
    });
    for (const answer of [put, merge, remove]) {
      assert.equal(answer.position?.epoch, ingest.app.topic.epoch);
      assert.equal(answer.position?.partition, partitionForChannel(channel, 3));
      assert.equal(answer.duplicate, false);
    }
    assert.equal(merge.id, 'merge-1');
    assert.ok(put.position!.offset! < merge.position!.offset!);
    assert.ok(merge.position!.offset! < remove.position!.offset!);

    const records = (await readTopic(kafka.kafka, topic)).filter((r) => r.key === channel);
    const events = records.map((r) => decodeEvent(r.value));
    assert.deepEqual(
      events.map((e) => [e.state, e.contentType, new TextDecoder().decode(e.data)]),
      [
        [StateOperation.STATE_OPERATION_PUT, 'application/json', '{"n":1}'],
        [StateOperation.STATE_OPERATION_MERGE, 'application/merge-patch+json', '{"n":2}'],
        [StateOperation.STATE_OPERATION_DELETE, '', ''],
      ],
    );
    assert.equal(events[0]?.type, 'room.state');
    assert.deepEqual(events[0]?.headers, { tenant: 'acme' });
    assert.deepEqual(
      events.map((e) => e.arrayKey),
      ['/id', '', ''],
    );
    assert.equal(events[1]?.id, 'merge-1');

    const retry = await ingest.client.changeState({
      channel,
      operation: StateOperation.STATE_OPERATION_MERGE,
      data: bytes('{"n":2}'),
      id: 'merge-1',
    });
    assert.equal(retry.duplicate, true);
    assert.deepEqual(retry.position, merge.position);
    assert.equal(retry.id, 'merge-1');
  });

  it('refuses malformed ChangeState calls with INVALID_ARGUMENT and the catalog code', async () => {
    const channel = 'rooms.grpc.refused';
    const cases: [string, fanout.v1.ChangeStateRequest.$Properties, string][] = [
      ['no operation', { channel, data: bytes('{}') }, 'invalid_argument'],
      [
        'not JSON',
        { channel, operation: StateOperation.STATE_OPERATION_PUT, data: bytes('nope') },
        'state_invalid',
      ],
      [
        'a delete with data',
        { channel, operation: StateOperation.STATE_OPERATION_DELETE, data: bytes('{}') },
        'state_invalid',
      ],
      [
        'a patch over the limit',
        {
          channel,
          operation: StateOperation.STATE_OPERATION_MERGE,
          data: bytes(JSON.stringify('p'.repeat(300))),
        },
        'state_too_large',
      ],
      [
        'an invalid channel',
        { channel: 'a..b', operation: StateOperation.STATE_OPERATION_PUT, data: bytes('{}') },
        'channel_invalid',
      ],
      [
        'an arrayKey that is not a JSON Pointer',
        {
          channel,
          operation: StateOperation.STATE_OPERATION_PUT,
          data: bytes('[]'),
          arrayKey: 'id',
        },
        'invalid_argument',
      ],
      [
        'an arrayKey over 256 characters',
        {
          channel,
          operation: StateOperation.STATE_OPERATION_PUT,
          data: bytes('[]'),
          arrayKey: `/${'k'.repeat(256)}`,
        },
        'invalid_argument',
      ],
      [
        'an arrayKey on a delete',
        { channel, operation: StateOperation.STATE_OPERATION_DELETE, arrayKey: '/id' },
        'invalid_argument',
      ],
    ];
    for (const [name, request, code] of cases) {
      await assert.rejects(
        ingest.client.changeState(request),
        (error: unknown) => {
          assert.equal((error as { code?: number }).code, grpc.status.INVALID_ARGUMENT, name);
          assert.equal(errorCode(error), code, name);
          return true;
        },
        name,
      );
    }
    assert.equal(
      (await readTopic(kafka.kafka, topic)).filter((r) => r.key === channel).length,
      0,
      'nothing was written',
    );
  });

  it('counts state changes by transport, operation and outcome', async () => {
    const text = await ingest.registry.metrics();
    for (const line of [
      /fanout_ingest_state_changes_total\{transport="http",operation="put",outcome="written"\} [1-9]/,
      /fanout_ingest_state_changes_total\{transport="http",operation="put",outcome="duplicate"\} 1/,
      /fanout_ingest_state_changes_total\{transport="http",operation="merge",outcome="written"\} [1-9]/,
      /fanout_ingest_state_changes_total\{transport="http",operation="delete",outcome="written"\} 1/,
      /fanout_ingest_state_changes_total\{transport="grpc",operation="merge",outcome="duplicate"\} 1/,
      /fanout_ingest_state_changes_total\{transport="grpc",operation="put",outcome="rejected"\} [1-9]/,
      /fanout_ingest_errors_total\{transport="http",code="state_invalid"\} [1-9]/,
    ]) {
      assert.match(text, line);
    }
  });
});
