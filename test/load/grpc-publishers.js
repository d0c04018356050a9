/**
 * gRPC publishers: FANOUT_LOAD_PUBLISHERS producers [4], each with its own
 * FANOUT_LOAD_CHANNELS_PER_PUBLISHER channels [10], call the ingest's
 * `Publish` with one event per channel, FANOUT_LOAD_RATE calls per second
 * [10], FANOUT_LOAD_EVENTS times [100]. `fanout_publish_ack` is the call's
 * round trip (the ingest answers once Kafka acknowledged the events) and
 * `fanout_publish_errors` must be 0. FANOUT_LOAD_SUBSCRIBERS WebSocket
 * subscribers [4] each follow one producer's channels from setup()'s
 * positions: every published event must arrive (`fanout_missing_events` 0),
 * with a p99 threshold on `fanout_delivery_latency`.
 *
 *   k6 run test/load/grpc-publishers.js
 *   FANOUT_LOAD_PUBLISHERS=16 FANOUT_LOAD_CHANNELS_PER_PUBLISHER=100 FANOUT_LOAD_RATE=50 \
 *   k6 run test/load/grpc-publishers.js
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

const publishers = envNumber('FANOUT_LOAD_PUBLISHERS', 4);
const perPublisher = envNumber('FANOUT_LOAD_CHANNELS_PER_PUBLISHER', 10);
const p = plan({ subscribers: publishers, channels: publishers * perPublisher });
const ackP99Ms = envNumber('FANOUT_LOAD_ACK_P99_MS', 2000);
const ingest = ingestClient();

export const options = runOptions(
  p,
  {
    subscribers: subscriberScenario(p, p.subscribers, 'subscriber'),
    publishers: publisherScenario(p, publishers),
  },
  {
    fanout_publish_ack: [`p(99)<${ackP99Ms}`],
    fanout_events_published: [`count==${publishers * perPublisher * p.events}`],
  },
);

/** The channels producer `index` publishes to. */
function channelsOf(run, index) {
  return run.channels.slice(index * perPublisher, (index + 1) * perPublisher);
}

export function setup() {
  return prepareRun(publishers * perPublisher);
}

export function subscriber(run) {
  const channels = channelsOf(run, exec.scenario.iterationInTest % publishers);
  const tracker = new SequenceTracker(run.runId, channels, run.positions, p.events);
  followOverWebSocket(tracker, channels, { deadline: deadlineOf(run, p) });
}

export function publisher(run) {
  publishRun(ingest, run, channelsOf(run, exec.scenario.iterationInTest), p);
}
