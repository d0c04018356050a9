/**
 * Prometheus metrics of the bridge, declared once. The `resource` label is
 * the resource's state channel: declared resources and at most
 * bridge.onDemand.maxResources leased ones per bridge. A resource's series
 * are removed when this bridge stops polling it, so they stay bounded by
 * the resources it polls now.
 *
 * Per resource the bridge keeps counters only: the upstream's latency is a
 * counter of seconds per resource (with the polls, its mean) and one
 * histogram of all polls without the resource label — a histogram per
 * resource was 14 series each, most of a scrape of 1,000 resources.
 *
 * What every poll counts (polls, 304s, changes, seconds) is tallied in
 * plain numbers per resource and added to the counters when they are read
 * (a scrape): a labelled counter looks its series up by the labels' hash on
 * every increment, a thousand times a second for a bridge of 1,000 resources.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface BridgeMetrics {
  readonly polls: Counter<'resource'>;
  readonly notModified: Counter<'resource'>;
  readonly changes: Counter<'resource'>;
  /** All polls of this bridge (no resource label). */
  readonly upstreamSeconds: Histogram;
  /** Seconds spent polling, per resource. */
  readonly upstreamSecondsTotal: Counter<'resource'>;
  readonly pollErrors: Counter<'resource' | 'code'>;
  readonly publishedBytes: Counter<'resource'>;
  readonly publishes: Counter<'resource' | 'kind' | 'outcome'>;
  readonly ownedResources: Gauge<'kind'>;
  readonly members: Gauge;
  /** The per-poll tallies of the resources, added to the counters above when they are read. */
  readonly tallies: Set<PollTally>;
}

/** What the polls of one resource counted since the counters were last read. */
export interface PollTally {
  readonly labels: { readonly resource: string };
  polls: number;
  notModified: number;
  changes: number;
  seconds: number;
}

export function createBridgeMetrics(registry: Registry): BridgeMetrics {
  const registers = [registry];
  const tallies = new Set<PollTally>();
  // Called by each tallied counter before it is read: adds every tally to its counter.
  const collect = (): void => {
    for (const tally of tallies) {
      if (tally.polls > 0) metrics.polls.inc(tally.labels, tally.polls);
      if (tally.notModified > 0) metrics.notModified.inc(tally.labels, tally.notModified);
      if (tally.changes > 0) metrics.changes.inc(tally.labels, tally.changes);
      if (tally.seconds > 0) metrics.upstreamSecondsTotal.inc(tally.labels, tally.seconds);
      tally.polls = 0;
      tally.notModified = 0;
      tally.changes = 0;
      tally.seconds = 0;
    }
  };
  const metrics: BridgeMetrics = {
    tallies,
    polls: new Counter({
      name: 'fanout_bridge_polls_total',
      help: 'Polls of an upstream resource, whatever their outcome.',
      labelNames: ['resource'],
      registers,
      collect,
    }),
    notModified: new Counter({
      name: 'fanout_bridge_not_modified_total',
      help: 'Polls answered 304 Not Modified.',
      labelNames: ['resource'],
      registers,
      collect,
    }),
    changes: new Counter({
      name: 'fanout_bridge_changes_total',
      help: 'Polls that found a new document (its canonical JSON differs from the last one).',
      labelNames: ['resource'],
      registers,
      collect,
    }),
    upstreamSeconds: new Histogram({
      name: 'fanout_bridge_upstream_seconds',
      help: 'Duration of one poll of an upstream (redirects and body included), successful or not; all resources of this bridge.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15],
      registers,
    }),
    upstreamSecondsTotal: new Counter({
      name: 'fanout_bridge_upstream_seconds_total',
      help: 'Seconds spent polling the upstream of a resource (redirects and body included); divided by its polls, the mean poll duration.',
      labelNames: ['resource'],
      registers,
      collect,
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
  return metrics;
}

/** The series of one resource, with what it needs to remove them all. */
export interface ResourceMetrics {
  poll(): void;
  notModified(): void;
  changed(): void;
  upstreamSeconds(seconds: number): void;
  pollError(code: string): void;
  published(bytes: number): void;
  publish(kind: string, outcome: string): void;
  /** Removes every series of the resource (it is no longer polled here). */
  remove(): void;
}

export function resourceMetrics(metrics: BridgeMetrics, channel: string): ResourceMetrics {
  const resource = { resource: channel };
  const tally: PollTally = { labels: resource, polls: 0, notModified: 0, changes: 0, seconds: 0 };
  metrics.tallies.add(tally);
  // The label sets of this resource's error and publish series (a few codes and outcomes).
  const errorCodes = new Set<string>();
  const publishLabels = new Map<string, { kind: string; outcome: string }>();
  return {
    poll: () => {
      tally.polls += 1;
    },
    notModified: () => {
      tally.notModified += 1;
    },
    changed: () => {
      tally.changes += 1;
    },
    upstreamSeconds: (seconds) => {
      metrics.upstreamSeconds.observe(seconds);
      tally.seconds += seconds;
    },
    pollError: (code) => {
      errorCodes.add(code);
      metrics.pollErrors.inc({ resource: channel, code });
    },
    published: (bytes) => {
      metrics.publishedBytes.inc(resource, bytes);
    },
    publish: (kind, outcome) => {
      const key = `${kind} ${outcome}`;
      if (!publishLabels.has(key)) publishLabels.set(key, { kind, outcome });
      metrics.publishes.inc({ resource: channel, kind, outcome });
    },
    remove: () => {
      metrics.tallies.delete(tally);
      metrics.polls.remove(resource);
      metrics.notModified.remove(resource);
      metrics.changes.remove(resource);
      metrics.upstreamSecondsTotal.remove(resource);
      metrics.publishedBytes.remove(resource);
      for (const code of errorCodes) metrics.pollErrors.remove({ resource: channel, code });
      for (const labels of publishLabels.values()) {
        metrics.publishes.remove({ resource: channel, ...labels });
      }
      errorCodes.clear();
      publishLabels.clear();
    },
  };
}
