/**
 * Telemetry bootstrap: the OpenTelemetry Node SDK (traces, W3C trace-context
 * and baggage propagation) and the Prometheus registry (prom-client, default
 * process metrics prefixed `fanout_`). A service calls `startTelemetry()`
 * first thing in its main, before it creates anything that emits spans or
 * metrics. Only the `telemetry` configuration section is read; `OTEL_*`
 * environment variables do not add exporters behind its back.
 */
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { core, NodeSDK } from '@opentelemetry/sdk-node';
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
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { FanoutConfig } from './config-schema.js';

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
  /** Flushes spans and stops the SDK; safe to call more than once. */
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
  const sdk = new NodeSDK({
    resource: resourceFromAttributes({
      [ATTR_SERVICE_NAME]: serviceName,
      ...(serviceVersion ? { [ATTR_SERVICE_VERSION]: serviceVersion } : {}),
    }),
    autoDetectResources: false,
    textMapPropagator: new core.CompositePropagator({
      propagators: [new core.W3CTraceContextPropagator(), new core.W3CBaggagePropagator()],
    }),
    spanProcessors: [
      ...spanProcessors(options.config.tracing),
      ...(options.recorder ? [options.recorder.processor] : []),
    ],
    sampler: new ParentBasedSampler({
      root: new TraceIdRatioBasedSampler(options.config.tracing.sampleRatio),
    }),
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [],
  });
  sdk.start();

  const registry = new Registry();
  registry.setDefaultLabels({ service: serviceName });
  collectDefaultMetrics({ register: registry, prefix: metricsPrefix });
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
      stopped ??= sdk.shutdown();
      return stopped;
    },
  };
}
