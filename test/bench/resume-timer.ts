/**
 * Times a resume over the WebSocket protocol: a client subscribes with
 * `since` and the clock runs until every missed event has arrived.
 */
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { RawWsClient } from '../support/raw-ws-client.js';

/** Subscribes to `channel` from `since` on the edge at `port`; ms until `count` events arrived. */
export async function timeResume(
  port: number,
  since: string,
  channel: string,
  count: number,
): Promise<number> {
  const client = new RawWsClient(port, '/v1/ws', 'fanout.json.v1');
  await client.ready;
  await sleep(50);
  const framesBefore = client.frames;
  const started = performance.now();
  client.sendText(
    JSON.stringify({ subscribe: { requestId: 1, subscriptions: [{ channel, since }] } }),
  );
  const deadline = Date.now() + 30_000;
  try {
    // +1: the `subscribed` frame comes first.
    while (client.frames - framesBefore < count + 1) {
      if (Date.now() > deadline) {
        throw new Error(`resume got ${client.frames - framesBefore} of ${count + 1} frames`);
      }
      await nextTurn();
    }
    return performance.now() - started;
  } finally {
    client.close();
  }
}

/** The position of a channel's newest event, from the edge's plain GET. */
export async function newestPosition(httpBase: string, channel: string): Promise<string> {
  const response = await fetch(`${httpBase}/v1/channels/${channel}?limit=1`);
  const body = (await response.json()) as { position: string };
  return body.position;
}
