/**
 * SSE streams: one channel (`GET /v1/channels/{channel}` with `watch=true`
 * or `Accept: text/event-stream`) or several channels and patterns
 * (`GET /v1/stream?channels=a,b.*`), resumed from `Last-Event-ID` or
 * `since`. The stream is one subscription of the core under the channel
 * list; the response is its `Subscriber` (sse-stream.ts).
 */
import { assertValidChannel, FanoutError, isChannelPattern } from '@fanout/shared';
import type { HttpResponse } from 'uWebSockets.js';
import type { ClientAuth } from '../admission/client-auth.js';
import type { ConnectionLimits } from '../admission/connection-limits.js';
import { parseStreamCursor } from '../subscriptions/stream-cursor.js';
import type { SessionOptions, SubscriptionCore } from '../subscriptions/subscription-core.js';
import type { RequestFacts } from './request-facts.js';
import { SseStream, type SseContext } from './sse-stream.js';

export interface SseEndpointOptions extends SseContext {
  readonly core: SubscriptionCore;
  readonly auth: ClientAuth;
  readonly limits: ConnectionLimits;
}

/** A stream subscribes once: no subscribe rate. */
const streamSessions: SessionOptions = {};

function typesParameter(query: URLSearchParams): string[] {
  const text = query.get('types');
  return text === null || text === '' ? [] : text.split(',').filter((type) => type !== '');
}

/**
 * Opens a stream of `channels` for the request; `state.stream` is the
 * stream from the moment it holds its place in the limits, so an abort
 * reaches it.
 */
export async function openStream(
  options: SseEndpointOptions,
  response: HttpResponse,
  facts: RequestFacts,
  state: { aborted: boolean; stream?: SseStream },
  channels: readonly string[],
  route: string,
): Promise<void> {
  const identity = await options.auth.identify(facts.token);
  if (channels.length === 0) {
    throw new FanoutError('invalid_argument', 'name at least one channel', {
      details: { field: 'channels' },
    });
  }
  for (const channel of channels) {
    if (!isChannelPattern(channel)) assertValidChannel(channel, 'channels');
  }
  const sinceText = facts.lastEventId !== '' ? facts.lastEventId : (facts.query.get('since') ?? '');
  const since = sinceText === '' ? undefined : parseStreamCursor(sinceText);
  if (state.aborted) return;
  const lease = options.limits.acquire(
    facts.address,
    identity.anonymous ? undefined : identity.subject,
  );
  const stream = new SseStream(response, options, lease, identity);
  state.stream = stream;
  stream.session = options.core.open(stream, streamSessions);
  stream.expireAt(identity.expiresAt);
  await stream.session.subscribe(0, [
    {
      label: channels.join(','),
      channels: channels.filter((channel) => !isChannelPattern(channel)),
      patterns: channels.filter((channel) => isChannelPattern(channel)),
      types: typesParameter(facts.query),
      ...(since === undefined ? {} : { since }),
    },
  ]);
  if (stream.started) options.metrics.httpRequests.inc({ route, status: '200' });
}
