/* global __ENV */
/**
 * Shared parts of the fanout k6 scripts: configuration from the environment,
 * the metrics and thresholds, the shape of a run (its plan, scenarios and
 * options), publishing through the ingest's gRPC API, and the per-channel
 * sequence check that turns received events into delivery latency and a
 * count of missing events.
 *
 * Every event the scripts publish carries JSON data `{"run","seq"}`: `seq`
 * counts 0, 1, 2, ... per channel, so a subscriber knows exactly which
 * events it must see, whatever else shares the channel's Kafka partition.
 * Delivery latency is the arrival time minus the event's `time`, which the
 * ingest stamps when it accepts the publish (same machine, same clock; the
 * edge sends it with millisecond precision).
 */
import { Counter, Trend } from 'k6/metrics';
import http from 'k6/http';
import grpc from 'k6/net/grpc';
import { sleep } from 'k6';
import { WebSocket } from 'k6/websockets';
import encoding from 'k6/encoding';

/**
 * Former names of the variables, read for one more release: the services
 * read FANOUT_EDGE_* and FANOUT_INGEST_* as their own configuration, so a
 * shell that exported these stopped `npm start`.
 * @type {Readonly<Record<string, string>>}
 */
const formerNames = {
  FANOUT_LOAD_EDGE_URL: 'FANOUT_EDGE_URL',
  FANOUT_LOAD_EDGE_TOKEN: 'FANOUT_EDGE_TOKEN',
  FANOUT_LOAD_INGEST_GRPC: 'FANOUT_INGEST_GRPC',
  FANOUT_LOAD_INGEST_TLS: 'FANOUT_INGEST_TLS',
  FANOUT_LOAD_INGEST_TOKEN: 'FANOUT_INGEST_TOKEN',
  FANOUT_LOAD_PROTO_DIR: 'FANOUT_PROTO_DIR',
};

/** @param {string} name @param {string} fallback */
export function env(name, fallback) {
  const value = __ENV[name];
  if (value !== undefined && value !== '') return value;
  const former = formerNames[name];
  const old = former === undefined ? undefined : __ENV[former];
  if (old === undefined || old === '') return fallback;
  console.warn(`${former} is deprecated and will be ignored in the next release: set ${name}`);
  return old;
}

/** @param {string} name @param {number} fallback */
export function envNumber(name, fallback) {
  const raw = env(name, '');
  if (raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value)) throw new Error(`${name} must be a number (got "${raw}")`);
  return value;
}

export const config = {
  /** Base URL of an edge (or a Service / Ingress in front of edges). */
  edgeUrl: env('FANOUT_LOAD_EDGE_URL', 'http://127.0.0.1:8081').replace(/\/$/, ''),
  /** host:port of the ingest's gRPC API. */
  ingestGrpc: env('FANOUT_LOAD_INGEST_GRPC', '127.0.0.1:50051'),
  /** gRPC over TLS (`true`) or plaintext. */
  ingestTls: env('FANOUT_LOAD_INGEST_TLS', 'false') === 'true',
  /** Producer credentials: an API key or a JWT, sent as `authorization: Bearer`. */
  ingestToken: env('FANOUT_LOAD_INGEST_TOKEN', ''),
  /** Subscriber JWT for edges with `edge.authRequired`. */
  edgeToken: env('FANOUT_LOAD_EDGE_TOKEN', ''),
  /** Channel namespace the scripts publish to and subscribe to. */
  namespace: env('FANOUT_LOAD_NAMESPACE', 'load'),
  /** Payload padding, bytes. */
  padding: envNumber('FANOUT_LOAD_PADDING_BYTES', 64),
};

export const wsUrl = `${config.edgeUrl.replace(/^http/, 'ws')}/v1/ws${
  config.edgeToken ? `?token=${encodeURIComponent(config.edgeToken)}` : ''
}`;

// ---- metrics ----------------------------------------------------------------

/** Arrival minus the event's `time` (the ingest's accept time). */
export const deliveryLatency = new Trend('fanout_delivery_latency', true);
/** Events a subscriber should have received and did not (by per-channel sequence). */
export const missingEvents = new Counter('fanout_missing_events');
/** Events received twice, or out of order. */
export const duplicateEvents = new Counter('fanout_duplicate_events');
export const receivedEvents = new Counter('fanout_events_received');
/** Publish calls that failed, or events the ingest did not write. */
export const publishErrors = new Counter('fanout_publish_errors');
export const publishedEvents = new Counter('fanout_events_published');
/** Publish call round trip: the ingest answers once Kafka acknowledged. */
export const publishAck = new Trend('fanout_publish_ack', true);
/** Subscriber connections that failed or were closed by the edge unexpectedly. */
export const connectionErrors = new Counter('fanout_connection_errors');
export const reconnects = new Counter('fanout_reconnects');

