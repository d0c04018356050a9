/**
 * `GET /v1/state/{channel}`: the state of a channel as JSON (snapshot,
 * ETag / 304, `since` and `wait` for patches), or as an SSE stream of
 * snapshot and patches (`watch=true` or `Accept: text/event-stream`,
 * resumed from `Last-Event-ID` or `since`). Authorized with the channel
 * grants of reading its events.
 */
import { parsePosition, type FanoutConfig } from '@fanout/shared';
import type { HttpResponse } from 'uWebSockets.js';
import type { ClientAuth } from '../admission/client-auth.js';
import type { ConnectionLimits } from '../admission/connection-limits.js';
import { authorizeRead } from '../subscriptions/channel-read.js';
import type { SubscriptionCore } from '../subscriptions/subscription-core.js';
import { positionTag, readState, taggedPosition } from '../subscriptions/state/state-read.js';
import type { StateTrackers } from '../subscriptions/state/state-trackers.js';
import { integerParameter, sendJson } from './http-answers.js';
import { httpStatusLine } from './http-status.js';
import { writeCorsHeaders } from './cors.js';
import type { RequestFacts } from './request-facts.js';
import { SseStream, type SseContext } from './sse-stream.js';
import { snapshotJson, StateWatch } from './state-watch.js';

export interface StateEndpointOptions extends SseContext {
  readonly core: SubscriptionCore;
  readonly auth: ClientAuth;
  readonly limits: ConnectionLimits;
  readonly trackers: StateTrackers;
  readonly config: FanoutConfig['edge'];
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
): Promise<void> {
  const identity = await options.auth.identify(facts.token);
  authorizeRead(options, identity, facts.channel);
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
    sendJson(response, 200, body, { etag: positionTag(snapshot.position) });
    return;
  }
  const body = `{"channel":${JSON.stringify(facts.channel)},"patches":[${result.steps.map((step) => step.json).join(',')}],"position":${JSON.stringify(result.position)}}`;
  metrics.statePatchBytes.inc({ transport: 'get' }, body.length);
  sendJson(response, 200, body, { etag: positionTag(result.position) });
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
