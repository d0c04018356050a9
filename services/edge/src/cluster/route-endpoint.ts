/**
 * `GET /v1/route?channels=a,b`: which edges own the partitions of these
 * channels, for plain clients that do not run the placement themselves.
 * Answers from any edge, for any channel; no authentication (it reveals only
 * the edges' URLs, which clients reach anyway).
 */
import {
  assertValidChannel,
  FanoutError,
  isChannelPattern,
  partitionForChannel,
  toFanoutError,
  toHttpStatus,
} from '@fanout/shared';
import type { TemplatedApp } from 'uWebSockets.js';
import type { ClusterRouting } from './cluster-routing.js';
import { writeCorsHeaders, type CorsPolicy } from '../transport/cors.js';
import type { EdgeMetrics } from '../edge-metrics.js';
import { sendError } from '../transport/http-answers.js';
import { httpStatusLine } from '../transport/http-status.js';
import type { PartitionReader } from '../log/partition-reader.js';
import { guardResponse, markFinished, type HandlerGuard } from '../transport/uws-guard.js';

export interface RouteEndpointOptions {
  readonly app: TemplatedApp;
  readonly reader: PartitionReader;
  readonly routing: ClusterRouting;
  readonly metrics: EdgeMetrics;
  /** Most channels in one question. */
  readonly maxChannels: number;
  readonly cors: CorsPolicy;
  /** Reports exceptions of the callbacks (see uws-guard.ts). */
  readonly guard: HandlerGuard;
}

export function registerRouteEndpoint(options: RouteEndpointOptions): void {
  const { app, reader, routing, metrics } = options;
  app.get('/v1/route', (response, request) => {
    options.cors.note(response, request);
    const query = new URLSearchParams(request.getQuery());
    let aborted = false;
    response.onAborted(
      guardResponse(options.guard, 'route aborted', response, () => {
        aborted = true;
        markFinished(response);
      }),
    );
    const answer = async (): Promise<string> => {
      const channels = (query.get('channels') ?? '')
        .split(',')
        .map((channel) => channel.trim())
        .filter((channel) => channel !== '');
      if (channels.length === 0) {
        throw new FanoutError('invalid_argument', 'name at least one channel in `channels`', {
          details: { field: 'channels' },
        });
      }
      if (channels.length > options.maxChannels) {
        throw new FanoutError('invalid_argument', `at most ${options.maxChannels} channels`, {
          details: { field: 'channels' },
        });
      }
      for (const channel of channels) {
        if (isChannelPattern(channel)) {
          throw new FanoutError(
            'invalid_argument',
            `${channel} is a pattern; a pattern spans every partition and has no owner`,
            { details: { field: 'channels' } },
          );
        }
        assertValidChannel(channel, 'channels');
      }
      const layout = reader.layout ?? (await reader.start());
      const partitions = layout.partitions;
      return JSON.stringify(
        routing.route(
          partitions,
          channels.map((channel) => ({
            channel,
            partition: partitionForChannel(channel, partitions),
          })),
        ),
      );
    };
    answer().then(
      guardResponse(options.guard, 'route answer', response, (body: string) => {
        if (aborted) return;
        metrics.httpRequests.inc({ route: 'route', status: '200' });
        response.cork(() => {
          response
            .writeStatus(httpStatusLine(200))
            .writeHeader('content-type', 'application/json')
            .writeHeader('cache-control', 'no-store');
          writeCorsHeaders(response);
          response.end(body);
        });
      }),
      guardResponse(options.guard, 'route answer', response, (error: unknown) => {
        const failure = toFanoutError(error);
        metrics.httpRequests.inc({ route: 'route', status: String(toHttpStatus(failure.code)) });
        if (!aborted) sendError(response, failure);
      }),
    );
  });
}
