/**
 * The SSE follower of the fanout k6 scripts, apart from `fanout-load.js`
 * because it needs the `k6/x/sse` extension (`deploy/tools/k6.mjs` builds a
 * k6 with it): the WebSocket and gRPC scripts run on any k6 v1.
 */
import { sleep } from 'k6';
import sse from 'k6/x/sse';
import { config, connectionErrors, cursorOf, jitter, reconnects } from './fanout-load.js';

/**
 * Follows `channels` over SSE (`GET /v1/stream?channels=...&since=cursor`)
 * until every channel has its last event or `deadline` passes; with
 * `reconnectEveryMs`, ends the stream every so often (± 50 %) and resumes
 * from the last `id:`. Blocks the VU while it reads.
 */
export function followOverSse(tracker, channels, { deadline, reconnectEveryMs = 0 }) {
  let cursor = cursorOf(tracker.position);
  const headers = config.edgeToken ? { authorization: `Bearer ${config.edgeToken}` } : {};
  let first = true;
  while (!tracker.complete() && Date.now() < deadline) {
    if (!first) reconnects.add(1);
    first = false;
    const left = deadline - Date.now();
    const timeout = reconnectEveryMs > 0 ? Math.min(left, jitter(reconnectEveryMs)) : left;
    const url = `${config.edgeUrl}/v1/stream?channels=${channels
      .map(encodeURIComponent)
      .join(',')}&since=${encodeURIComponent(cursor)}`;
    let failed = false;
    const result = sse.open(url, { headers, timeout }, (client) => {
      client.on('event', (event) => {
        const receivedAt = Date.now();
        if (event.name === 'message') {
          tracker.receive(JSON.parse(event.data), receivedAt);
          cursor = event.id;
          if (tracker.complete()) client.close();
        } else if (event.name === 'subscribed') {
          cursor = JSON.parse(event.data).cursor;
        } else {
          failed = true;
          connectionErrors.add(1);
          console.error(`SSE ${event.name}: ${event.data}`);
          client.close();
        }
      });
      client.on('error', (error) => {
        failed = true;
        connectionErrors.add(1);
        console.error(`SSE error: ${error.error}`);
      });
    });
    if (failed) {
      console.error(`SSE stream ended: ${JSON.stringify(result)}`);
      sleep(0.2);
    } else if (!result.timedOut && !tracker.complete()) {
      connectionErrors.add(1);
      console.error('SSE stream closed by the edge; resuming');
    }
  }
  tracker.report();
}
