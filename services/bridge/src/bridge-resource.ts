/**
 * One resource this bridge polls now: its poller, its publish lane, its
 * metrics and spans. Each changed document becomes a `put` of the state
 * channel, each change of health a status event on the status channel.
 *
 * A poll is a span (`bridge.poll`); the publish of what it found is a child
 * span (`bridge.publish`) whose context travels to the ingest in the gRPC
 * metadata, and from there in the record to the deliveries.
 */
import {
  context as otelContext,
  SpanStatusCode,
  trace,
  type Context,
  type SpanOptions,
} from '@opentelemetry/api';
import { textHash, type Logger } from '@fanout/shared';
import { resourceMetrics, type BridgeMetrics, type ResourceMetrics } from './bridge-metrics.js';
import type { Clock } from './clock.js';
import type { BridgePublisher, PublishOutcome } from './ingest-publisher.js';
import { PublishLane, type LanePublish } from './publish-lane.js';
import {
  ResourcePoller,
  type ResourceChangeMeta,
  type ResourcePollerTiming,
  type ResourceStatus,
} from './resource-poller.js';
import { resourceStatusEvent, shownResource } from './resource-status.js';
import { isUpstreamError } from './upstream-error.js';
import type { UpstreamFetcher, UpstreamFetchRequest } from './upstream-fetch.js';

const tracer = trace.getTracer('fanout-bridge');
/** Longest wait for the first poll of a declared resource (its interval if shorter). */
const maxFirstPollSpreadMs = 10_000;

/** Event type of the status events. */
export const resourceStatusEventType = 'fanout.resource.status';

export type ResourceKind = 'declared' | 'leased';

export interface ResourceSpec {
  readonly kind: ResourceKind;
  readonly channel: string;
  readonly statusChannel: string;
  readonly url: string;
  readonly intervalMs: number;
  /** Headers of a declared resource (to its own origin). */
  readonly resourceHeaders?: Readonly<Record<string, string>>;
  /** Forwarded headers of a leased resource (filtered by the origin's forwardHeaders). */
  readonly subscriberHeaders?: Readonly<Record<string, string>>;
  /** JSON Pointer of the identity member of objects in arrays, sent with every put. */
  readonly arrayKey?: string;
}

export interface BridgeResourceOptions {
  readonly spec: ResourceSpec;
  readonly fetcher: Pick<UpstreamFetcher, 'fetch'>;
  readonly publisher: BridgePublisher;
  readonly metrics: BridgeMetrics;
  /** Timing without the interval (the spec's). */
  readonly timing: Omit<ResourcePollerTiming, 'intervalMs'>;
  readonly logger: Logger;
  readonly clock?: Clock;
  readonly random?: () => number;
  /** Retry backoff of failed publishes. */
  readonly publishRetryBaseMs?: number;
}

export class BridgeResource {
  readonly spec: ResourceSpec;
  readonly #options: BridgeResourceOptions;
  readonly #poller: ResourcePoller;
  readonly #lane: PublishLane;
  readonly #metrics: ResourceMetrics;
  /** When this bridge started polling it: part of its idempotency keys. */
  readonly #startedAt: number;
  #changes = 0;
  #lastChangeAt: number | undefined;
  #pollContext: Context | undefined;
  /** The attributes of every poll's span, built once. */
  readonly #pollSpanOptions: SpanOptions;

