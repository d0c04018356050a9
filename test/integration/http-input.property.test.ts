/**
 * Properties of the HTTP input parsing of live services: every cursor in
 * `since`, `after` or `Last-Event-ID`, and every JSON body of a publish, is
 * answered with a success or a catalog error carrying the catalog's status,
 * never `internal`; and the edge refuses exactly the cursors its parser does.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isErrorCode, parseStreamCursor, toHttpStatus } from '@fanout/shared';
import fc from 'fast-check';
import { startEdgeStack, type EdgeStack } from '../support/index.js';

const numRuns = 60;

interface Answer {
  readonly status: number;
  readonly code?: string;
  readonly text: string;
}

async function answerOf(response: Response): Promise<Answer> {
  const type = response.headers.get('content-type') ?? '';
  if (type.startsWith('text/event-stream')) {
    await response.body?.cancel();
    return { status: response.status, text: '' };
  }
  const text = await response.text();
  if (response.status < 300) return { status: response.status, text };
  let code: unknown;
  try {
    code = (JSON.parse(text) as { error?: { code?: unknown } }).error?.code;
  } catch {
    assert.fail(`${response.status} without a JSON error body: ${text.slice(0, 200)}`);
  }
  assert.ok(typeof code === 'string' && isErrorCode(code), `not a catalog code: ${text}`);
  assert.notEqual(code, 'internal', text);
  assert.equal(response.status, toHttpStatus(code), text);
  return { status: response.status, code, text };
}

describe('HTTP input of the edge and the ingest (properties)', () => {
  let stack: EdgeStack;
  let epoch: string;

  before(async () => {
    stack = await startEdgeStack({ name: 'http-input', partitions: 2 });
    const published = await fetch(`${stack.ingest.httpBase}/v1/channels/orders.a/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ events: [{ data: 1 }, { data: 2 }] }),
    });
    const body = (await published.json()) as { results: { position: string }[] };
    epoch = body.results[0]?.position.split(':')[0] ?? '';
    assert.ok(epoch !== '');
  });

  after(async () => {
    await stack.stop();
  });

  it('answers every since, after and Last-Event-ID cursor with events or a catalog error', async () => {
    const cursor = fc.oneof(
      fc
        .tuple(fc.nat(3), fc.integer({ min: -1, max: 5 }))
        .map(([partition, offset]) => `${epoch}:${partition}:${offset}`),
      fc
        .array(fc.tuple(fc.nat(3), fc.integer({ min: -1, max: 5 })), { minLength: 2, maxLength: 3 })
        .map((entries) => `${epoch}:${entries.map(([p, o]) => `${p}:${o}`).join(',')}`),
      fc.constantFrom('other:0:1', `${epoch}:0:99999`, `${epoch}:00:1`, `${epoch}:0:1,0:2`),
      fc
        .array(fc.constantFrom('e', ':', ',', '0', '1', '-1', '-', '_', '01', '+', '.'), {
          maxLength: 12,
        })
        .map((parts) => parts.join('')),
      fc.string({ unit: 'grapheme-ascii', maxLength: 40 }),
    );
    await fc.assert(
      fc.asyncProperty(
        cursor,
        fc.constantFrom('after', 'since', 'last-event-id'),
        async (text, where) => {
          const base = `${stack.edge.httpBase}/v1/channels/orders.a`;
          const query = encodeURIComponent(text);
          const url =
            where === 'after'
              ? `${base}?after=${query}`
              : where === 'since'
                ? `${base}?watch=true&since=${query}`
                : `${base}?watch=true`;
          const response = await fetch(url, {
            headers: where === 'last-event-id' ? { 'last-event-id': text } : {},
            signal: AbortSignal.timeout(10_000),
          });
          const answer = await answerOf(response);
          let parses = true;
          try {
            parseStreamCursor(text);
          } catch {
            parses = false;
          }
          // An empty cursor is no cursor; any other the parser refuses is position_invalid.
          if (!parses && text !== '') assert.equal(answer.code, 'position_invalid', text);
        },
      ),
      { numRuns },
    );
  });

  it('answers every JSON publish body with positions or a catalog error', async () => {
    const value = fc.jsonValue({ maxDepth: 2 });
    const event = fc.record(
      {
        data: value,
        dataBase64: fc.oneof(fc.base64String({ maxLength: 12 }), fc.string({ maxLength: 6 })),
        type: fc.oneof(fc.stringMatching(/^[a-z.]{0,10}$/), value),
        contentType: fc.oneof(fc.constantFrom('text/plain', 'x', 'a/b; c=ü'), value),
        headers: fc.oneof(fc.dictionary(fc.string({ maxLength: 6 }), fc.string()), value),
        id: fc.oneof(fc.stringMatching(/^[a-z0-9-]{1,20}$/), value),
        extra: value,
      },
      { requiredKeys: [] },
    );
    const body = fc.oneof(
      event.map((single) => JSON.stringify(single)),
      fc.array(event, { maxLength: 4 }).map((events) => JSON.stringify({ events })),
      fc.json({ maxDepth: 3 }),
      fc.string({ maxLength: 30 }),
    );
    await fc.assert(
      fc.asyncProperty(body, async (text) => {
        const response = await fetch(`${stack.ingest.httpBase}/v1/channels/orders.b/events`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: text,
          signal: AbortSignal.timeout(10_000),
        });
        const answer = await answerOf(response);
        if (answer.status === 200) {
          // One position per event sent.
          const sent = JSON.parse(text) as { events?: unknown[] };
          const { results } = JSON.parse(answer.text) as { results: { position: string }[] };
          assert.equal(results.length, sent.events?.length ?? 1);
          for (const result of results) parseStreamCursor(result.position);
        }
      }),
      { numRuns: 100 },
    );
  });
});
