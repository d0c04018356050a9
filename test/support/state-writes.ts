/**
 * Writing a state channel through the ingest's HTTP API, as the state tests
 * do: PUT a document, PATCH a merge patch, DELETE; answers the position of
 * the accepted change and fails the test on any other answer.
 */
import assert from 'node:assert/strict';
import type { JsonValue } from '@fanout/shared';

/** One state change through `PUT|PATCH|DELETE <ingestHttpBase>/v1/state/{channel}`; its position. */
export async function writeState(
  ingestHttpBase: string,
  method: string,
  channel: string,
  body?: JsonValue,
): Promise<string> {
  const response = await fetch(`${ingestHttpBase}/v1/state/${channel}`, {
    method,
    headers: {
      'content-type': method === 'PATCH' ? 'application/merge-patch+json' : 'application/json',
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  assert.equal(response.status, 200, text);
  return (JSON.parse(text) as { position: string }).position;
}
