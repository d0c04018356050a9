/**
 * What a WebSocket client frame asks for, turned into calls of the
 * subscription core (subscribe, unsubscribe, a new identity) and answered
 * with frames: `pong`, `connected`, `tokenRefreshed`, `unsubscribed`. A
 * request refused as a whole throws; the endpoint answers it with `error`.
 * A subscribe that could not wait for Kafka closes the connection instead
 * (4011 with the positions).
 *
 * `rewind: N` on a channel without `since` starts it with the channel's
 * last N events (subscriptions/channel-rewind.ts, as an SSE stream with
 * `rewind=N`): once the core has admitted the Subscribe, the scan finds the
 * position before the N-th last event, and the subscription is made from it
 * as from a `since`, so the hub's catch-up →
 * live seam gives those events and every later one. A `since` wins over
 * `rewind` (a resume); a pattern or a state subscription with `rewind` is
 * refused. `subscribed` tells what the scan found (`rewind`).
 *
 * `resource: <url>` instead of `channel` is a state subscription of an
 * on-demand live resource: its URL is checked as `GET /v1/resources?url=`
 * checks it, its channel computed as every edge and bridge computes it
 * (from the URL and the upgrade's forwarded headers), and it is admitted
 * by the core under that channel (authorized as a read of it); ws-state.ts
 * holds the lease.
 */
import {
  assertValidChannel,
  FanoutError,
  isChannelPattern,
  isValidChannel,
  leasedResourceChannel,
  toFanoutError,
} from '@fanout/shared';
import type { ClientAuth, ClientIdentity } from '../admission/client-auth.js';
import { checkedResourceUrl } from '../resources/resource-endpoint.js';
import type { ResourceTarget } from '../resources/resource-leases.js';
import {
  rewindCursor,
  rewindStart,
  rewindSummary,
  type RewindOptions,
} from '../subscriptions/channel-rewind.js';
import { parseStreamCursor } from '../subscriptions/stream-cursor.js';
import type { SubscribeRequest } from '../subscriptions/subscription-core.js';
import type { WsConnection } from './ws-connection.js';
import type { ClientMessage, ServerMessage, SubscriptionRequest } from './ws-frames.js';
import type { StateRequest } from './ws-state.js';

export interface WsRequestContext {
  readonly auth: ClientAuth;
  /** `edge.resources.channelPrefix`: where a `resource` subscription's channel is. */
  readonly resourceChannelPrefix: string;
  readonly edgeId: string;
  readonly pingIntervalSeconds: number;
  /** What a `rewind` scan reads; without it `rewind` is refused. */
  readonly rewind?: RewindOptions;
}

/** The most `connect` / `refreshToken` frames one connection may have waiting. */
const maxPendingTokenFrames = 4;

export function connectedFrame(
  context: WsRequestContext,
  requestId: number,
  identity: ClientIdentity,
): ServerMessage {
  return {
    kind: 'connected',
    requestId,
    edgeId: context.edgeId,
    pingIntervalSeconds: context.pingIntervalSeconds,
    ...(identity.expiresAt === undefined ? {} : { tokenExpiresAt: identity.expiresAt }),
  };
}

export async function handleClientMessage(
  context: WsRequestContext,
  connection: WsConnection,
  message: ClientMessage,
): Promise<void> {
  if (!connection.identity && message.kind !== 'connect' && message.kind !== 'ping') {
    throw new FanoutError('unauthenticated', 'send a Connect frame with a token first');
  }
  switch (message.kind) {
    case 'ping':
      connection.send({ kind: 'pong', requestId: message.requestId });
      return;
    case 'connect':
    case 'refreshToken': {
      // In arrival order, so a later token always wins over an earlier one.
      if (connection.pendingTokenFrames >= maxPendingTokenFrames) {
        throw new FanoutError(
          'rate_limited',
          `at most ${maxPendingTokenFrames} connect or refreshToken frames may wait; wait for the answers`,
        );
      }
      connection.pendingTokenFrames++;
      const run = (connection.tokenFrames ?? Promise.resolve()).then(() =>
        message.kind === 'connect'
          ? connect(context, connection, message.requestId, message.token)
          : refresh(context, connection, message.requestId, message.token),
      );
      const done = (): void => {
        // The last one waiting: nothing is chained after this run.
        if (--connection.pendingTokenFrames === 0) connection.tokenFrames = undefined;
      };
      connection.tokenFrames = run.then(done, done);
      await run;
      return;
    }
    case 'unsubscribe': {
      const removed = new Set([
        ...(connection.session?.unsubscribe(message.channels) ?? []),
        ...(connection.states()?.unsubscribe(message.channels) ?? []),
      ]);
      // In the order asked, each once.
      const channels = [...new Set(message.channels)].filter((label) => removed.has(label));
      connection.send({ kind: 'unsubscribed', requestId: message.requestId, channels });
      return;
    }
    case 'subscribe':
      try {
        const { events, states, rewinds } = subscribeRequests(
          message.subscriptions,
          context.rewind?.config.maxRewind ?? 0,
          (url) => {
            const target = { url, headers: connection.forwarded };
            return {
              target,
              channel: leasedResourceChannel(context.resourceChannelPrefix, url, target.headers),
            };
          },
        );
        if (rewinds.length > 0) rewound(context, connection, events, rewinds);
        const session = connection.session;
        if (states.length === 0) {
          try {
            await session?.subscribe(message.requestId, events);
          } finally {
            connection.forgetRewinds(rewinds.map((rewind) => rewind.label));
          }
          return;
        }
        const stateSubscriptions = connection.states();
        if (stateSubscriptions === undefined || session === undefined) {
          throw new FanoutError('state_unavailable', 'this edge serves no state subscriptions');
        }
        try {
          await stateSubscriptions.subscribe(
            message.requestId,
            states,
            events,
            // Every label in request order (a resource's is its channel).
            labelsOf(message.subscriptions, states),
            session,
            (state) => connection.wireState(state),
          );
        } finally {
          connection.forgetRewinds(rewinds.map((rewind) => rewind.label));
        }
      } catch (error) {
        // Kafka (or this edge's read of it) did not answer within
        // edge.kafkaWaitMs: close with 4011 and the positions, like a
        // catch-up that failed, so the client resumes with backoff. An
        // `error` frame would leave it connected with nothing subscribed.
        const failure = toFanoutError(error);
        if (failure.code !== 'kafka_unavailable') throw error;
        connection.closeWith(failure.code, failure.message);
      }
      return;
  }
}