  constructor(options: BridgeResourceOptions) {
    this.#options = options;
    this.spec = options.spec;
    const { spec, logger } = options;
    const metrics = resourceMetrics(options.metrics, spec.channel);
    this.#metrics = metrics;
    this.#startedAt = (options.clock ?? { now: Date.now }).now();
    this.#pollSpanOptions = {
      attributes: {
        'fanout.channel': spec.channel,
        'fanout.resource.kind': spec.kind,
        'url.full': shownResource(spec.url),
      },
    };
    this.#lane = new PublishLane({
      ...(options.publishRetryBaseMs === undefined
        ? {}
        : { retryBaseMs: options.publishRetryBaseMs }),
      listener: {
        published: (publish, outcome) => {
          metrics.published(publish.bytes);
          metrics.publish(publish.kind, outcome.duplicate ? 'duplicate' : 'written');
        },
        retried: (publish, error, retryInMs) => {
          metrics.publish(publish.kind, 'retried');
          logger.warn({ err: error, channel: spec.channel, retryInMs }, 'publish failed; retrying');
        },
        dropped: (publish, error) => {
          metrics.publish(publish.kind, 'dropped');
          logger.error({ err: error, channel: spec.channel }, 'the ingest refused a publish');
        },
        superseded: (publish) => {
          metrics.publish(publish.kind, 'superseded');
        },
      },
    });
    this.#poller = new ResourcePoller({
      url: spec.url,
      fetcher: { fetch: (request) => this.#tracedFetch(request) },
      timing: { ...options.timing, intervalMs: spec.intervalMs },
      // Declared resources all start with the bridge: their first polls spread over an interval.
      firstPollSpreadMs:
        spec.kind === 'declared' ? Math.min(spec.intervalMs, maxFirstPollSpreadMs) : 0,
      ...(spec.resourceHeaders === undefined ? {} : { resourceHeaders: spec.resourceHeaders }),
      ...(spec.subscriberHeaders === undefined
        ? {}
        : { subscriberHeaders: spec.subscriberHeaders }),
      ...(options.clock === undefined ? {} : { clock: options.clock }),
      ...(options.random === undefined ? {} : { random: options.random }),
      listener: {
        changed: (_document, canonicalJson, meta) => {
          this.#changed(canonicalJson, meta);
        },
        status: (status) => {
          this.#status(status);
        },
      },
    });
  }

  get status(): ResourceStatus | undefined {
    return this.#poller.status;
  }

  start(): void {
    this.#poller.start();
  }

  /**
   * Stops polling; publishes already waiting are dropped, one in flight
   * ends. Then the resource's metric series are removed.
   */
  async stop(): Promise<void> {
    await this.#poller.stop();
    await this.#lane.stop();
    this.#metrics.remove();
  }

  /** Resolves when no publish waits or is in flight. */
  idle(): Promise<void> {
    return this.#lane.idle();
  }

  /**
   * One poll as a span. The span is started, not made active: nothing in
   * the fetch reads the active context, and the publishes of this poll take
   * it as their parent explicitly (one context switch less per poll).
   */
  async #tracedFetch(request: UpstreamFetchRequest): ReturnType<UpstreamFetcher['fetch']> {
    const metrics = this.#metrics;
    metrics.poll();
    const started = performance.now();
    const span = tracer.startSpan('bridge.poll', this.#pollSpanOptions);
    // Kept until the next poll, for the publishes this one causes: only a span that can be a
    // parent (a no-op tracer's spans cannot; a context per poll kept a second outlives the
    // young generation).
    this.#pollContext = trace.isSpanContextValid(span.spanContext())
      ? trace.setSpan(otelContext.active(), span)
      : undefined;
    try {
      const result = await this.#options.fetcher.fetch(request);
      if (result.kind === 'not-modified') metrics.notModified();
      span.setAttribute('fanout.resource.answer', result.kind);
      return result;
    } catch (error) {
      const code = isUpstreamError(error) ? error.code : 'internal';
      metrics.pollError(code);
      span.setStatus({ code: SpanStatusCode.ERROR, message: code });
      throw error;
    } finally {
      metrics.upstreamSeconds((performance.now() - started) / 1000);
      span.end();
    }
  }

  #changed(canonicalJson: string, meta: ResourceChangeMeta): void {
    const { spec, publisher } = this.#options;
    this.#metrics.changed();
    this.#changes += 1;
    this.#lastChangeAt = meta.fetchedAt;
    // Same key on every retry of this change; another change, or another owner, gets another.
    const id = `b.${textHash(canonicalJson)}.${this.#startedAt.toString(36)}.${this.#changes}`;
    this.#lane.submit(
      this.#traced('state', Buffer.byteLength(canonicalJson), (parent) =>
        publisher.putState(
          {
            channel: spec.channel,
            json: canonicalJson,
            id,
            ...(spec.arrayKey === undefined ? {} : { arrayKey: spec.arrayKey }),
          },
          parent,
        ),
      ),
    );
  }

  #status(status: ResourceStatus): void {
    const { spec, publisher, logger } = this.#options;
    const event = resourceStatusEvent(
      spec.url,
      status,
      this.#poller.hasDocument,
      this.#lastChangeAt,
    );
    const json = JSON.stringify(event);
    const log = { channel: spec.channel, status: event.status, code: event.code };
    if (event.status === 'ok') logger.info(log, 'resource ok');
    else logger.warn({ ...log, message: event.message }, 'resource failing');
    const id = `s.${textHash(json)}.${this.#startedAt.toString(36)}`;
    this.#lane.submit(
      this.#traced('status', Buffer.byteLength(json), (parent) =>
        publisher.publishEvent(
          { channel: spec.statusChannel, type: resourceStatusEventType, json, id },
          parent,
        ),
      ),
    );
  }

  /** A publish as a child span of the poll that caused it. */
  #traced(
    kind: LanePublish['kind'],
    bytes: number,
    send: (parent: Context) => Promise<PublishOutcome>,
  ): LanePublish {
    const parent = this.#pollContext ?? otelContext.active();
    const channel = kind === 'state' ? this.spec.channel : this.spec.statusChannel;
    return {
      kind,
      bytes,
      send: () =>
        tracer.startActiveSpan(
          'bridge.publish',
          { attributes: { 'fanout.channel': channel, 'fanout.publish.kind': kind } },
          parent,
          async (span) => {
            try {
              const outcome = await send(trace.setSpan(parent, span));
              span.setAttribute('fanout.position', outcome.position);
              span.setAttribute('fanout.duplicate', outcome.duplicate);
              return outcome;
            } catch (error) {
              span.setStatus({
                code: SpanStatusCode.ERROR,
                message: error instanceof Error ? error.message : String(error),
              });
              throw error;
            } finally {
              span.end();
            }
          },
        ),
    };
  }
}
