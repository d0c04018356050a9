/**
 * Many SSE subscribers: FANOUT_LOAD_SUBSCRIBERS streams
 * (`GET /v1/stream?channels=…&since=cursor`) spread over FANOUT_LOAD_CHANNELS channels, one gRPC
 * publisher sending FANOUT_LOAD_EVENTS events to every channel at
 * FANOUT_LOAD_RATE per second. Every subscriber resumes after the channel's
 * position taken in setup(), so it must receive every event, in order:
 * `fanout_missing_events` and `fanout_duplicate_events` must be 0, and
 * `fanout_delivery_latency` (arrival minus the ingest's accept time) has a
 * p99 threshold. See docs/guides/load-testing.md.
 *
 *   k6 run test/load/sse-subscribers.js
 *   FANOUT_LOAD_EDGE_URL=http://127.0.0.1:8081 FANOUT_LOAD_INGEST_GRPC=127.0.0.1:50051 \
 *   FANOUT_LOAD_SUBSCRIBERS=1000 FANOUT_LOAD_CHANNELS=10 k6 run test/load/sse-subscribers.js
 */
import exec from 'k6/execution';
import {
  deadlineOf,
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

const p = plan();
const ingest = ingestClient();

export const options = runOptions(p, {
  subscribers: subscriberScenario(p, p.subscribers, 'subscriber'),
  publisher: publisherScenario(p, 1),
});

export function setup() {
  return prepareRun(p.channels);
}

export function subscriber(run) {
  const index = exec.scenario.iterationInTest;
  const channel = run.channels[index % run.channels.length];
  const tracker = new SequenceTracker(run.runId, [channel], run.positions, p.events);
  followOverSse(tracker, [channel], { deadline: deadlineOf(run, p) });
}

export function publisher(run) {
  publishRun(ingest, run, run.channels, p);
}
