/**
 * The HTTP routes of the client port: `GET /v1/channels/{channel}` (an SSE
 * watch of the channel, or a GET / long-poll of its events),
 * `GET /v1/state/{channel}` (the channel's state document: a GET, long-poll
 * or SSE stream of snapshot and patches), `GET /v1/state?channels=` (many
 * channels' state and one cursor, or their SSE stream) and `GET /v1/stream`
 * (an SSE stream of several channels and patterns, or with `snapshot=true`
 * of several channels' state). Each
 * request is admitted, its facts read before the first await, its abort
 * followed; a failure before a stream began is an HTTP error answer.
 */
import {
  FanoutError,
  toFanoutError,
  toHttpStatus,
  type FanoutConfig,
  type Logger,
} from '@fanout/shared';
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import type { ClientAuth } from '../admission/client-auth.js';
import type { ConnectionLimits } from '../admission/connection-limits.js';
import type { EdgeMetrics } from '../edge-metrics.js';
import type { PartitionReader } from '../log/partition-reader.js';
import type { ChannelHub } from '../subscriptions/channel-hub.js';
import { serveResource, type ResourceEndpointOptions } from '../resources/resource-endpoint.js';
import type { ResourceLeases } from '../resources/resource-leases.js';
import type { StateTrackers } from '../subscriptions/state/state-trackers.js';
import type { SubscriptionCore } from '../subscriptions/subscription-core.js';
import { answerChannelRead } from './channel-endpoint.js';
import type { CorsPolicy } from './cors.js';
import { sendError } from './http-answers.js';
import { readFacts, watches, type RequestFacts } from './request-facts.js';
import { openStream, type SseEndpointOptions } from './sse-endpoint.js';
import type { SseStream } from './sse-stream.js';
import {
  answerStateRead,
  answerStatesRead,
  openStateStream,
  openStatesStream,
  type StateEndpointOptions,
} from './state-endpoint.js';
import { guardResponse, markFinished, type HandlerGuard } from './uws-guard.js';

export { sendError } from './http-answers.js';

export interface HttpRoutesOptions {
  readonly app: TemplatedApp;
  readonly core: SubscriptionCore;
  readonly hub: ChannelHub;
  readonly reader: PartitionReader;
  readonly auth: ClientAuth;
  readonly config: FanoutConfig['edge'];
  readonly logger: Logger;
  readonly metrics: EdgeMetrics;
  readonly admit: (request: HttpRequest, opensConnection?: boolean) => FanoutError | undefined;
  readonly limits: ConnectionLimits;
  /** The state trackers of `GET /v1/state/{channel}`. */
  readonly trackers: StateTrackers;
  readonly addressOf: (response: HttpResponse, request: HttpRequest) => string;
  /** Marks answers to allowed cross-origin requests for CORS headers. */
  readonly cors: CorsPolicy;
  /** Reports exceptions of uWS callbacks (see uws-guard.ts). */
  readonly guard: HandlerGuard;
  /** On-demand resources of `GET /v1/resources` (undefined: not enabled). */
  readonly resources: ResourceLeases | undefined;
}

interface RequestState {
  aborted: boolean;
  stream?: SseStream;
}

export function registerHttpRoutes(options: HttpRoutesOptions): void {
  const { app, logger, metrics } = options;
  const sse: SseEndpointOptions = options;
  const stateOptions: StateEndpointOptions = options;
  const resourceOptions: ResourceEndpointOptions = options;

  function fail(response: HttpResponse, route: string, error: unknown, aborted: boolean): void {
    const failure = toFanoutError(error);
    if (failure.code === 'internal') logger.error({ err: error, route }, 'request failed');
    metrics.httpRequests.inc({ route, status: String(toHttpStatus(failure.code)) });
    if (!aborted) sendError(response, failure);
  }

  function handle(
    route: string,
    run: (
      response: HttpResponse,
      facts: RequestFacts,
      state: RequestState,
      abort: AbortController,
    ) => Promise<void>,
    channelParameter: boolean,
    forwardHeaders: readonly string[] = [],
  ) {
    return (response: HttpResponse, request: HttpRequest): void => {
      options.cors.note(response, request);
      // Only streams count against edge.maxConnections.
      const refused = options.admit(
        request,
        route === 'stream' ||
          watches(new URLSearchParams(request.getQuery()), request.getHeader('accept')),
      );
      if (refused) {
        fail(response, route, refused, false);
        return;
      }
      let facts: RequestFacts;
      try {
        facts = readFacts(
          request,
          channelParameter,
          options.addressOf(response, request),
          forwardHeaders,
        );
      } catch (error) {
        fail(response, route, new FanoutError('invalid_argument', String(error)), false);
        return;
      }
      const state: RequestState = { aborted: false };
      const abort = new AbortController();
      response.onAborted(
        guardResponse(options.guard, `http ${route} aborted`, response, () => {
          state.aborted = true;
          markFinished(response);
          abort.abort();
          state.stream?.onAborted();
        }),
      );
      run(response, facts, state, abort).catch(
        guardResponse(options.guard, `http ${route} failed`, response, (error: unknown) => {
          const stream = state.stream;
          if (stream?.started) {
            if (!stream.closed) {
              const failure = toFanoutError(error);
              stream.end(failure.code, failure.message);
            }
            return;
          }
          // Nothing was written yet: the stream gives its place back, the
          // request is answered with the error.
          stream?.onClose();
          fail(response, route, error, state.aborted);
        }),
      );
    };
  }

  app.get(
    '/v1/channels/:channel',
    handle(
      'channel',
      async (response, facts, state, abort) => {
        if (watches(facts.query, facts.accept)) {
          await openStream(sse, response, facts, state, [facts.channel], 'channel_watch');
        } else {
          await answerChannelRead(options, response, facts, state, abort);
        }
      },
      true,
    ),
  );
  app.get(
    '/v1/state/:channel',
    handle(
      'state',
      async (response, facts, state, abort) => {
        if (watches(facts.query, facts.accept)) {
          await openStateStream(stateOptions, response, facts, state);
        } else {
          await answerStateRead(stateOptions, response, facts, state, abort);
        }
      },
      true,
    ),
  );
  app.get(
    '/v1/state',
    handle(
      'states',
      async (response, facts, state) => {
        if (watches(facts.query, facts.accept)) {
          await openStatesStream(stateOptions, response, facts, state);
        } else {
          await answerStatesRead(stateOptions, response, facts, state);
        }
      },
      false,
    ),
  );
  app.get(
    '/v1/resources',
    handle(
      'resources',
      async (response, facts, state, abort) => {
        await serveResource(resourceOptions, response, facts, state, abort);
      },
      false,
      options.config.resources.enabled ? options.config.resources.forwardHeaders : [],
    ),
  );
  app.get(
    '/v1/stream',
    handle(
      'stream',
      async (response, facts, state) => {
        if (facts.query.get('snapshot') === 'true') {
          await openStatesStream(stateOptions, response, facts, state);
          return;
        }
        const channels = (facts.query.get('channels') ?? '')
          .split(',')
          .map((channel) => channel.trim())
          .filter((channel) => channel !== '');
        await openStream(sse, response, facts, state, channels, 'stream');
      },
      false,
    ),
  );
}
