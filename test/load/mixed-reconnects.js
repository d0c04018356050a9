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
  baseThresholds,
  connectIngest,
  envNumber,
  followOverSse,
  followOverWebSocket,
  ingestClient,
  plan,
  prepareRun,
  publishAll,
  SequenceTracker,
} from './lib/fanout.js';

const p = plan({ subscribers: 50, events: 200, rate: 20 });
const sseSubscribers = envNumber('FANOUT_LOAD_SSE_SUBSCRIBERS', 20);
const reconnectEveryMs = envNumber('FANOUT_LOAD_RECONNECT_MS', 2000);
const ingest = ingestClient();

export const options = {
  scenarios: {
    websocket: {
      executor: 'per-vu-iterations',
      vus: p.subscribers,
      iterations: 1,
      maxDuration: `${Math.ceil(p.deadlineS + 10)}s`,
      exec: 'webSocketSubscriber',
    },
    sse: {
      executor: 'per-vu-iterations',
      vus: sseSubscribers,
      iterations: 1,
      maxDuration: `${Math.ceil(p.deadlineS + 10)}s`,
      exec: 'sseSubscriber',
    },
    publisher: {
      executor: 'per-vu-iterations',
      vus: 1,
      iterations: 1,
      startTime: `${p.delayS}s`,
      maxDuration: `${Math.ceil(p.publishS + p.slackS)}s`,
      exec: 'publisher',
    },
  },
  thresholds: { ...baseThresholds(p.latencyP99Ms), fanout_reconnects: ['count>0'] },
  setupTimeout: '60s',
};

export function setup() {
  return prepareRun(p.channels);
}

export function webSocketSubscriber(run) {
  const channel = run.channels[exec.scenario.iterationInTest % run.channels.length];
  const tracker = new SequenceTracker(run.runId, [channel], run.positions, p.events);
  followOverWebSocket(tracker, [channel], {
    deadline: run.startedAt + p.deadlineS * 1000,
    reconnectEveryMs,
  });
}

export function sseSubscriber(run) {
  const index = exec.scenario.iterationInTest;
  const count = run.channels.length;
  const channels = [...new Set([run.channels[index % count], run.channels[(index + 1) % count]])];
  const tracker = new SequenceTracker(run.runId, channels, run.positions, p.events);
  followOverSse(tracker, channels, {
    deadline: run.startedAt + p.deadlineS * 1000,
    reconnectEveryMs,
  });
}

export function publisher(run) {
  connectIngest(ingest);
  publishAll(ingest, run.runId, run.channels, p.events, p.rate);
  ingest.close();
}
