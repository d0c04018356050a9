/**
 * SSE streams: one channel (`GET /v1/channels/{channel}` with `watch=true`
 * or `Accept: text/event-stream`) or several channels and patterns
 * (`GET /v1/stream?channels=a,b.*`), resumed from `Last-Event-ID` or
 * `since`, or started from each channel's last N events with `rewind=N`
 * (subscriptions/channel-rewind.ts; a resume wins over `rewind`, patterns
 * start live). The stream is one subscription of the core under the
 * channel list; the response is its `Subscriber` (sse-stream.ts).
 */
import { assertValidChannel, FanoutError, isChannelPattern } from '@fanout/shared';
import type { HttpResponse } from 'uWebSockets.js';
import type { ClientAuth } from '../admission/client-auth.js';
import type { ConnectionLimits } from '../admission/connection-limits.js';
import type { PartitionReader } from '../log/partition-reader.js';
import type { ChannelHub } from '../subscriptions/channel-hub.js';
import {
  parseRewind,
  RewindFilter,
  rewindCursor,
  rewindStart,
  rewindSummary,
} from '../subscriptions/channel-rewind.js';
import { parseStreamCursor, type StreamCursor } from '../subscriptions/stream-cursor.js';
import type { SessionOptions, SubscriptionCore } from '../subscriptions/subscription-core.js';
import type { RequestFacts } from './request-facts.js';
import { SseStream, type SseContext } from './sse-stream.js';

export interface SseEndpointOptions extends SseContext {
  readonly core: SubscriptionCore;
  readonly auth: ClientAuth;
  readonly limits: ConnectionLimits;
  readonly hub: ChannelHub;
  readonly reader: PartitionReader;
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
  if (channels.length > options.config.maxSubscriptionsPerConnection) {
    throw channelLimit(options.config.maxSubscriptionsPerConnection);
  }
  const sinceText = facts.lastEventId !== '' ? facts.lastEventId : (facts.query.get('since') ?? '');
  let since: StreamCursor | undefined = sinceText === '' ? undefined : parseStreamCursor(sinceText);
  const rewind = parseRewind(facts.query.get('rewind'), options.config.maxRewind);
  const types = typesParameter(facts.query);
  const concrete = channels.filter((channel) => !isChannelPattern(channel));
  let filter: RewindFilter | undefined;
  let rewound: ReturnType<typeof rewindSummary>[] | undefined;
  if (since === undefined && rewind !== undefined && concrete.length > 0) {
    for (const channel of concrete) options.auth.authorize(identity, channel);
    // Every channel's scan at once, not one after another.
    const starts = await Promise.all(
      concrete.map((channel) => rewindStart(options, { channel, count: rewind, types })),
    );
    since = rewindCursor(starts);
    filter = new RewindFilter(starts);
    rewound = starts.map(rewindSummary);
  }
  if (state.aborted) return;
  const lease = options.limits.acquire(
    facts.address,
    identity.anonymous ? undefined : identity.subject,
  );
  const stream = new SseStream(response, options, lease, identity);
  state.stream = stream;
  stream.rewind = filter;
  stream.rewound = rewound;
  stream.session = options.core.open(stream, streamSessions);
  stream.expireAt(identity.expiresAt);
  await stream.session.subscribe(0, [
    {
      label: channels.join(','),
      channels: channels.filter((channel) => !isChannelPattern(channel)),
      patterns: channels.filter((channel) => isChannelPattern(channel)),
      types,
      ...(since === undefined ? {} : { since }),
    },
  ]);
  if (stream.started) options.metrics.httpRequests.inc({ route, status: '200' });
}

/** More channels in one request than a stream may follow. */
export function channelLimit(max: number): FanoutError {
  return new FanoutError(
    'subscription_limit',
    `at most ${max} channels or patterns in one request (edge.maxSubscriptionsPerConnection)`,
    { details: { field: 'channels', limit: max } },
  );
}
