/**
 * The edge assembled from its configuration: the topic's partition reader,
 * the hub, the client-facing server, metrics, readiness and the drain.
 */
import { hostname } from 'node:os';
import {
  FanoutError,
  isOwner,
  jwtVerifierFromConfig,
  membershipFromConfig,
  type FanoutConfig,
  type Logger,
} from '@fanout/shared';
import type { Registry } from 'prom-client';
import { ChannelHub } from './subscriptions/channel-hub.js';
import { ClientAuth } from './admission/client-auth.js';
import { ClusterRouting } from './cluster/cluster-routing.js';
import { DeliveryTracing } from './subscriptions/delivery-tracing.js';
import { createEdgeMetrics } from './edge-metrics.js';
import { startEdgeServer, type EdgeServer } from './edge-server.js';
import { startResourceLeases } from './resources/resource-bridges.js';
import { KafkaEventLog } from './log/kafka-event-log.js';
import { PartitionReader } from './log/partition-reader.js';
import { warmUp } from './log/warm-up.js';
import { KafkaCheckpointLog } from './log/checkpoint-log.js';
import { CheckpointSource } from './subscriptions/state/checkpoint-source.js';
import { CheckpointWriter } from './subscriptions/state/checkpoint-writer.js';
import type { Uws } from './transport/uws-native.js';

/** How often an unready edge that reads no partition asks Kafka for its topic again. */
const layoutRetryMs = 2000;

/**
 * Milliseconds from the process's start (`performance.now()`) to each step of
 * the edge's start-up, for its `edge ready` log line.
 */
export interface EdgeStartupTimes {
  /** `startEdgeApp` called: modules loaded, configuration read, metrics server up. */
  readonly building: number;
  /** The topic's layout read from Kafka (or given up on for now: Kafka unreachable). */
  readonly kafka: number;
  /** Warm-up done (partitions read, their newest events in memory). */
  readonly warmed: number;
  /** The client port listening. */
  readonly listening: number;
}

export interface EdgeApp {
  readonly port: number;
  /** When each start-up step was done. */
  readonly startup: EdgeStartupTimes;
  readonly edgeId: string;
  readonly server: EdgeServer;
  /** Membership, placement and rebalancing. */
  readonly routing: ClusterRouting;
  /** Ready when Kafka answers and the edge is not draining. */
  ready(): { ready: boolean; reason?: string };
  /** SIGTERM: refuse new clients, close the others resumably over `drainMs`, stop. */
  stop(drainMs?: number): Promise<void>;
}

export interface EdgeAppOptions {
  readonly uws: Uws;
  readonly config: FanoutConfig;
  readonly logger: Logger;
  readonly registry: Registry;
}

