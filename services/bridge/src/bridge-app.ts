/**
 * The bridge service assembled from its configuration: the upstream policy
 * and fetcher, the publisher to the ingest, the membership of the bridges
 * (the `cluster` settings, read by the bridge for its peer bridges), the
 * resources placed on this bridge, its HTTP server, and the drain.
 */
import { hostname } from 'node:os';
import {
  membershipFromConfig,
  type FanoutConfig,
  type Logger,
  type Member,
  type MembershipSource,
} from '@fanout/shared';
import type { Registry } from 'prom-client';
import { createBridgeMetrics } from './bridge-metrics.js';
import { startBridgeHttpServer } from './bridge-http.js';
import { BridgeResource } from './bridge-resource.js';
import { BridgeRuntime, declaredResources } from './bridge-runtime.js';
import {
  IngestPublisher,
  ingestPublisherOptions,
  type BridgePublisher,
} from './ingest-publisher.js';
import { parseLeaseRequest } from './lease-request.js';
import { UpstreamFetcher } from './upstream-fetch.js';
import { upstreamOrigins, UpstreamPolicy, type ResolveHost } from './upstream-policy.js';

/** How often expired leases are looked for. */
const sweepIntervalMs = 1000;

export interface BridgeApp {
  /** Port of the HTTP server (leases, readiness). */
  readonly port: number;
  /** This bridge's member id. */
  readonly selfId: string;
  readonly runtime: BridgeRuntime;
  ready(): boolean;
  /** Drains: leaves the membership, stops polling, ends the publishes in flight. */
  stop(): Promise<void>;
}

export interface BridgeAppOptions {
  readonly config: FanoutConfig;
  readonly logger: Logger;
  readonly registry: Registry;
  /** Instead of the ingest publisher of bridge.ingest* (tests). */
  readonly publisher?: BridgePublisher;
  /** Instead of the system resolver (tests). */
  readonly resolve?: ResolveHost;
}

export async function startBridgeApp(options: BridgeAppOptions): Promise<BridgeApp> {
  const { config, logger, registry } = options;
  const { bridge, cluster } = config;
  const metrics = createBridgeMetrics(registry);
  const origins = upstreamOrigins(bridge.origins);
  const originMap = new Map(origins.map((origin) => [new URL(origin.origin).origin, origin]));
  const policy = new UpstreamPolicy(origins, options.resolve);
  const fetcher = new UpstreamFetcher({
    policy,
    responseTimeoutMs: bridge.responseTimeoutMs,
    requestTimeoutMs: bridge.requestTimeoutMs,
    maxBodyBytes: bridge.maxBodyBytes,
    maxRedirects: bridge.maxRedirects,
    userAgent: bridge.userAgent,
    stateLimits: {
      maxDocumentBytes: config.state.maxDocumentBytes,
      maxDepth: config.state.maxDepth,
    },
  });
  const publisher = options.publisher ?? new IngestPublisher(ingestPublisherOptions(bridge));
  const selfId = cluster.memberId === '' ? hostname() : cluster.memberId;
  const timing = {
    minIntervalMs: bridge.minPollIntervalMs,
    maxDelayMs: bridge.maxDelayMs,
    backoffBaseMs: bridge.backoffBaseMs,
    backoffMaxMs: bridge.backoffMaxMs,
  };
  const runtime = new BridgeRuntime({
    selfId,
    declared: declaredResources(bridge.resources, {
      intervalMs: bridge.pollIntervalMs,
      statusSuffix: bridge.statusSuffix,
    }),
    onDemand: {
      maxResources: bridge.onDemand.maxResources,
      idleMs: bridge.onDemand.idleMs,
      channelPrefix: bridge.onDemand.channelPrefix,
      statusSuffix: bridge.statusSuffix,
      intervalMs: bridge.pollIntervalMs,
    },
    createResource: (spec) =>
      new BridgeResource({
        spec,
        fetcher,
        publisher,
        metrics,
        timing,
        logger: logger.child({ component: 'resource', channel: spec.channel }),
      }),
    metrics,
    logger: logger.child({ component: 'runtime' }),
  });

  let started = false;
  let draining = false;
  const ready = (): boolean => started && !draining;
  const http = await startBridgeHttpServer({
    host: bridge.host,
    port: bridge.port,
    logger: logger.child({ component: 'http' }),
    handlers: {
      ready: () =>
        ready() ? { ready: true } : { ready: false, reason: draining ? 'draining' : 'starting' },
      lease: (body) =>
        runtime.lease(parseLeaseRequest(body, originMap, bridge.onDemand.maxLeaseMs)),
    },
  });

  const clusterLogger = logger.child({ component: 'membership' });
  let membership: MembershipSource | undefined;
  try {
    membership = membershipFromConfig({
      cluster,
      servicePort: http.port,
      onError: (error) => {
        clusterLogger.warn({ err: error }, 'membership refresh failed; keeping the last list');
      },
      selfId,
      selfReady: ready,
      liveness: {
        onChange: ({ member, live, detail }) => {
          clusterLogger.info({ member: member.id, live, detail }, 'bridge liveness changed');
        },
      },
    });
    started = true;
    const onMembers = (members: readonly Member[]): void => {
      clusterLogger.info({ members: members.map((member) => member.id) }, 'bridge membership');
      runtime.setMembers(members);
    };
    if (membership === undefined) {
      const url =
        cluster.advertisedUrl === '' ? `http://${bridge.host}:${http.port}` : cluster.advertisedUrl;
      onMembers([{ id: selfId, url }]);
    } else {
      onMembers(await membership.start(onMembers));
    }
  } catch (error) {
    await membership?.close();
    await http.close();
    publisher.close();
    throw error;
  }
  const sweep = setInterval(() => {
    runtime.sweep();
  }, sweepIntervalMs);
  sweep.unref();

  return {
    port: http.port,
    selfId,
    runtime,
    ready,
    async stop() {
      if (draining) return;
      draining = true;
      clearInterval(sweep);
      logger.info('draining');
      await membership?.close();
      const stopped = runtime.stop();
      const timeout = new Promise<void>((resolve) => {
        setTimeout(resolve, bridge.shutdownTimeoutMs).unref();
      });
      await Promise.race([stopped, timeout]);
      await http.close();
      publisher.close();
      logger.info('drained');
    },
  };
}
