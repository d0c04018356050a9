/**
 * Prometheus metrics of the bridge, declared once. The `resource` label is
 * the resource's state channel: declared resources and at most
 * bridge.onDemand.maxResources leased ones per bridge.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface BridgeMetrics {
  readonly polls: Counter<'resource'>;
  readonly notModified: Counter<'resource'>;
  readonly changes: Counter<'resource'>;
  readonly upstreamSeconds: Histogram<'resource'>;
  readonly pollErrors: Counter<'resource' | 'code'>;
  readonly publishedBytes: Counter<'resource'>;
  readonly publishes: Counter<'resource' | 'kind' | 'outcome'>;
  readonly ownedResources: Gauge<'kind'>;
  readonly members: Gauge;
}

export function createBridgeMetrics(registry: Registry): BridgeMetrics {
  const registers = [registry];
  return {
    polls: new Counter({
      name: 'fanout_bridge_polls_total',
      help: 'Polls of an upstream resource, whatever their outcome.',
      labelNames: ['resource'],
      registers,
    }),
    notModified: new Counter({
      name: 'fanout_bridge_not_modified_total',
      help: 'Polls answered 304 Not Modified.',
      labelNames: ['resource'],
      registers,
    }),
    changes: new Counter({
      name: 'fanout_bridge_changes_total',
      help: 'Polls that found a new document (its canonical JSON differs from the last one).',
      labelNames: ['resource'],
      registers,
    }),
    upstreamSeconds: new Histogram({
      name: 'fanout_bridge_upstream_seconds',
      help: 'Duration of one poll of an upstream (redirects and body included), successful or not.',
      labelNames: ['resource'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15],
      registers,
    }),
    pollErrors: new Counter({
      name: 'fanout_bridge_poll_errors_total',
      help: 'Failed polls, by catalog code (upstream_*, internal).',
      labelNames: ['resource', 'code'],
      registers,
    }),
    publishedBytes: new Counter({
      name: 'fanout_bridge_published_bytes_total',
      help: 'Bytes of documents and status events accepted by the ingest.',
      labelNames: ['resource'],
      registers,
    }),
    publishes: new Counter({
      name: 'fanout_bridge_publishes_total',
      help: 'Publishes to the ingest, by kind (state, status) and outcome (written, duplicate, retried, dropped, superseded).',
      labelNames: ['resource', 'kind', 'outcome'],
      registers,
    }),
    ownedResources: new Gauge({
      name: 'fanout_bridge_resources',
      help: 'Resources this bridge polls now, by kind (declared, leased).',
      labelNames: ['kind'],
      registers,
    }),
    members: new Gauge({
      name: 'fanout_bridge_members',
      help: 'Live bridges in this bridge’s membership (itself included).',
      registers,
    }),
  };
}
