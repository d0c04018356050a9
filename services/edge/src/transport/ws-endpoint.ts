/**
 * WebSocket at `/v1/ws`, subprotocols `fanout.json.v1` and `fanout.proto.v1`, and
 * `fanout.json.v2` and `fanout.proto.v2` (the same with batch frames).
 *
 * A connection authenticates with its handshake token (query `token` or
 * `Authorization`) or a first Connect frame, then subscribes through the
 * subscription core. Catch-up frames are sent per connection; live frames
 * go through uWS topics so the per-subscriber work stays in C++. A
 * connection over its backpressure limit is closed with `backpressure`
 * (4008) and its positions, checked often enough (PublishGuard) that it
 * never reaches uWS's own limit (twice ours), where uWS would drop it
 * without a close frame. It is never fed a stream with holes.
 */
import { toFanoutError, type FanoutConfig, type Logger } from '@fanout/shared';
import type { TemplatedApp, WebSocket } from 'uWebSockets.js';
import type { RewindOptions } from '../subscriptions/channel-rewind.js';
import type { SessionOptions, SubscriptionCore } from '../subscriptions/subscription-core.js';
import { failSocket, guard, type GuardedBehavior } from './uws-guard.js';
import type { UserData, WsConnection } from './ws-connection.js';
import { decodeClientFrame, type ClientMessage } from './ws-frames.js';
import { upgradeHandler, type WsHandshakeOptions } from './ws-handshake.js';
import { connectedFrame, handleClientMessage } from './ws-requests.js';

export interface WsEndpointOptions extends WsHandshakeOptions {
  readonly app: TemplatedApp;
  readonly core: SubscriptionCore;
  readonly edgeId: string;
  readonly logger: Logger;
  /** What a subscription's `rewind` scan reads; without it `rewind` is refused. */
  readonly rewind?: RewindOptions;
}

/** uWS refuses an idleTimeout over this many seconds. */
const uwsMaxIdleSeconds = 960;

/**
 * The edge closes idle sockets itself, with `idle_timeout` (4001) and the
 * positions; uWS's own timeout, which drops a socket without a close frame,
 * is only a backstop this far behind (and bounds a socket that never
 * answers the close).
 */
export function idleTimeouts(idleTimeoutSeconds: number): {
  /** Seconds of silence after which the edge closes with idle_timeout. */
  readonly edgeSeconds: number;
  /** The uWS idleTimeout. */
  readonly uwsSeconds: number;
} {
  const uwsSeconds = Math.min(uwsMaxIdleSeconds, idleTimeoutSeconds + 16);
  return { edgeSeconds: Math.min(idleTimeoutSeconds, uwsSeconds - 8), uwsSeconds };
}

export interface WsEndpoint {
  /** Open sockets. */
  connections(): number;
  /** Closes the connections over the backpressure limit (see below). */
  sweep(pendingBytes: number): void;
  /** Closes connections that stayed silent, or never authenticated, too long. */
  sweepIdle(): void;
}

