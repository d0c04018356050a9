/**
 * The WebSocket upgrade of `/v1/ws`: admission, the subprotocol
 * (`fanout.json.v1`, `fanout.proto.v1`, or with batch frames `fanout.json.v2`,
 * `fanout.proto.v2`: the first the client offers that the edge knows), the handshake token (query
 * `token` or `Authorization`; without one the client may send a Connect
 * frame) and the connection's place in the limits. A refused upgrade is an
 * HTTP answer with the error as JSON.
 */
import { FanoutError, toFanoutError, toHttpStatus, type FanoutConfig } from '@fanout/shared';
import type { HttpRequest, HttpResponse, us_socket_context_t } from 'uWebSockets.js';
import {
  anonymousClient,
  requestToken,
  type ClientAuth,
  type ClientIdentity,
} from '../admission/client-auth.js';
import type { ConnectionLease, ConnectionLimits } from '../admission/connection-limits.js';
import type { EdgeMetrics } from '../edge-metrics.js';
import type { ResourceLeases } from '../resources/resource-leases.js';
import { httpStatusLine } from './http-status.js';
import { forwardedHeaders } from './request-facts.js';
import { guardResponse, markFinished, type HandlerGuard } from './uws-guard.js';
import type { StateTrackers } from '../subscriptions/state/state-trackers.js';
import { WsConnection, type UserData, type WsConnectionContext } from './ws-connection.js';
import { subprotocols, type Subprotocol } from './ws-frames.js';

export interface WsHandshakeOptions {
  readonly auth: ClientAuth;
  readonly config: FanoutConfig['edge'];
  readonly metrics: EdgeMetrics;
  readonly guard: HandlerGuard;
  readonly admit: (request: HttpRequest) => FanoutError | undefined;
  readonly limits: ConnectionLimits;
  readonly addressOf: (response: HttpResponse, request: HttpRequest) => string;
  /** The edge's state trackers, for state subscriptions. */
  readonly trackers?: StateTrackers;
  /** The leases of on-demand resources (`edge.resources.enabled`), for resource subscriptions. */
  readonly resources?: ResourceLeases;
  /** Where a connection that may hold buffered bytes is registered (WsConnectionContext.watch). */
  readonly watch?: (connection: WsConnection) => void;
}

/** The first subprotocol the client offers that the edge speaks: the client's preference. */
function chooseSubprotocol(header: string): { name: string; protocol: Subprotocol } | undefined {
  for (const offered of header.split(',')) {
    const name = offered.trim();
    const protocol = subprotocols[name];
    if (protocol) return { name, protocol };
  }
  return undefined;
}

function refuseUpgrade(response: HttpResponse, error: FanoutError, metrics: EdgeMetrics): void {
  metrics.httpRequests.inc({ route: 'ws', status: String(toHttpStatus(error.code)) });
  response.cork(() => {
    response
      .writeStatus(httpStatusLine(toHttpStatus(error.code)))
      .writeHeader('content-type', 'application/json')
      .end(JSON.stringify(error.toJSON()));
  });
}

/** The uWS `upgrade` handler: identifies the client, takes its lease, opens the socket. */
export function upgradeHandler(
  options: WsHandshakeOptions,
): (response: HttpResponse, request: HttpRequest, context: us_socket_context_t) => void {
  const { auth, metrics } = options;
  const connectionContext: WsConnectionContext = {
    config: options.config,
    metrics,
    guard: options.guard,
    ...(options.trackers === undefined ? {} : { trackers: options.trackers }),
    ...(options.resources === undefined ? {} : { resources: options.resources }),
    ...(options.watch === undefined ? {} : { watch: options.watch }),
  };
  const forwardHeaders =
    options.resources === undefined ? [] : options.config.resources.forwardHeaders;
  return (response, request, context) => {
    const refused = options.admit(request);
    if (refused) {
      refuseUpgrade(response, refused, metrics);
      return;
    }
    const chosen = chooseSubprotocol(request.getHeader('sec-websocket-protocol'));
    if (!chosen) {
      refuseUpgrade(
        response,
        new FanoutError(
          'subprotocol_unsupported',
          'offer the WebSocket subprotocol fanout.json.v1 or fanout.proto.v1 (fanout.json.v2 or fanout.proto.v2 for batch frames)',
        ),
        metrics,
      );
      return;
    }
    const address = options.addressOf(response, request);
    const key = request.getHeader('sec-websocket-key');
    const extensions = request.getHeader('sec-websocket-extensions');
    // What the connection's resource subscriptions forward (read while the request is valid).
    const forwarded = forwardedHeaders(request, forwardHeaders);
    const token = requestToken(
      request.getHeader('authorization'),
      new URLSearchParams(request.getQuery()),
    );
    let aborted = false;
    response.onAborted(
      guardResponse(options.guard, 'ws upgrade aborted', response, () => {
        aborted = true;
        markFinished(response);
      }),
    );
    // Without a token the client may authenticate with a Connect frame.
    const identify =
      token === undefined
        ? Promise.resolve(auth.required ? undefined : anonymousClient)
        : auth.identify(token);
    identify.then(
      guardResponse(
        options.guard,
        'ws upgrade',
        response,
        (identity: ClientIdentity | undefined) => {
          if (aborted) return;
          let lease: ConnectionLease;
          try {
            lease = options.limits.acquire(
              address,
              identity === undefined || identity.anonymous ? undefined : identity.subject,
            );
          } catch (error) {
            refuseUpgrade(response, toFanoutError(error), metrics);
            return;
          }
          const connection = new WsConnection(chosen.protocol, connectionContext, identity, lease);
          connection.forwarded = forwarded;
          try {
            response.cork(() => {
              response.upgrade<UserData>({ connection }, key, chosen.name, extensions, context);
            });
          } catch (error) {
            // The socket never opens: its place goes back.
            lease.release();
            throw error;
          }
          markFinished(response);
        },
      ),
      guardResponse(options.guard, 'ws upgrade', response, (error: unknown) => {
        if (aborted) return;
        refuseUpgrade(response, toFanoutError(error), metrics);
      }),
    );
  };
}
