/**
 * Telemetry bootstrap: the OpenTelemetry Node SDK (traces, W3C trace-context
 * propagation) and the Prometheus registry (prom-client, default process
 * metrics prefixed `fanout_`). A service calls `startTelemetry()` first thing
 * in its main, before it creates anything that emits spans or metrics.
 */
import { NodeSDK } from '@opentelemetry/sdk-node';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  ConsoleSpanExporter,
  ParentBasedSampler,
  SimpleSpanProcessor,
  TraceIdRatioBasedSampler,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { FanoutConfig } from './config-schema.js';

export interface TelemetryOptions {
  /** Default service name, e.g. `fanout-ingest`; `telemetry.serviceName` overrides it. */
  readonly serviceName: string;
  readonly serviceVersion?: string;
  readonly config: FanoutConfig['telemetry'];
}

export interface Telemetry {
  readonly serviceName: string;
  /** The process's Prometheus registry; every metric of the service registers here. */
  readonly registry: Registry;
  /** Flushes spans and stops the SDK. */
  shutdown(): Promise<void>;
}

function spanProcessors(config: FanoutConfig['telemetry']): SpanProcessor[] {
  switch (config.tracesExporter) {
    case 'none':
      return [];
    case 'console':
      return [new SimpleSpanProcessor(new ConsoleSpanExporter())];
    case 'otlp':
      return [new BatchSpanProcessor(new OTLPTraceExporter({ url: config.otlpEndpoint }))];
  }
}

export function startTelemetry(options: TelemetryOptions): Telemetry {
  const serviceName = options.config.serviceName || options.serviceName;
  const sdk = new NodeSDK({
    resource: resourceFromAttributes({
      [ATTR_SERVICE_NAME]: serviceName,
      ...(options.serviceVersion ? { [ATTR_SERVICE_VERSION]: options.serviceVersion } : {}),
    }),
    autoDetectResources: false,
    spanProcessors: spanProcessors(options.config),
    sampler: new ParentBasedSampler({
      root: new TraceIdRatioBasedSampler(options.config.sampleRatio),
    }),
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [],
  });
  sdk.start();

  const registry = new Registry();
  registry.setDefaultLabels({ service: serviceName });
  collectDefaultMetrics({ register: registry, prefix: 'fanout_' });

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