export function registerWsEndpoint(options: WsEndpointOptions): WsEndpoint {
  const { app, config, logger, metrics, core } = options;
  const live = new Set<WsConnection>();
  /**
   * The connections that may hold bytes their client has not read: those
   * that joined a uWS topic, and those a send of their own left buffered
   * (until a sweep finds them empty). The backpressure sweep checks these,
   * not every connection: most connections of a busy edge are idle.
   */
  const watched = new Set<WsConnection>();
  const watch = (connection: WsConnection): void => {
    if (!connection.closed) watched.add(connection);
  };
  /** One for every connection: a connection makes its subscribe budget at its first subscribe. */
  const sessionOptions: SessionOptions = {
    subscribeRate: {
      perSecond: config.subscribeRatePerSecond,
      capacity: config.maxSubscriptionsPerConnection,
    },
  };
  const requests = {
    auth: options.auth,
    edgeId: options.edgeId,
    pingIntervalSeconds: config.heartbeatSeconds,
    resourceChannelPrefix: config.resources.channelPrefix,
    ...(options.rewind === undefined ? {} : { rewind: options.rewind }),
  };
  const idle = idleTimeouts(config.idleTimeoutSeconds);
  const behavior: GuardedBehavior<UserData> = {
    compression: 0,
    // Frames up to twice the limit reach `message`, which closes with
    // message_too_large (4413, stop); uWS cuts larger ones off (1006).
    maxPayloadLength: config.maxMessageBytes * 2,
    // A backstop: the edge closes idle sockets itself (sweepIdle).
    idleTimeout: idle.uwsSeconds,
    maxBackpressure: config.maxBackpressureBytes * 2,
    // Typed as a number by the package; a dropped frame closes the socket instead of leaving a hole.
    closeOnBackpressureLimit: 1,
    sendPingsAutomatically: true,
    upgrade: upgradeHandler({ ...options, watch }),
    open(ws) {
      const connection = ws.getUserData().connection;
      connection.ws = ws;
      connection.session = core.open(connection, sessionOptions);
      live.add(connection);
      metrics.connections.inc({ transport: 'ws' });
      connection.heard();
      if (connection.identity) {
        connection.armExpiry();
        connection.send(connectedFrame(requests, 0, connection.identity));
      }
    },
    message(ws, data, isBinary) {
      const connection = ws.getUserData().connection;
      connection.heard();
      if (connection.ending) return;
      if (data.byteLength > config.maxMessageBytes) {
        connection.closeWith(
          'message_too_large',
          `a frame may have at most ${config.maxMessageBytes} bytes`,
        );
        return;
      }
      let message: ClientMessage;
      try {
        message = decodeClientFrame(connection.format, data, isBinary);
      } catch (error) {
        const failure = toFanoutError(error);
        metrics.frameErrors.inc({ code: failure.code });
        connection.send({
          kind: 'error',
          requestId: 0,
          code: failure.code,
          message: failure.message,
        });
        return;
      }
      handleClientMessage(requests, connection, message).catch(
        guard(
          options.guard,
          'ws request failed',
          (error: unknown) => {
            const failure = toFanoutError(error);
            if (failure.code === 'internal') {
              logger.error({ err: error }, 'WebSocket request failed');
            }
            metrics.frameErrors.inc({ code: failure.code });
            const channel = failure.details['channel'];
            connection.send({
              kind: 'error',
              requestId: message.requestId,
              code: failure.code,
              message: failure.message,
              ...(typeof channel === 'string' ? { channel } : {}),
            });
            // A connect with an expired token ends the connection; a refresh
            // with one is only refused: the connection keeps its token.
            if (failure.code === 'token_expired' && message.kind === 'connect') {
              connection.closeWith('token_expired', failure.message);
            }
          },
          () => {
            endWithInternal(ws);
          },
        ),
      );
    },
    ping(ws) {
      ws.getUserData().connection.heard();
    },
    pong(ws) {
      ws.getUserData().connection.heard();
    },
    drain(ws) {
      ws.getUserData().connection.onDrain();
    },
    close(ws, code) {
      const connection = ws.getUserData().connection;
      // Without a close handshake: the client vanished, uWebSockets.js
      // dropped it at twice the limit (closeOnBackpressureLimit) during a
      // burst between two sweeps, or it sent a text frame that is not UTF-8.
      // uWS cannot tell which.
      if (!connection.endedByEdge && code === 1006) metrics.abruptCloses.inc();
      // A socket whose open handler failed was never counted.
      if (live.delete(connection)) metrics.connections.dec({ transport: 'ws' });
      watched.delete(connection);
      connection.onClose();
    },
    onFault(ws) {
      endWithInternal(ws);
    },
    onCloseFault(ws) {
      const connection = ws.getUserData().connection;
      if (live.delete(connection)) metrics.connections.dec({ transport: 'ws' });
      watched.delete(connection);
      if (!connection.closed) connection.onClose();
    },
  };
  app.ws<UserData>('/v1/ws', behavior);

  /** Ends a socket whose handler failed: `disconnect` with positions, close 4000. */
  function endWithInternal(ws: WebSocket<UserData>): void {
    try {
      const connection = ws.getUserData().connection;
      connection.ws ??= ws;
      connection.closeWith(
        'internal',
        'the edge failed on this connection; resume from the positions',
      );
    } catch (error) {
      options.guard.report('ws fault', error);
      failSocket(ws);
    }
  }

  // The edge closes a client over the limit itself, with `disconnect` and its
  // positions; uWS's own hard limit is twice that: PublishGuard checks often
  // enough that no client gets there, leaving room for the close frames.
  const softLimit = config.maxBackpressureBytes;
  return {
    connections: () => live.size,
    /**
     * Closes the connections over the limit. `pendingBytes` were published
     * this turn and may still wait in uWS's topic queue, not counted in a
     * buffered amount: a connection they might take over the limit is handed
     * its queued frames first (a send does that; a ping is the smallest).
     */
    sweep(pendingBytes) {
      for (const connection of watched) {
        if (connection.closed) {
          watched.delete(connection);
          continue;
        }
        if (pendingBytes > 0 && connection.bufferedBytes() + pendingBytes > softLimit) {
          connection.flushQueued();
        }
        const buffered = connection.bufferedBytes();
        if (buffered > softLimit) {
          connection.closeWith(
            'backpressure',
            'the client read too slowly; resume from the positions',
          );
        } else if (buffered === 0 && !connection.joinedTopics) {
          // Its own sends were read: nothing can pile up without another send.
          watched.delete(connection);
        }
      }
    },
    sweepIdle() {
      sweepIdle(live, config, idle.edgeSeconds);
    },
  };
}

function sweepIdle(
  live: ReadonlySet<WsConnection>,
  config: FanoutConfig['edge'],
  edgeSeconds: number,
): void {
  const now = Date.now();
  const idleMs = edgeSeconds * 1000;
  for (const connection of [...live]) {
    if (
      !connection.authenticated() &&
      connection.pendingTokenFrames === 0 &&
      now - connection.openedAt >= config.connectTimeoutMs
    ) {
      // Pings keep a socket from idling out, not from authenticating.
      connection.closeWith(
        'unauthenticated',
        `no Connect frame with a valid token within ${config.connectTimeoutMs} ms`,
      );
      continue;
    }
    const silent = now - connection.lastHeard;
    if (silent >= idleMs) {
      connection.closeWith(
        'idle_timeout',
        `nothing was received for ${edgeSeconds} s; reconnect and resume`,
      );
    } else if (silent >= idleMs / 2 && !connection.pinged && connection.ws) {
      // A live client answers with a pong, which counts as traffic.
      connection.pinged = true;
      connection.ws.ping();
    }
  }
}
