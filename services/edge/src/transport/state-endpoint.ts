/**
 * `GET /v1/state/{channel}`: the state of a channel as JSON (snapshot,
 * ETag / 304, `since` and `wait` for patches), or as an SSE stream of
 * snapshot and patches (`watch=true` or `Accept: text/event-stream`,
 * resumed from `Last-Event-ID` or `since`). Authorized with the channel
 * grants of reading its events.
 *
 * Many channels in one request: `GET /v1/state?channels=a,b` answers each
 * channel's snapshot (or its error) and one stream cursor;
 * `GET /v1/stream?channels=a,b&snapshot=true` (or `/v1/state?channels=` as
 * a stream) streams their snapshots, then their patches, resumable by that
 * cursor (state-multi-watch.ts). At most
 * `edge.maxSubscriptionsPerConnection` channels.
 */
import {
  assertValidChannel,
  FanoutError,
  parsePosition,
  parseStreamCursor,
  type FanoutConfig,
} from '@fanout/shared';
import type { HttpResponse } from 'uWebSockets.js';
import type { ClientAuth } from '../admission/client-auth.js';
import type { ConnectionLimits } from '../admission/connection-limits.js';
import { authorizeRead } from '../subscriptions/channel-read.js';
import type { SubscriptionCore } from '../subscriptions/subscription-core.js';
import {
  positionTag,
  readState,
  readStates,
  taggedPosition,
  whenSettled,
} from '../subscriptions/state/state-read.js';
import type { StateTracker } from '../subscriptions/state/state-tracker.js';
import type { StateTrackers } from '../subscriptions/state/state-trackers.js';
import { integerParameter, sendJson } from './http-answers.js';
import { httpStatusLine } from './http-status.js';
import { writeCorsHeaders } from './cors.js';
import type { RequestFacts } from './request-facts.js';
import { channelLimit } from './sse-endpoint.js';
import { SseStream, type SseContext } from './sse-stream.js';
import { StateMultiWatch } from './state-multi-watch.js';
import { snapshotJson, StateWatch } from './state-watch.js';

export interface StateEndpointOptions extends SseContext {
  readonly core: SubscriptionCore;
  readonly auth: ClientAuth;
  readonly limits: ConnectionLimits;
  readonly trackers: StateTrackers;
  readonly config: FanoutConfig['edge'];
}

/** What a caller adds to a state answer (the resource route: its channels, its lease). */
export interface StateAnswerExtras {
  /** Response headers besides the state route's own. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Called once when a stream of the answer closes. */
  readonly onClose?: () => void;
}

/** Whether the client went away (read again after an await). */
function stopped(state: { aborted: boolean }, stream: SseStream): boolean {
  return state.aborted || stream.closed;
}

/** Answers a GET of the state (not a stream). */
export async function answerStateRead(
  options: StateEndpointOptions,
  response: HttpResponse,
  facts: RequestFacts,
  state: { aborted: boolean },
  abort: AbortController,
  extra: StateAnswerExtras = {},
): Promise<void> {
  const identity = await options.auth.identify(facts.token);
  authorizeRead(options, identity, facts.channel);
  const headers = extra.headers ?? {};
  const wait = integerParameter(facts.query, 'wait', 0, 0, options.config.longPollMaxSeconds);
  const sinceText = facts.query.get('since') ?? '';
  const tagged = taggedPosition(facts.ifNoneMatch);
  const result = await readState(
    options.trackers,
    {
      channel: facts.channel,
      ...(sinceText === '' ? {} : { since: sinceText }),
      ...(tagged === undefined ? {} : { ifNoneMatch: tagged }),
      wait,
      kafkaWaitMs: options.config.kafkaWaitMs,
    },
    () => state.aborted,
    abort.signal,
  );
  if (result === undefined || state.aborted) return;
  const { metrics } = options;
  if (result.kind === 'not_modified') {
    metrics.httpRequests.inc({ route: 'state', status: '304' });
    response.cork(() => {
      response.writeStatus(httpStatusLine(304)).writeHeader('etag', positionTag(result.position));
      for (const [name, value] of Object.entries(headers)) response.writeHeader(name, value);
      writeCorsHeaders(response);
      response.endWithoutBody(0);
    });
    return;
  }
  metrics.httpRequests.inc({ route: 'state', status: '200' });
  if (result.kind === 'snapshot') {
    const { snapshot } = result;
    const body = snapshotJson(snapshot, result.reset);
    metrics.stateSnapshotBytes.inc({ transport: 'get' }, body.length);
    sendJson(response, 200, body, { ...headers, etag: positionTag(snapshot.position) });
    return;
  }
  const body = `{"channel":${JSON.stringify(facts.channel)},"patches":[${result.steps.map((step) => step.json).join(',')}],"position":${JSON.stringify(result.position)}}`;
  metrics.statePatchBytes.inc({ transport: 'get' }, body.length);
  sendJson(response, 200, body, { ...headers, etag: positionTag(result.position) });
}

/**
 * Opens an SSE stream of the state; `state.stream` is the stream from the
 * moment it holds its place in the limits, so an abort reaches it.
 */
