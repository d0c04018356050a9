/**
 * What a WebSocket client frame asks for, turned into calls of the
 * subscription core (subscribe, unsubscribe, a new identity) and answered
 * with frames: `pong`, `connected`, `tokenRefreshed`, `unsubscribed`. A
 * request refused as a whole throws; the endpoint answers it with `error`.
 * A subscribe that could not wait for Kafka closes the connection instead
 * (4011 with the positions).
 */
import {
  assertValidChannel,
  FanoutError,
  isChannelPattern,
  isValidChannel,
  toFanoutError,
} from '@fanout/shared';
import type { ClientAuth, ClientIdentity } from '../admission/client-auth.js';
import { parseStreamCursor } from '../subscriptions/stream-cursor.js';
import type { SubscribeRequest } from '../subscriptions/subscription-core.js';
import { wireState, type WsConnection } from './ws-connection.js';
import type { ClientMessage, ServerMessage, SubscriptionRequest } from './ws-frames.js';
import type { StateRequest } from './ws-state.js';

export interface WsRequestContext {
  readonly auth: ClientAuth;
  readonly edgeId: string;
  readonly pingIntervalSeconds: number;
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
      const run = connection.tokenFrames.then(() =>
        message.kind === 'connect'
          ? connect(context, connection, message.requestId, message.token)
          : refresh(context, connection, message.requestId, message.token),
      );
      connection.tokenFrames = run.then(
        () => {
          connection.pendingTokenFrames--;
        },
        () => {
          connection.pendingTokenFrames--;
        },
      );
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
        const { events, states } = subscribeRequests(message.subscriptions);
        const session = connection.session;
        if (states.length === 0) {
          await session?.subscribe(message.requestId, events);
          return;
        }
        const stateSubscriptions = connection.states();
        if (stateSubscriptions === undefined || session === undefined) {
          throw new FanoutError('state_unavailable', 'this edge serves no state subscriptions');
        }
        await stateSubscriptions.subscribe(
          message.requestId,
          states,
          events,
          message.subscriptions.map((request) => request.channel),
          session,
          wireState,
        );
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

/**
 * The requests of a `subscribe` frame: for the core, one per channel or
 * pattern, each from its `since` (a position; for a pattern, a stream
 * cursor); and the state subscriptions (`snapshot`), each of one channel,
 * without `types` or `rewind`. Every request is checked before anything is
 * subscribed.
 */
function subscribeRequests(requests: readonly SubscriptionRequest[]): {
  events: SubscribeRequest[];
  states: StateRequest[];
} {
  if (requests.length === 0) {
    throw new FanoutError('invalid_argument', 'subscribe.subscriptions is empty');
  }
  const events: SubscribeRequest[] = [];
  const states: StateRequest[] = [];
  for (const request of requests) {
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
    events.push({
      label: request.channel,
      channels: pattern ? [] : [request.channel],
      patterns: pattern ? [request.channel] : [],
      types: request.types,
      ...(request.since === undefined ? {} : { since: parseStreamCursor(request.since) }),
    });
  }
  return { events, states };
}

function invalid(channel: string, field: string, message: string): FanoutError {
  return new FanoutError('invalid_argument', message, { details: { field, channel } });
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