/** An event subscription of a Subscribe that starts with its channel's last `count` events. */
interface RewindAsk {
  /** Its index in the Subscribe's event requests. */
  readonly index: number;
  readonly label: string;
  readonly count: number;
  readonly types: readonly string[];
}

/**
 * Makes each rewound request start where its channel's backwards scan
 * finds (`startAt`: run by the core once the Subscribe is admitted, every
 * channel's at once); the connection keeps what each scan found for the
 * `subscribed` frame.
 */
function rewound(
  context: WsRequestContext,
  connection: WsConnection,
  events: SubscribeRequest[],
  rewinds: readonly RewindAsk[],
): void {
  const options = context.rewind;
  if (options === undefined) {
    throw new FanoutError('invalid_argument', 'this edge serves no rewind', {
      details: { field: 'rewind' },
    });
  }
  for (const ask of rewinds) {
    const request = events[ask.index];
    if (request === undefined) continue;
    events[ask.index] = {
      ...request,
      startAt: async () => {
        const start = await rewindStart(options, {
          channel: ask.label,
          count: ask.count,
          types: ask.types,
        });
        const { requested, found, truncated } = rewindSummary(start);
        connection.rememberRewind(ask.label, { requested, found, truncated });
        return rewindCursor([start]);
      },
    };
  }
}

/** The labels of a Subscribe's requests in order: a resource's is its channel. */
function labelsOf(
  requests: readonly SubscriptionRequest[],
  states: readonly StateRequest[],
): string[] {
  const resources = states.filter((state) => state.resource !== undefined);
  let next = 0;
  return requests.map((request) =>
    request.resource === undefined ? request.channel : (resources[next++]?.channel ?? ''),
  );
}

/** A resource's channel and what its lease forwards. */
type ResourceResolver = (url: string) => { channel: string; target: ResourceTarget };

/**
 * The requests of a `subscribe` frame: for the core, one per channel or
 * pattern, each from its `since` (a position; for a pattern, a stream
 * cursor); the state subscriptions (`snapshot`), each of one channel,
 * without `types` or `rewind`; and the channels to rewind (`rewind` without
 * `since`, at most `maxRewind`). Every request is checked before anything
 * is subscribed.
 */