export async function openStateStream(
  options: StateEndpointOptions,
  response: HttpResponse,
  facts: RequestFacts,
  state: { aborted: boolean; stream?: SseStream },
  extra: StateAnswerExtras = {},
): Promise<void> {
  const identity = await options.auth.identify(facts.token);
  authorizeRead(options, identity, facts.channel);
  const sinceText = facts.lastEventId !== '' ? facts.lastEventId : (facts.query.get('since') ?? '');
  const since = sinceText === '' ? undefined : { value: parsePosition(sinceText), text: sinceText };
  if (state.aborted) return;
  const lease = options.limits.acquire(
    facts.address,
    identity.anonymous ? undefined : identity.subject,
  );
  const stream = new SseStream(response, options, lease, identity);
  stream.headers = extra.headers ?? {};
  if (extra.onClose) stream.whenClosed(extra.onClose);
  state.stream = stream;
  const tracker = options.trackers.acquire(facts.channel);
  try {
    await tracker.caughtUp(Date.now() + options.config.kafkaWaitMs);
  } finally {
    tracker.pins--;
  }
  if (stopped(state, stream)) return;
  const watch = new StateWatch(stream, tracker, options.core.sessions, options.metrics);
  // Joined and given its start in one synchronous step: no change in between.
  const opening = tracker.join(watch, since);
  stream.watch = watch;
  stream.expireAt(identity.expiresAt);
  watch.open(opening, sinceText === '' ? undefined : sinceText);
  options.metrics.httpRequests.inc({ route: 'state_watch', status: '200' });
}

/**
 * The channels of a many-channel request (`channels=a,b,c`): trimmed,
 * without repeats, valid names, at most `edge.maxSubscriptionsPerConnection`.
 */
export function channelsParameter(query: URLSearchParams, max: number): string[] {
  const channels = [
    ...new Set(
      (query.get('channels') ?? '')
        .split(',')
        .map((channel) => channel.trim())
        .filter((channel) => channel !== ''),
    ),
  ];
  if (channels.length === 0) {
    throw new FanoutError('invalid_argument', 'name at least one channel', {
      details: { field: 'channels' },
    });
  }
  if (channels.length > max) throw channelLimit(max);
  for (const channel of channels) assertValidChannel(channel, 'channels');
  return channels;
}

/** Answers `GET /v1/state?channels=`: every channel's snapshot or error, and one cursor. */
export async function answerStatesRead(
  options: StateEndpointOptions,
  response: HttpResponse,
  facts: RequestFacts,
  state: { aborted: boolean },
): Promise<void> {
  const channels = channelsParameter(facts.query, options.config.maxSubscriptionsPerConnection);
  const identity = await options.auth.identify(facts.token);
  const result = await readStates(
    options.trackers,
    channels,
    (channel) => {
      authorizeRead(options, identity, channel);
    },
    options.config.kafkaWaitMs,
  );
  if (state.aborted) return;
  const parts = result.entries.map((entry) =>
    entry.kind === 'snapshot'
      ? snapshotJson(entry.snapshot, false)
      : `{"channel":${JSON.stringify(entry.channel)},"error":${JSON.stringify(entry.error.toJSON().error)}}`,
  );
  const body = `{"snapshots":[${parts.join(',')}],"cursor":${result.cursor === undefined ? 'null' : JSON.stringify(result.cursor)}}`;
  options.metrics.httpRequests.inc({ route: 'states', status: '200' });
  options.metrics.stateSnapshotBytes.inc({ transport: 'get' }, body.length);
  sendJson(response, 200, body);
}

/**
 * Opens an SSE stream of many channels' state (`snapshot=true`); refused as
 * a whole when the identity may not read one of them or its state is
 * unavailable.
 */
export async function openStatesStream(
  options: StateEndpointOptions,
  response: HttpResponse,
  facts: RequestFacts,
  state: { aborted: boolean; stream?: SseStream },
): Promise<void> {
  const channels = channelsParameter(facts.query, options.config.maxSubscriptionsPerConnection);
  for (const name of ['rewind', 'types']) {
    if ((facts.query.get(name) ?? '') !== '') {
      throw new FanoutError(
        'invalid_argument',
        `${name} does not apply to a snapshot stream (it carries the channels' state only)`,
        { details: { field: name } },
      );
    }
  }
  const identity = await options.auth.identify(facts.token);
  for (const channel of channels) authorizeRead(options, identity, channel);
  const sinceText = facts.lastEventId !== '' ? facts.lastEventId : (facts.query.get('since') ?? '');
  const since = sinceText === '' ? undefined : parseStreamCursor(sinceText);
  if (state.aborted) return;
  const lease = options.limits.acquire(
    facts.address,
    identity.anonymous ? undefined : identity.subject,
  );
  const stream = new SseStream(response, options, lease, identity);
  state.stream = stream;
  const deadline = Date.now() + options.config.kafkaWaitMs;
  const trackers: StateTracker[] = [];
  try {
    for (const channel of channels) trackers.push(options.trackers.acquire(channel));
    await Promise.all(trackers.map((tracker) => tracker.caughtUp(deadline)));
    for (const tracker of trackers) tracker.assertServable();
    if (stopped(state, stream)) return;
    const watch = new StateMultiWatch(stream, trackers, options.core.sessions, options.metrics);
    await whenSettled(trackers, deadline, options.config.kafkaWaitMs, (offsets) => {
      if (stopped(state, stream)) return;
      // Joined and given its start in one synchronous step: no change in between.
      watch.open(offsets, since);
      stream.watch = watch;
      stream.expireAt(identity.expiresAt);
    });
  } finally {
    for (const tracker of trackers) tracker.pins--;
  }
  if (stream.watch) options.metrics.httpRequests.inc({ route: 'states_watch', status: '200' });
}