/** Thresholds every script shares; scripts add their own. */
export function baseThresholds(latencyP99Ms) {
  return {
    fanout_missing_events: ['count==0'],
    fanout_duplicate_events: ['count==0'],
    fanout_publish_errors: ['count==0'],
    fanout_connection_errors: [`count<=${envNumber('FANOUT_LOAD_MAX_CONNECTION_ERRORS', 0)}`],
    fanout_delivery_latency: [`p(99)<${latencyP99Ms}`],
    fanout_events_received: ['count>0'],
  };
}

// ---- channels and positions ----------------------------------------------------

/** A run id that keeps channels of different runs apart. */
export function newRunId() {
  return `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
}

export function channelName(runId, index) {
  return `${config.namespace}.${runId}.c${index}`;
}

/**
 * The position each channel continues after, right now (`GET /v1/channels/{c}?limit=1`):
 * a subscriber that resumes after it receives every event published later,
 * however late it connects.
 */
export function currentPositions(channels) {
  const headers = config.edgeToken ? { authorization: `Bearer ${config.edgeToken}` } : {};
  const positions = {};
  for (let i = 0; i < channels.length; i += 100) {
    const batch = channels.slice(i, i + 100).map((channel) => ({
      method: 'GET',
      url: `${config.edgeUrl}/v1/channels/${encodeURIComponent(channel)}?limit=1`,
      params: { headers, tags: { name: 'GET /v1/channels/{channel}' } },
    }));
    const responses = http.batch(batch);
    responses.forEach((response, j) => {
      const channel = channels[i + j];
      if (response.status !== 200) {
        throw new Error(`GET position of ${channel}: HTTP ${response.status} ${response.body}`);
      }
      positions[channel] = response.json('position');
    });
  }
  return positions;
}

// ---- publishing ---------------------------------------------------------------

/** A gRPC client for the ingest; `load` must run in the init context. */
export function ingestClient() {
  const client = new grpc.Client();
  client.load([env('FANOUT_LOAD_PROTO_DIR', '../../proto')], 'fanout/v1/ingest.proto');
  return client;
}

export function connectIngest(client) {
  client.connect(config.ingestGrpc, { plaintext: !config.ingestTls, timeout: '10s' });
}

const padding = 'x'.repeat(config.padding);

/** JSON data of the event `seq` of a run, base64 for the protobuf `bytes` field. */
function eventData(runId, seq) {
  const json = JSON.stringify({ run: runId, seq, pad: padding });
  // k6's gRPC JSON mapping takes bytes as base64.
  return encoding.b64encode(json);
}

/**
 * Publishes event `seq` of every channel in one `Publish` call; counts
 * errors (a failed call, or fewer results than events) instead of throwing.
 */
export function publishSequence(client, runId, channels, seq) {
  const request = {
    events: channels.map((channel) => ({
      channel,
      type: 'load.tick',
      contentType: 'application/json',
      data: eventData(runId, seq),
      id: `${runId}-${channel}-${seq}`,
    })),
  };
  const metadata = config.ingestToken ? { authorization: `Bearer ${config.ingestToken}` } : {};
  const started = Date.now();
  const response = client.invoke('fanout.v1.IngestService/Publish', request, {
    metadata,
    timeout: '30s',
  });
  publishAck.add(Date.now() - started);
  const results = response.message && response.message.results ? response.message.results : [];
  if (response.status !== grpc.StatusOK || results.length !== channels.length) {
    publishErrors.add(channels.length - (response.status === grpc.StatusOK ? results.length : 0));
    console.error(
      `publish seq ${seq}: status ${response.status} ${JSON.stringify(response.error)}, ${results.length}/${channels.length} results`,
    );
    return false;
  }
  publishedEvents.add(channels.length);
  return true;
}

/**
 * Publishes events 0..count-1 of every channel, `rate` sequence steps per
 * second (each step is one `Publish` call with one event per channel).
 */
export function publishAll(client, runId, channels, count, rate) {
  const started = Date.now();
  for (let seq = 0; seq < count; seq++) {
    publishSequence(client, runId, channels, seq);
    const due = started + ((seq + 1) * 1000) / rate;
    const wait = due - Date.now();
    if (wait > 0) sleep(wait / 1000);
  }
}

// ---- receiving -------------------------------------------------------------------

/**
 * What one subscriber has seen of each of its channels: the next sequence
 * number it expects and the position to resume after. `expected` is how
 * many events every channel gets (0 .. expected-1).
 */
export class SequenceTracker {
  constructor(runId, channels, positions, expected) {
    this.runId = runId;
    this.expected = expected;
    this.next = {};
    this.position = {};
    for (const channel of channels) {
      this.next[channel] = 0;
      this.position[channel] = positions[channel];
    }
    this.reported = false;
  }

  /**
   * One received event (the edge's JSON event object); `receivedAt` in ms.
   * Returns false for events that are not this run's.
   */
  receive(event, receivedAt) {
    const channel = event.channel;
    if (!(channel in this.next)) return false;
    const data = event.data;
    if (data === undefined || data === null || data.run !== this.runId) return false;
    const time = Date.parse(event.time);
    if (Number.isFinite(time)) deliveryLatency.add(Math.max(0, receivedAt - time));
    receivedEvents.add(1);
    const expected = this.next[channel];
    if (data.seq < expected) {
      duplicateEvents.add(1);
      console.error(`${channel}: seq ${data.seq} again or out of order (expected ${expected})`);
    } else {
      if (data.seq > expected) {
        missingEvents.add(data.seq - expected);
        console.error(`${channel}: seq ${expected}..${data.seq - 1} missing`);
      }
      this.next[channel] = data.seq + 1;
    }
    if (event.position) this.position[channel] = event.position;
    return true;
  }

  /** Every channel has its last event. */
  complete() {
    for (const channel in this.next) if (this.next[channel] < this.expected) return false;
    return true;
  }

  /** Counts what never came (once); always adds a sample so thresholds see the metric. */
  report() {
    if (this.reported) return;
    this.reported = true;
    let missing = 0;
    for (const channel in this.next) {
      const left = this.expected - this.next[channel];
      if (left > 0) {
        missing += left;
        console.error(
          `${channel}: ${left} events never arrived (last seq ${this.next[channel] - 1})`,
        );
      }
    }
    missingEvents.add(missing);
    duplicateEvents.add(0);
    connectionErrors.add(0);
  }
}

// ---- following ---------------------------------------------------------------------

/** Some ms between 0.5 and 1.5 times `ms`, so reconnecting clients spread out. */
export function jitter(ms) {
  return Math.round(ms * (0.5 + Math.random()));
}

/**
 * Follows `channels` over one WebSocket (`fanout.json.v1`), resuming after
 * the tracker's positions, until every channel has its last event or
 * `deadline` (ms since the epoch) passes. With `reconnectEveryMs`, closes the
 * socket every so often (± 50 %) and resumes on a new one, as a client of a
 * restarted edge would. A close the edge initiates counts as a connection
 * error, and the client resumes too. Returns at once: the work happens on
 * k6's event loop, and the iteration ends when the socket is closed for good.
 */
export function followOverWebSocket(tracker, channels, { deadline, reconnectEveryMs = 0 }) {
  let socket;
  let finished = false;
  let reconnecting = false;
  let reconnectTimer;
  const finish = () => {
    if (finished) return;
    finished = true;
    clearTimeout(deadlineTimer);
    clearTimeout(reconnectTimer);
    tracker.report();
    socket.close();
  };
  const deadlineTimer = setTimeout(finish, Math.max(0, deadline - Date.now()));
  const connect = () => {
    const ws = new WebSocket(wsUrl, 'fanout.json.v1');
    socket = ws;
    ws.onopen = () => {
      const subscriptions = channels.map((channel) => ({
        channel,
        since: tracker.position[channel],
      }));
      ws.send(JSON.stringify({ subscribe: { requestId: 1, subscriptions } }));
      if (reconnectEveryMs > 0) {
        reconnectTimer = setTimeout(() => {
          reconnecting = true;
          ws.close();
        }, jitter(reconnectEveryMs));
      }
    };
    ws.onmessage = (message) => {
      const receivedAt = Date.now();
      const frame = JSON.parse(message.data);
      if (frame.event !== undefined) {
        tracker.receive(frame.event, receivedAt);
        if (tracker.complete()) finish();
      } else if (
        frame.subscribed === undefined &&
        frame.connected === undefined &&
        frame.pong === undefined
      ) {
        connectionErrors.add(1);
        console.error(`unexpected frame: ${message.data}`);
      }
    };
    ws.onerror = (error) => {
      if (!finished && !reconnecting) console.error(`WebSocket error: ${error.error}`);
    };
    ws.onclose = () => {
      clearTimeout(reconnectTimer);
      if (finished) return;
      if (!reconnecting) {
        connectionErrors.add(1);
        console.error('WebSocket closed by the edge; resuming');
      }
      reconnecting = false;
      reconnects.add(1);
      reconnectTimer = setTimeout(connect, reconnectEveryMs > 0 ? 0 : 200);
    };
  };
  connect();
}

/** A stream cursor (`<epoch>:<p>:<o>,<p>:<o>`) from per-channel positions, lowest offset per partition. */
export function cursorOf(positions) {
  let epoch;
  const offsets = {};
  for (const channel in positions) {
    const [e, partition, offset] = positions[channel].split(':');
    epoch = e;
    const current = offsets[partition];
    if (current === undefined || Number(offset) < Number(current)) offsets[partition] = offset;
  }
  return `${epoch}:${Object.keys(offsets)
    .map((partition) => `${partition}:${offsets[partition]}`)
    .join(',')}`;
}

// ---- plans ---------------------------------------------------------------------------

/**
 * The shape of a run, from the environment (defaults in brackets):
 *   FANOUT_LOAD_SUBSCRIBERS [100]  subscriber connections
 *   FANOUT_LOAD_CHANNELS [10]      channels; subscriber i follows channel i mod channels
 *   FANOUT_LOAD_EVENTS [100]       events published to every channel
 *   FANOUT_LOAD_RATE [10]          events per second and channel
 *   FANOUT_LOAD_DELAY_S [5]        seconds the publisher waits, for subscribers to connect
 *   FANOUT_LOAD_SLACK_S [30]       seconds subscribers wait past the last publish
 *   FANOUT_LOAD_LATENCY_P99_MS [2000]  threshold on the delivery latency's p99
 */
export function plan(defaults = {}) {
  const p = {
    subscribers: envNumber('FANOUT_LOAD_SUBSCRIBERS', defaults.subscribers ?? 100),
    channels: envNumber('FANOUT_LOAD_CHANNELS', defaults.channels ?? 10),
    events: envNumber('FANOUT_LOAD_EVENTS', defaults.events ?? 100),
    rate: envNumber('FANOUT_LOAD_RATE', defaults.rate ?? 10),
    delayS: envNumber('FANOUT_LOAD_DELAY_S', defaults.delayS ?? 5),
    slackS: envNumber('FANOUT_LOAD_SLACK_S', defaults.slackS ?? 30),
    latencyP99Ms: envNumber('FANOUT_LOAD_LATENCY_P99_MS', defaults.latencyP99Ms ?? 2000),
  };
  p.publishS = p.events / p.rate;
  /** Seconds from the start until subscribers give up. */
  p.deadlineS = p.delayS + p.publishS + p.slackS;
  return p;
}

/** setup(): a fresh run id, its channels and where each continues. */
export function prepareRun(channelCount) {
  const runId = newRunId();
  const channels = Array.from({ length: channelCount }, (_, i) => channelName(runId, i));
  return { runId, channels, positions: currentPositions(channels), startedAt: Date.now() };
}

/** Milliseconds since the epoch when the subscribers of `run` give up. */
export function deadlineOf(run, p) {
  return run.startedAt + p.deadlineS * 1000;
}

/** `vus` subscribers running `exec` once each, from the start until past the deadline. */
export function subscriberScenario(p, vus, exec) {
  return {
    executor: 'per-vu-iterations',
    vus,
    iterations: 1,
    maxDuration: `${Math.ceil(p.deadlineS + 10)}s`,
    exec,
  };
}

/** `vus` publishers running `exec` once each, after the subscribers had `delayS` to connect. */
export function publisherScenario(p, vus, exec = 'publisher') {
  return {
    executor: 'per-vu-iterations',
    vus,
    iterations: 1,
    startTime: `${p.delayS}s`,
    maxDuration: `${Math.ceil(p.publishS + p.slackS)}s`,
    exec,
  };
}

/** k6 `options` of a script: its scenarios, the shared thresholds and its own. */
export function runOptions(p, scenarios, thresholds = {}) {
  return {
    scenarios,
    thresholds: { ...baseThresholds(p.latencyP99Ms), ...thresholds },
    setupTimeout: '60s',
  };
}

/** One publisher's work: every event of the plan to `channels`, over its own connection. */
export function publishRun(client, run, channels, p) {
  connectIngest(client);
  publishAll(client, run.runId, channels, p.events, p.rate);
  client.close();
}
