/**
 * The edge's client-facing uWebSockets.js server: admission (draining,
 * Origin allow-list, connection limits per edge, address and subject), the
 * WebSocket endpoint, the SSE and GET routes, and `not_found` for
 * everything else.
 */
import { FanoutError, toHttpStatus, type FanoutConfig, type Logger } from '@fanout/shared';
import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import type { ChannelHub } from './subscriptions/channel-hub.js';
import type { ClusterRouting, HintFor } from './cluster/cluster-routing.js';
import type { ClientAuth } from './admission/client-auth.js';
import { clientAddress, ConnectionLimits } from './admission/connection-limits.js';
import { CorsPolicy, writeCorsHeaders } from './transport/cors.js';
import type { EdgeMetrics } from './edge-metrics.js';
import { httpStatusLine } from './transport/http-status.js';
import { sendError } from './transport/http-answers.js';
import type { ResourceLeases } from './resources/resource-leases.js';
import { registerHttpRoutes } from './transport/http-routes.js';
import { PublishGuard } from './transport/publish-guard.js';
import type { PartitionReader } from './log/partition-reader.js';
import type { Uws } from './transport/uws-native.js';
import { registerReadinessEndpoint } from './cluster/readiness-endpoint.js';
import { registerRouteEndpoint } from './cluster/route-endpoint.js';
import { createHandlerGuard, guard, guardApp } from './transport/uws-guard.js';
import { registerWsEndpoint } from './transport/ws-endpoint.js';
import { SubscriptionCore } from './subscriptions/subscription-core.js';
import { StateTrackers } from './subscriptions/state/state-trackers.js';
import type { CheckpointSource } from './subscriptions/state/checkpoint-source.js';

export interface EdgeServerOptions {
  readonly uws: Uws;
  readonly config: FanoutConfig['edge'];
  /** Limits of state documents: the edge folds with the ingest's values. */
  readonly state: FanoutConfig['state'];
  readonly edgeId: string;
  readonly hub: ChannelHub;
  readonly reader: PartitionReader;
  readonly auth: ClientAuth;
  readonly metrics: EdgeMetrics;
  readonly logger: Logger;
  /** True while the hub publishes to uWS topics. */
  readonly publishing: () => boolean;
  readonly routing: ClusterRouting;
  /** Why the edge cannot serve now (undefined: ready), answered at `GET /readyz`. */
  readonly notReady: () => FanoutError | undefined;
  /** Checkpoints state trackers start from (edge.state.checkpoints.enabled). */
  readonly checkpoints?: CheckpointSource;
  /** The leases of on-demand resources (edge.resources.enabled). */
  readonly resources?: ResourceLeases;
}

export interface EdgeServer {
  readonly port: number;
  readonly app: TemplatedApp;
  /** Open WebSockets plus SSE streams. */
  connections(): number;
  /**
   * Call before publishing a frame of `bytes` bytes to a topic: closes
   * WebSockets over their backpressure limit first when needed (PublishGuard).
   */
  beforePublish(bytes: number): void;
  /** Refuses new clients from now on (readiness turns 503 elsewhere). */
  stopAccepting(): void;
  /**
   * Closes every client with a resumable `draining` close carrying its
   * positions, paced over `overMs`, then stops listening.
   */
  drain(overMs: number): Promise<void>;
  close(): void;
}

