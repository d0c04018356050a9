/**
 * Telemetry bootstrap: the OpenTelemetry Node SDK's tracer provider (traces,
 * W3C trace-context and baggage propagation, async-hooks context) and the
 * Prometheus registry (prom-client, the process metrics of
 * `process-metrics.ts`, prefixed `fanout_`). The tracer provider is what
 * the SDK's `NodeSDK` wrapper starts for traces; the wrapper also loads every metrics and logs exporter at
 * import, 0.7 CPU-seconds of each service's start (decision 049). A service calls `startTelemetry()`
 * first thing in its main, before it creates anything that emits spans or
 * metrics. Only the `telemetry` configuration section is read; `OTEL_*`
 * environment variables do not add exporters behind its back.
 */
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { context, propagation } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  CompositePropagator,
  W3CBaggagePropagator,
  W3CTraceContextPropagator,
} from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  ConsoleSpanExporter,
  InMemorySpanExporter,
  ParentBasedSampler,
  SimpleSpanProcessor,
  TraceIdRatioBasedSampler,
  type ReadableSpan,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import { Gauge, Registry } from 'prom-client';
import type { FanoutConfig } from './config-schema.js';
import { registerProcessMetrics } from './process-metrics.js';

/** Prefix of every fanout metric. */
export const metricsPrefix = 'fanout_';

export interface TelemetryOptions {
  /** Default service name, e.g. `fanout-ingest`; `telemetry.serviceName` overrides it. */
  readonly serviceName: string;
  readonly serviceVersion?: string;
  readonly config: FanoutConfig['telemetry'];
  /** Keeps finished spans in memory as well (tests, diagnostics). */
  readonly recorder?: SpanRecorder;
}

/** Finished spans kept in memory, for tests and diagnostics. */
export interface SpanRecorder {
  readonly processor: SpanProcessor;
  spans(): readonly ReadableSpan[];
  clear(): void;
}

export function createSpanRecorder(): SpanRecorder {
  const exporter = new InMemorySpanExporter();
  return {
    processor: new SimpleSpanProcessor(exporter),
    spans: () => exporter.getFinishedSpans(),
    clear() {
      exporter.reset();
    },
  };
}

export interface Telemetry {
  readonly serviceName: string;
  /** The process's Prometheus registry; every metric of the service registers here. */
  readonly registry: Registry;
  /** Flushes spans and stops the tracer provider; safe to call more than once. */
  shutdown(): Promise<void>;
}

function spanProcessors(tracing: FanoutConfig['telemetry']['tracing']): SpanProcessor[] {
  switch (tracing.exporter) {
    case 'none':
      return [];
    case 'console':
      return [new SimpleSpanProcessor(new ConsoleSpanExporter())];
    case 'otlp':
      return [new BatchSpanProcessor(new OTLPTraceExporter({ url: tracing.endpoint }))];
  }
}

export function startTelemetry(options: TelemetryOptions): Telemetry {
  const serviceName = options.config.serviceName || options.serviceName;
  const serviceVersion = options.serviceVersion ?? '';
  const propagator = new CompositePropagator({
    propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()],
  });
  const processors = [
    ...spanProcessors(options.config.tracing),
    ...(options.recorder ? [options.recorder.processor] : []),
  ];
  // Without a processor no tracer provider is registered, so spans stay the API's no-ops;
  // trace context is still propagated and carried across async calls.
  let provider: NodeTracerProvider | undefined;
  if (processors.length > 0) {
    provider = new NodeTracerProvider({
      resource: resourceFromAttributes({
        [ATTR_SERVICE_NAME]: serviceName,
        ...(serviceVersion ? { [ATTR_SERVICE_VERSION]: serviceVersion } : {}),
      }),
      spanProcessors: processors,
      sampler: new ParentBasedSampler({
        root: new TraceIdRatioBasedSampler(options.config.tracing.sampleRatio),
      }),
    });
    // The global tracer provider, the async-hooks context manager and the propagators.
    provider.register({ propagator });
  } else {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(propagator);
  }

  const registry = new Registry();
  registry.setDefaultLabels({ service: serviceName });
  registerProcessMetrics(registry, metricsPrefix);
  new Gauge({
    name: `${metricsPrefix}build_info`,
    help: 'Always 1; the labels name the running build.',
    labelNames: ['version', 'node_version'],
    registers: [registry],
  }).set({ version: serviceVersion || 'unknown', node_version: process.versions.node }, 1);

  let stopped: Promise<void> | undefined;
  return {
    serviceName,
    registry,
    shutdown() {
      stopped ??= provider?.shutdown() ?? Promise.resolve();
      return stopped;
    },
  };
}
