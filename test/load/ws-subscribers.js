/**
 * Many WebSocket subscribers: FANOUT_LOAD_SUBSCRIBERS connections
 * (`fanout.json.v1`) spread over FANOUT_LOAD_CHANNELS channels, one gRPC
 * publisher sending FANOUT_LOAD_EVENTS events to every channel at
 * FANOUT_LOAD_RATE per second. Every subscriber resumes after the channel's
 * position taken in setup(), so it must receive every event, in order:
 * `fanout_missing_events` and `fanout_duplicate_events` must be 0, and
 * `fanout_delivery_latency` (arrival minus the ingest's accept time) has a
 * p99 threshold. See docs/guides/load-testing.md.
 *
 *   k6 run test/load/ws-subscribers.js
 *   FANOUT_EDGE_URL=http://127.0.0.1:8081 FANOUT_INGEST_GRPC=127.0.0.1:50051 \
 *   FANOUT_LOAD_SUBSCRIBERS=1000 FANOUT_LOAD_CHANNELS=10 k6 run test/load/ws-subscribers.js
 */
import exec from 'k6/execution';
import {
  baseThresholds,
  connectIngest,
  followOverWebSocket,
  ingestClient,
  plan,
  prepareRun,
  publishAll,
  SequenceTracker,
} from './lib/fanout.js';

const p = plan();
const ingest = ingestClient();

export const options = {
  scenarios: {
    subscribers: {
      executor: 'per-vu-iterations',
      vus: p.subscribers,
      iterations: 1,
      maxDuration: `${Math.ceil(p.deadlineS + 10)}s`,
      exec: 'subscriber',
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
  thresholds: baseThresholds(p.latencyP99Ms),
  setupTimeout: '60s',
};

export function setup() {
  return prepareRun(p.channels);
}

export function subscriber(run) {
  const index = exec.scenario.iterationInTest;
  const channel = run.channels[index % run.channels.length];
  const tracker = new SequenceTracker(run.runId, [channel], run.positions, p.events);
  followOverWebSocket(tracker, [channel], { deadline: run.startedAt + p.deadlineS * 1000 });
}

export function publisher(run) {
  connectIngest(ingest);
  publishAll(ingest, run.runId, run.channels, p.events, p.rate);
  ingest.close();
}