export async function startEdgeServer(options: EdgeServerOptions): Promise<EdgeServer> {
  const { config } = options;
  const handlerGuard = createHandlerGuard(options.logger, options.metrics);
  const uwsApp = options.uws.App();
  // Every route and WebSocket handler is registered through the guard: an
  // exception ends its own connection or request, never the process. The
  // app itself (publish, listen) is used directly.
  const app = guardApp(uwsApp, handlerGuard);
  let accepting = true;
  const cors = new CorsPolicy(
    config.allowedOrigins,
    config.resources.enabled ? config.resources.forwardHeaders : [],
  );
  let connections = (): number => 0;
  const limits = new ConnectionLimits({
    total: config.maxConnections,
    perAddress: config.maxConnectionsPerAddress,
    perSubject: config.maxConnectionsPerSubject,
  });
  const addressHeader = config.clientAddressHeader.toLowerCase();
  /** Read synchronously in a handler: uWS request objects do not outlive it. */
  function addressOf(response: HttpResponse, request: HttpRequest): string {
    const peer = Buffer.from(response.getRemoteAddressAsText()).toString('latin1');
    return clientAddress(peer, addressHeader, request);
  }

  /** `opensConnection`: a WebSocket or SSE stream; plain GETs and long-polls are not counted. */
  function admit(request: HttpRequest, opensConnection = true): FanoutError | undefined {
    if (!accepting) return new FanoutError('draining', 'this edge is shutting down; use another');
    const origin = request.getHeader('origin');
    if (!cors.allows(origin)) {
      return new FanoutError('origin_not_allowed', `origin ${origin} is not allowed`);
    }
    // Checked again, exactly, when the connection takes its lease.
    if (opensConnection && limits.full()) return limits.totalLimitError();
    return undefined;
  }

  const core = new SubscriptionCore({
    hub: options.hub,
    auth: options.auth,
    config,
    logger: options.logger,
    metrics: options.metrics,
    routing: options.routing,
    guard: handlerGuard,
  });
  /** WebSocket connections and SSE streams, for the drain and the rebalance. */
  const sessions = core.sessions;
  const common = {
    app,
    core,
    auth: options.auth,
    config,
    logger: options.logger,
    metrics: options.metrics,
    admit,
    limits,
    addressOf,
    guard: handlerGuard,
  };
  const trackers = new StateTrackers({
    hub: options.hub,
    limits: { maxDocumentBytes: options.state.maxDocumentBytes, maxDepth: options.state.maxDepth },
    maxChannels: config.state.maxChannels,
    patchRing: config.state.patchRing,
    patchRingRatio: config.state.patchRingRatio,
    kafkaWaitMs: config.kafkaWaitMs,
    metrics: options.metrics,
    logger: options.logger.child({ component: 'state' }),
    ...(options.checkpoints === undefined ? {} : { checkpoints: options.checkpoints }),
  });
  const ws = registerWsEndpoint({
    ...common,
    edgeId: options.edgeId,
    trackers,
    rewind: { hub: options.hub, reader: options.reader, config },
    ...(options.resources === undefined ? {} : { resources: options.resources }),
  });
  registerHttpRoutes({
    ...common,
    hub: options.hub,
    reader: options.reader,
    cors,
    trackers,
    resources: options.resources,
  });
  connections = () => ws.connections() + sessions.count('sse');
  registerRouteEndpoint({
    app,
    reader: options.reader,
    routing: options.routing,
    metrics: options.metrics,
    maxChannels: config.maxSubscriptionsPerConnection,
    cors,
    guard: handlerGuard,
  });
  registerReadinessEndpoint(app, options.notReady);
  options.routing.addSweep('ws', (select, limit) => sessions.rebalance(select, limit, 'ws'));
  options.routing.addSweep('sse', (select, limit) => sessions.rebalance(select, limit, 'sse'));
  /** Where a drained client goes: the edge placement picks once this one is gone. */
  const drainHint: HintFor = (partitions, key) => {
    const count = options.reader.layout?.partitions ?? 0;
    return options.routing.clustered
      ? options.routing.elsewhere(count, partitions, key)
      : undefined;
  };
  // CORS preflights of the HTTP routes, from the origins WebSockets may come from.
  app.options('/v1/*', (response, request) => {
    const origin = cors.note(response, request);
    if (!cors.allows(origin)) {
      sendError(response, new FanoutError('origin_not_allowed', `origin ${origin} is not allowed`));
      return;
    }
    response.cork(() => {
      response.writeStatus('204 No Content').writeHeader('allow', 'GET, OPTIONS');
      writeCorsHeaders(response, true);
      response.end();
    });
  });
  app.any('/*', (response, request) => {
    cors.note(response, request);
    const method = request.getMethod();
    if (method === 'head') {
      // An answer to HEAD has no body: the client would read one as the start
      // of the next answer on the connection.
      response.cork(() => {
        response.writeStatus(httpStatusLine(toHttpStatus('not_found')));
        writeCorsHeaders(response);
        response.endWithoutBody(0);
      });
      return;
    }
    sendError(
      response,
      new FanoutError('not_found', `no route ${method.toUpperCase()} ${request.getUrl()}`),
    );
  });

  const listenSocket = await new Promise<us_listen_socket>((resolve, reject) => {
    uwsApp.listen(options.config.host, options.config.port, (socket) => {
      if (socket) resolve(socket);
      else reject(new Error(`cannot listen on ${config.host}:${config.port}`));
    });
  });
  const publishGuard = new PublishGuard(config.maxBackpressureBytes / 2, (pending) => {
    ws.sweep(pending);
  });
  const sweep = setInterval(
    guard(
      handlerGuard,
      'backpressure sweep',
      () => {
        publishGuard.checkNow();
      },
      () => undefined,
    ),
    50,
  );
  sweep.unref();
  const idleSweep = setInterval(
    guard(
      handlerGuard,
      'idle sweep',
      () => {
        ws.sweepIdle();
      },
      () => undefined,
    ),
    1000,
  );
  idleSweep.unref();
  // Kafka unreachable for kafkaWaitMs: every client is told (4011, SSE
  // `disconnect` kafka_unavailable) and resumes with backoff from its
  // positions, on an edge that can read Kafka if there is one (this one is
  // not ready meanwhile). Shorter blips pass unnoticed.
  let outage: NodeJS.Timeout | undefined;
  options.hub.onHealthChange = (healthy) => {
    if (healthy) {
      clearTimeout(outage);
      outage = undefined;
      return;
    }
    if (outage) return;
    outage = setTimeout(
      guard(
        handlerGuard,
        'kafka outage close',
        () => {
          outage = undefined;
          if (options.hub.healthy) return;
          const message = `Kafka has been unreachable for ${config.kafkaWaitMs} ms; resume with backoff`;
          options.logger.warn({ connections: connections() }, 'Kafka unreachable: closing clients');
          sessions.drainAll('kafka_unavailable', message);
        },
        () => undefined,
      ),
      config.kafkaWaitMs,
    );
    outage.unref();
  };
  let listening = true;
  const stopListening = (): void => {
    if (!listening) return;
    listening = false;
    options.uws.us_listen_socket_close(listenSocket);
  };
  return {
    port: options.uws.us_socket_local_port(listenSocket),
    app: uwsApp,
    connections,
    beforePublish(bytes) {
      publishGuard.beforePublish(bytes);
    },
    stopAccepting() {
      accepting = false;
    },
    async drain(overMs) {
      accepting = false;
      // Pace the closes so reconnects spread over the drain time.
      const steps = 10;
      for (let step = steps; step > 0 && connections() > 0; step--) {
        const share = Math.ceil(connections() / step);
        sessions.drainSome(
          share,
          'draining',
          'this edge is shutting down; resume on another',
          drainHint,
        );
        await new Promise((resolve) => setTimeout(resolve, overMs / steps));
      }
      stopListening();
    },
    close() {
      clearInterval(sweep);
      clearInterval(idleSweep);
      clearTimeout(outage);
      options.hub.onHealthChange = undefined;
      stopListening();
      sessions.drainAll('draining', 'this edge is shutting down');
      trackers.close();
    },
  };
}
