/**
 * `GET /v1/resources?url=<encoded upstream URL>`: an on-demand live
 * resource, served as the state channel a bridge publishes it to. The
 * request is authorized as a read of that channel (`<channelPrefix>.<hash>`,
 * so a token that may read `resources.*` may use on-demand resources), joins
 * this edge's lease of the resource (resource-leases.ts), waits a bounded
 * time for the first state when there is none yet, and is then answered by
 * the state route's own code: a JSON snapshot with ETag / 304, `since` and
 * `wait=` patches, or an SSE stream (`watch=true` or
 * `Accept: text/event-stream`). The answer names the channels in the
 * `fanout-channel` and `fanout-status-channel` headers. A JSON answer holds
 * the lease while it is made; a stream until it closes. A WebSocket
 * subscription with `resource` (transport/ws-state.ts) holds it the same way.
 */
import { FanoutError } from '@fanout/shared';
import type { HttpResponse } from 'uWebSockets.js';
import { authorizeRead } from '../subscriptions/channel-read.js';
import type { RequestFacts } from '../transport/request-facts.js';
import { watches } from '../transport/request-facts.js';
import type { StateTracker } from '../subscriptions/state/state-tracker.js';
import type { SseStream } from '../transport/sse-stream.js';
import {
  answerStateRead,
  openStateStream,
  type StateEndpointOptions,
} from '../transport/state-endpoint.js';
import type { ResourceLeases, ResourceTarget } from './resource-leases.js';

/** Longest upstream URL a subscriber may name (as the bridge's lease accepts). */
export const maxResourceUrlLength = 4096;

export interface ResourceEndpointOptions extends StateEndpointOptions {
  /** `undefined` when `edge.resources.enabled` is off. */
  readonly resources: ResourceLeases | undefined;
}

/** The `url` parameter, checked: an absolute http(s) URL without user name or password. */
export function resourceUrl(query: URLSearchParams): string {
  return checkedResourceUrl(query.get('url') ?? '', 'url');
}

/**
 * An upstream URL a subscriber named (`field`: where, for the error),
 * checked and normalized (no fragment): an absolute http(s) URL without user
 * name or password, at most `maxResourceUrlLength` characters.
 */
export function checkedResourceUrl(url: string, field: string): string {
  const invalid = (message: string): FanoutError =>
    new FanoutError('invalid_argument', `${field}: ${message}`, { details: { field } });
  if (url === '') {
    throw invalid(
      field === 'url' ? 'name the resource: url=<encoded http(s) URL>' : 'name an http(s) URL',
    );
  }
  if (url.length > maxResourceUrlLength) {
    throw invalid(`must be at most ${maxResourceUrlLength} characters`);
  }
  const parsed = URL.parse(url);
  if (parsed === null || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) {
    throw invalid('must be an absolute http(s) URL');
  }
  if (parsed.username !== '' || parsed.password !== '') {
    throw invalid('must not carry a user name or password');
  }
  parsed.hash = '';
  return parsed.href;
}

/** Whether the client went away (read again after an await). */
function gone(state: { aborted: boolean }): boolean {
  return state.aborted;
}

/** Serves one `/v1/resources` request (a GET or a stream). */
export async function serveResource(
  options: ResourceEndpointOptions,
  response: HttpResponse,
  facts: RequestFacts,
  state: { aborted: boolean; stream?: SseStream },
  abort: AbortController,
): Promise<void> {
  const leases = options.resources;
  if (leases === undefined) {
    throw new FanoutError('not_found', 'on-demand resources are not enabled on this edge', {
      details: { setting: 'edge.resources.enabled' },
    });
  }
  const target: ResourceTarget = { url: resourceUrl(facts.query), headers: facts.forwarded };
  const identity = await options.auth.identify(facts.token);
  // Authorized before anything reaches a bridge.
  authorizeRead(options, identity, leases.channelOf(target));
  if (gone(state)) return;
  const hold = await leases.hold(target);
  let handedOver = false;
  try {
    if (gone(state)) return;
    // The bridge's channel is the one served (equal to ours when both hash alike).
    authorizeRead(options, identity, hold.channel);
    const channelFacts: RequestFacts = { ...facts, channel: hold.channel };
    const headers = {
      'fanout-channel': hold.channel,
      'fanout-status-channel': hold.statusChannel,
    };
    await firstState(options, hold.channel, abort.signal);
    if (gone(state)) return;
    if (watches(facts.query, facts.accept)) {
      await openStateStream(options, response, channelFacts, state, {
        headers,
        onClose: hold.release,
      });
      handedOver = state.stream !== undefined;
    } else {
      await answerStateRead(options, response, channelFacts, state, abort, { headers });
    }
  } finally {
    if (!handedOver) hold.release();
  }
}

/**
 * Waits up to `edge.resources.firstStateWaitMs` for the first state of a
 * channel that has none (the bridge publishes after its first poll).
 */
async function firstState(
  options: ResourceEndpointOptions,
  channel: string,
  signal: AbortSignal,
): Promise<void> {
  const tracker = options.trackers.acquire(channel);
  try {
    await tracker.caughtUp(Date.now() + options.config.kafkaWaitMs);
    tracker.assertServable();
    await awaitFirstState(tracker, options.config.resources.firstStateWaitMs, signal);
  } finally {
    tracker.pins--;
  }
}

/**
 * Waits up to `waitMs` for a caught-up tracker's first state (at once when
 * it has one, or `waitMs` is 0); the WebSocket resource subscription's wait too.
 */
export async function awaitFirstState(
  tracker: StateTracker,
  waitMs: number,
  signal: AbortSignal,
): Promise<void> {
  if (waitMs === 0 || tracker.snapshot().json !== undefined) return;
  const deadline = Date.now() + waitMs;
  while (tracker.snapshot().json === undefined && !signal.aborted && !tracker.closed) {
    const left = deadline - Date.now();
    if (left <= 0) return;
    await tracker.changedAfter(tracker.offset, left, signal);
  }
}
