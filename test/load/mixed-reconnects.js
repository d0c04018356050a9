/**
 * Mixed subscribers with reconnects: FANOUT_LOAD_SUBSCRIBERS WebSocket
 * [50] and FANOUT_LOAD_SSE_SUBSCRIBERS SSE [20] clients over
 * FANOUT_LOAD_CHANNELS channels [10] (SSE clients follow two channels each
 * on one multiplexed stream), one gRPC publisher. Every client drops its
 * connection every FANOUT_LOAD_RECONNECT_MS [2000] (± 50 %) and resumes from
 * the last position (WebSocket `since`) or cursor (SSE `since`) it saw, as
 * clients of a restarted or drained edge do. Across all reconnects nothing
 * may be missing or repeated (`fanout_missing_events`,
 * `fanout_duplicate_events` 0), and `fanout_reconnects` must be > 0.
 *
 *   k6 run test/load/mixed-reconnects.js
 *   FANOUT_LOAD_SUBSCRIBERS=500 FANOUT_LOAD_SSE_SUBSCRIBERS=200 FANOUT_LOAD_RECONNECT_MS=1000 \
 *   k6 run test/load/mixed-reconnects.js
 */
import exec from 'k6/execution';
import {
  deadlineOf,
  envNumber,
  followOverWebSocket,
  ingestClient,
  plan,
  prepareRun,
  publishRun,
  publisherScenario,
  runOptions,
  SequenceTracker,
  subscriberScenario,
} from './fanout-load.js';
import { followOverSse } from './fanout-sse.js';

const p = plan({ subscribers: 50, events: 200, rate: 20 });
const sseSubscribers = envNumber('FANOUT_LOAD_SSE_SUBSCRIBERS', 20);
const reconnectEveryMs = envNumber('FANOUT_LOAD_RECONNECT_MS', 2000);
const ingest = ingestClient();

export const options = runOptions(
  p,
  {
    websocket: subscriberScenario(p, p.subscribers, 'webSocketSubscriber'),
    sse: subscriberScenario(p, sseSubscribers, 'sseSubscriber'),
    publisher: publisherScenario(p, 1),
  },
  { fanout_reconnects: ['count>0'] },
);

export function setup() {
  return prepareRun(p.channels);
}

export function webSocketSubscriber(run) {
  const channel = run.channels[exec.scenario.iterationInTest % run.channels.length];
  const tracker = new SequenceTracker(run.runId, [channel], run.positions, p.events);
  followOverWebSocket(tracker, [channel], { deadline: deadlineOf(run, p), reconnectEveryMs });
}

export function sseSubscriber(run) {
  const index = exec.scenario.iterationInTest;
  const count = run.channels.length;
  const channels = [...new Set([run.channels[index % count], run.channels[(index + 1) % count]])];
  const tracker = new SequenceTracker(run.runId, channels, run.positions, p.events);
  followOverSse(tracker, channels, { deadline: deadlineOf(run, p), reconnectEveryMs });
}

export function publisher(run) {
  publishRun(ingest, run, run.channels, p);
}
