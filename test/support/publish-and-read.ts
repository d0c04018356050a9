/**
 * Events through an ingest and back out of an edge over HTTP, as a check
 * that both reach Kafka: events published to `channel` through the ingest's
 * HTTP API are read through the edge as the newest page of the channel (a
 * read from Kafka once the edge knows the topic), then one more is received
 * by a live long-poll after the last.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';

interface ChannelPage {
  readonly events: { readonly position: string; readonly data: { readonly n: number } }[];
  readonly position: string;
}

/**
 * Publishes `count` events (data `{ n }`, n from 0) to `channel` through the
 * ingest at `ingestHttpBase`, waits up to 30 s for the edge at
 * `edgeHttpBase` to serve them in order, then publishes event `count` while
 * a long-poll after the last waits for it. Returns the positions of the
 * first `count` events.
 */
export async function publishAndReadBack(
  ingestHttpBase: string,
  edgeHttpBase: string,
  channel: string,
  count: number,
): Promise<string[]> {
  const publish = async (n: number): Promise<string> => {
    const response = await fetch(`${ingestHttpBase}/v1/channels/${channel}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'tick', data: { n } }),
    });
    assert.equal(response.status, 200, await response.clone().text());
    const body = (await response.json()) as { results: { position: string }[] };
    return body.results[0]?.position ?? '';
  };
  const read = async (query: string): Promise<ChannelPage | undefined> => {
    const response = await fetch(`${edgeHttpBase}/v1/channels/${channel}?${query}`);
    if (response.status !== 200) {
      await response.body?.cancel();
      return undefined;
    }
    return (await response.json()) as ChannelPage;
  };

  const positions: string[] = [];
  for (let n = 0; n < count; n++) positions.push(await publish(n));
  const deadline = Date.now() + 30_000;
  let page = await read('limit=10');
  while (page?.events.length !== count && Date.now() < deadline) {
    await sleep(200);
    page = await read('limit=10');
  }
  assert.deepEqual(
    page?.events.map((event) => [event.position, event.data.n]),
    positions.map((position, n) => [position, n]),
  );
  const waiting = read(`after=${encodeURIComponent(positions[count - 1] ?? '')}&wait=20`);
  await sleep(200);
  const next = await publish(count);
  const live = await waiting;
  assert.deepEqual(
    live?.events.map((event) => [event.position, event.data.n]),
    [[next, count]],
  );
  return positions;
}