export async function startEdgeApp(options: EdgeAppOptions): Promise<EdgeApp> {
  const building = performance.now();
  const { config, logger } = options;
  const edge = config.edge;
  const edgeId = edge.edgeId === '' ? hostname() : edge.edgeId;
  const metrics = createEdgeMetrics(options.registry);
  const auth = new ClientAuth(edge, await jwtVerifierFromConfig(config.auth));
  const log = new KafkaEventLog(config.kafka, 'edge');
  // The hub is built before the server it publishes through.
  const published: { server?: EdgeServer } = {};
  /** Set during a topic publish: uWS closes over-limit subscribers inside it. */
  let publishing = false;
  const reader: PartitionReader = new PartitionReader({
    log,
    logger: logger.child({ component: 'reader' }),
    ringCapacity: edge.replayBufferEvents,
    maxWaitMs: edge.fetchMaxWaitMs,
    fetchMaxBytes: edge.fetchMaxBytes,
    partitionMaxBytes: Math.min(edge.fetchMaxBytes, 4 * 1024 * 1024),
    lingerMs: edge.partitionLingerSeconds * 1000,
    sink: {
      onEvents: (partition, events) => {
        hub.onEvents(partition, events);
        const now = Date.now();
        for (const event of events) metrics.deliveryLatency.observe((now - event.timestamp) / 1000);
      },
      onGap: (partition, logStart) => {
        hub.onGap(partition, logStart);
      },
      onEpochChange: (epoch) => {
        hub.onEpochChange(epoch);
      },
      onHealth: (healthy) => {
        metrics.kafkaConnected.set(healthy ? 1 : 0);
        hub.onHealth(healthy);
      },
    },
    onUndecodable: () => {
      metrics.undecodable.inc();
    },
    onFetch: (_node, seconds, ok) => {
      metrics.fetchSeconds.observe({ outcome: ok ? 'ok' : 'error' }, seconds);
    },
  });
  const hub: ChannelHub = new ChannelHub({
    reader,
    log,
    logger: logger.child({ component: 'hub' }),
    publish: (topic, frame, binary, bytes) => {
      publishing = true;
      try {
        published.server?.beforePublish(bytes);
        published.server?.app.publish(topic, frame, binary);
      } finally {
        publishing = false;
      }
    },
    replayFetchMaxBytes: 4 * 1024 * 1024,
    batchMaxBytes: edge.batchMaxBytes,
    replayPauseBytes: edge.maxBackpressureBytes / 4,
    kafkaWaitMs: edge.kafkaWaitMs,
    tracing: new DeliveryTracing(config.kafka.topic),
    observer: {
      onReplay: (kind, events, seconds) => {
        metrics.replays.inc({ kind });
        metrics.replayEvents.inc({ kind }, events);
        metrics.replaySeconds.observe({ kind }, seconds);
      },
      onDelivered: (transport, _event, count, bytes) => {
        metrics.deliveries.inc({ transport }, count);
        metrics.deliveredBytes.inc({ transport }, count * bytes);
      },
      onReset: (code) => {
        metrics.resets.inc({ code });
      },
      onHeadWait: (outcome, seconds) => {
        metrics.headWaitSeconds.observe({ outcome }, seconds);
      },
      onColdFetch: (ok) => {
        metrics.coldFetches.inc({ outcome: ok ? 'ok' : 'failed' });
      },
    },
  });
  // Kafka may be down (or the topic missing) at start: the edge starts anyway,
  // reports not ready, and asks again until it can read the topic's layout.
  // The layout is asked for now, while membership is read (below).
  let kafkaDone = 0;
  const layoutRead = reader
    .start()
    .catch((error: unknown) => {
      logger.warn({ err: error }, 'Kafka is not reachable yet; the edge keeps trying');
    })
    .finally(() => {
      kafkaDone = performance.now();
    });
  // While no partition is read, nothing else talks to Kafka: an edge that no
  // client reaches (a Service sends none to an unready pod) must find out by
  // itself that Kafka or its topic is there now. Partitions being read report
  // their own health.
  const layoutRetry = setInterval(() => {
    if (reader.healthy || reader.tails.size > 0) return;
    reader.start().catch(() => undefined);
  }, layoutRetryMs);
  layoutRetry.unref();
  const cluster = config.cluster;
  const clusterLogger = logger.child({ component: 'cluster' });
  let stopping = false;
  /** Why the edge cannot serve now; the client port's `/readyz` answers it. */
  const notReady = (): FanoutError | undefined => {
    if (stopping) return new FanoutError('draining', 'this edge is shutting down; use another');
    if (!reader.healthy) return new FanoutError('kafka_unavailable', 'Kafka is not reachable');
    return undefined;
  };
  const readiness = (): { ready: boolean; reason?: string } => {
    const why = notReady();
    if (why === undefined) return { ready: true };
    return { ready: false, reason: why.code === 'draining' ? 'draining' : why.message };
  };
  const selfId = cluster.memberId === '' ? edgeId : cluster.memberId;
  const routing = new ClusterRouting({
    config: cluster,
    self: {
      id: selfId,
      url:
        cluster.advertisedUrl === '' ? `http://${edge.host}:${edge.port}` : cluster.advertisedUrl,
    },
    selfReady: () => readiness().ready,
    membership: membershipFromConfig({
      cluster,
      servicePort: edge.port,
      onError: (error) => {
        clusterLogger.warn({ err: error }, 'membership refresh failed; keeping the last list');
      },
      selfId,
      selfReady: () => readiness().ready,
      liveness: {
        onChange: ({ member, live, afterMs, detail }) => {
          if (live) {
            clusterLogger.info(
              { member: member.id, url: member.url, afterMs },
              'cluster member re-admitted: it answers its readiness probe',
            );
          } else {
            clusterLogger.warn(
              { member: member.id, url: member.url, afterMs, probe: detail },
              'cluster member dropped: it does not answer its readiness probe',
            );
          }
        },
        onCounts: (live, dead) => {
          metrics.clusterListedMembers.set({ state: 'live' }, live);
          metrics.clusterListedMembers.set({ state: 'dead' }, dead);
        },
      },
    }),
    logger: clusterLogger,
    metrics,
  });
  await Promise.all([layoutRead, routing.start()]);
  if (reader.layout) routing.placement(reader.layout.partitions);
  // Partitions read, connections open and replay buffers filled before ready (bounded).
  const layout = reader.layout;
  const warming =
    layout === undefined || edge.warmupEvents === 0
      ? undefined
      : warmUp({
          hub,
          partitions: Array.from({ length: layout.partitions }, (_, p) => p).filter((partition) => {
            if (!routing.clustered) return true;
            const placement = routing.placement(layout.partitions);
            return placement.members.length === 0 || isOwner(placement, routing.self.id, partition);
          }),
          events: Math.min(edge.warmupEvents, edge.replayBufferEvents),
          timeoutMs: edge.warmupTimeoutMs,
          logger: logger.child({ component: 'reader' }),
        });
  const checkpointConfig = edge.state.checkpoints;
  const stateLimits = {
    maxDocumentBytes: config.state.maxDocumentBytes,
    maxDepth: config.state.maxDepth,
  };
  const stateLogger = logger.child({ component: 'state' });
  const checkpointLog = checkpointConfig.enabled ? new KafkaCheckpointLog(config.kafka) : undefined;
  const checkpoints =
    checkpointLog === undefined
      ? undefined
      : new CheckpointSource({
          log: checkpointLog.read,
          limits: stateLimits,
          metrics,
          logger: stateLogger,
        });
  const checkpointWriter =
    checkpointLog === undefined || !checkpointConfig.write
      ? undefined
      : new CheckpointWriter({
          events: log,
          checkpoints: checkpointLog,
          routing,
          replicationFactor: config.kafka.replicationFactor,
          limits: stateLimits,
          everyChanges: checkpointConfig.everyChanges,
          everyMs: checkpointConfig.everySeconds * 1000,
          maxChannels: checkpointConfig.maxChannels,
          metrics,
          logger: stateLogger,
        });
  checkpointWriter?.start();
  // The bridges are looked up while the partitions warm up.
  const resourcesStarting = startResourceLeases({
    config: edge.resources,
    cluster,
    metrics,
    logger: logger.child({ component: 'resources' }),
  });
  // Its failure fails the start below, after the warm-up; not an unhandled rejection meanwhile.
  resourcesStarting.catch(() => undefined);
  await warming;
  const warmed = performance.now();
  const resources = await resourcesStarting;
  const server = await startEdgeServer({
    uws: options.uws,
    config: edge,
    state: config.state,
    edgeId,
    hub,
    reader,
    auth,
    metrics,
    logger: logger.child({ component: 'server' }),
    publishing: () => publishing,
    routing,
    notReady,
    ...(checkpoints === undefined ? {} : { checkpoints }),
    ...(resources === undefined ? {} : { resources: resources.leases }),
  });
  if (cluster.advertisedUrl === '' && edge.port === 0) {
    // Listening on port 0 (tests): the advertised URL names the real port.
    routing.setSelfUrl(`http://${edge.host}:${server.port}`);
  }
  const lagTimer = setInterval(() => {
    metrics.partitionsRead.set(reader.tails.size);
    metrics.kafkaLag.reset();
    for (const [partition, tail] of reader.tails) {
      if (tail.highWatermark >= 0 && tail.head >= 0) {
        metrics.kafkaLag.set(
          { partition: String(partition) },
          Math.max(0, tail.highWatermark - tail.head),
        );
      }
    }
  }, 5000);
  lagTimer.unref();
  published.server = server;
  const running = server;
  const startup: EdgeStartupTimes = {
    building: Math.round(building),
    kafka: Math.round(kafkaDone),
    warmed: Math.round(warmed),
    listening: Math.round(performance.now()),
  };
  return {
    port: running.port,
    startup,
    edgeId,
    routing,
    server: running,
    ready: readiness,
    async stop(drainMs = edge.shutdownTimeoutMs) {
      if (stopping) return;
      stopping = true;
      clearInterval(lagTimer);
      clearInterval(layoutRetry);
      running.stopAccepting();
      await running.drain(Math.min(drainMs, edge.shutdownTimeoutMs));
      running.close();
      await resources?.close();
      await routing.close();
      await checkpointWriter?.close();
      await checkpointLog?.close();
      await reader.close();
      await log.close();
    },
  };
}