function subscribeRequests(
  requests: readonly SubscriptionRequest[],
  maxRewind: number,
  resolve: ResourceResolver,
): {
  events: SubscribeRequest[];
  states: StateRequest[];
  rewinds: RewindAsk[];
} {
  if (requests.length === 0) {
    throw new FanoutError('invalid_argument', 'subscribe.subscriptions is empty');
  }
  const events: SubscribeRequest[] = [];
  const states: StateRequest[] = [];
  const rewinds: RewindAsk[] = [];
  for (const request of requests) {
    if (request.resource !== undefined) {
      states.push(resourceRequest(request, resolve));
      continue;
    }
    const pattern = isChannelPattern(request.channel);
    if (!pattern && !isValidChannel(request.channel)) {
      assertValidChannel(request.channel, 'subscriptions.channel');
    }
    if (request.snapshot === true) {
      states.push(stateRequest(request, pattern));
      continue;
    }
    if (request.delta !== undefined) {
      throw invalid(request.channel, 'delta', 'delta is only for a state subscription (snapshot)');
    }
    const rewind = request.rewind ?? 0;
    if (rewind > 0) {
      if (pattern) {
        throw invalid(
          request.channel,
          'rewind',
          "rewind is for a channel, not a pattern: a pattern has no channel's last events",
        );
      }
      if (rewind > maxRewind) {
        throw new FanoutError(
          'invalid_argument',
          `rewind must be an integer from 0 to ${maxRewind} (edge.maxRewind)`,
          { details: { field: 'rewind', channel: request.channel, limit: maxRewind } },
        );
      }
      // A resume wins over rewind, as over HTTP (Last-Event-ID, `after`).
      if (request.since === undefined) {
        rewinds.push({
          index: events.length,
          label: request.channel,
          count: rewind,
          types: request.types,
        });
      }
    }
    events.push({
      label: request.channel,
      channels: pattern ? [] : [request.channel],
      patterns: pattern ? [request.channel] : [],
      types: request.types,
      ...(request.since === undefined ? {} : { since: parseStreamCursor(request.since) }),
    });
  }
  return { events, states, rewinds };
}

function invalid(channel: string, field: string, message: string): FanoutError {
  return new FanoutError('invalid_argument', message, { details: { field, channel } });
}

/**
 * A resource subscription: a state subscription of the channel its lease
 * publishes to (`channel` empty; `snapshot` implied; no `types`, no `rewind`).
 */
function resourceRequest(request: SubscriptionRequest, resolve: ResourceResolver): StateRequest {
  const invalidResource = (field: string, message: string): FanoutError =>
    new FanoutError('invalid_argument', message, {
      details: { field, resource: (request.resource ?? '').slice(0, 256) },
    });
  if (request.channel !== '') {
    throw invalidResource(
      'resource',
      'name either a channel or a resource, not both: a resource names its channel',
    );
  }
  if (request.types.length > 0) {
    throw invalidResource('types', 'types is not supported with resource: state has no types');
  }
  if (request.rewind !== undefined && request.rewind > 0) {
    throw invalidResource('rewind', 'rewind is not supported with resource');
  }
  const url = checkedResourceUrl(request.resource ?? '', 'resource');
  const { channel, target } = resolve(url);
  return {
    channel,
    resource: target,
    delta: request.delta ?? 'json-patch',
    ...(request.since === undefined ? {} : { since: request.since }),
  };
}

/** A state subscription: one channel, from a state position or a snapshot. */
function stateRequest(request: SubscriptionRequest, pattern: boolean): StateRequest {
  const { channel } = request;
  if (pattern) {
    throw invalid(channel, 'snapshot', 'snapshot is for a channel, not a pattern');
  }
  if (request.types.length > 0) {
    throw invalid(channel, 'types', 'types is not supported with snapshot: state has no types');
  }
  if (request.rewind !== undefined && request.rewind > 0) {
    throw invalid(channel, 'rewind', 'rewind is not supported with snapshot');
  }
  return {
    channel,
    delta: request.delta ?? 'json-patch',
    ...(request.since === undefined ? {} : { since: request.since }),
  };
}

async function connect(
  context: WsRequestContext,
  connection: WsConnection,
  requestId: number,
  token: string,
): Promise<void> {
  if (connection.authenticated()) throw new FanoutError('frame_invalid', 'already connected');
  const identity = await context.auth.identify(token);
  if (connection.closed) return;
  if (connection.authenticated()) throw new FanoutError('frame_invalid', 'already connected');
  try {
    connection.lease.identify(identity.anonymous ? undefined : identity.subject);
  } catch (error) {
    const failure = toFanoutError(error);
    connection.closeWith(failure.code, failure.message);
    return;
  }
  connection.identity = identity;
  connection.armExpiry();
  connection.send(connectedFrame(context, requestId, identity));
}

/**
 * Replaces the token. An invalid or expired one is answered with `error`
 * and changes nothing; a valid one that no longer allows a subscription
 * ends it with `error` `permission_denied` naming the channel (the core
 * checks those still being prepared when they are ready, against the token
 * then).
 */
async function refresh(
  context: WsRequestContext,
  connection: WsConnection,
  requestId: number,
  token: string,
): Promise<void> {
  const identity = await context.auth.identify(token);
  if (connection.closed) return;
  const current = connection.identity;
  if (current && identity.subject !== current.subject) {
    throw new FanoutError('permission_denied', 'a refreshed token must name the same subject');
  }
  connection.identity = identity;
  connection.armExpiry();
  connection.session?.reauthorize(requestId);
  connection.states()?.reauthorize(requestId);
  connection.send({
    kind: 'tokenRefreshed',
    requestId,
    ...(identity.expiresAt === undefined ? {} : { expiresAt: identity.expiresAt }),
  });
}
