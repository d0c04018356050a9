/**
 * The bridge service assembled from its configuration: the upstream policy
 * and fetcher, the publisher to the ingest, the membership of the bridges
 * (the `cluster` settings, read by the bridge for its peer bridges), the
 * resources placed on this bridge, its HTTP server, and the drain.
 *
 * The bridge is ready only while the ingest serves (ingest-health.ts): until
 * then, and whenever it stops, /readyz answers 503 (so the headless Service
 * and the peers' membership leave it out and its declared resources move to
 * bridges that can publish), leases are refused `unavailable` (the edge asks
 * another bridge), and it polls nothing: a document it fetched could not be
 * published, and the state channels keep the last one that was.
 */
import { hostname } from 'node:os';
import {
  FanoutError,
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
import { IngestHealth } from './ingest-health.js';
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
  /** Ready, or why not: `starting`, `ingest-unavailable`, `draining`. */
  readiness(): { ready: boolean; reason?: string };
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
  /** The members as the membership lists them; the runtime sees none while the ingest is down. */
  let members: readonly Member[] = [];
  const checkIngest = publisher.serving?.bind(publisher);
  const health =
    checkIngest === undefined
      ? undefined
      : new IngestHealth({
          check: () => checkIngest(Math.min(bridge.publishTimeoutMs, bridge.ingestCheckIntervalMs)),
          intervalMs: bridge.ingestCheckIntervalMs,
          onChange: () => {
            place();
          },
          logger: logger.child({ component: 'ingest' }),
        });
  const ingestServes = (): boolean => health?.serving ?? true;
  const place = (): void => {
    if (!started || draining) return;
    runtime.setMembers(ingestServes() ? members : []);
  };
  const readiness = (): { ready: boolean; reason?: string } => {
    if (draining) return { ready: false, reason: 'draining' };
    if (!started) return { ready: false, reason: 'starting' };
    if (!ingestServes()) return { ready: false, reason: 'ingest-unavailable' };
    return { ready: true };
  };
  const ready = (): boolean => readiness().ready;
  if (bridge.leaseToken === '') {
    logger.warn(
      'bridge.leaseToken is empty: lease requests are not authenticated (only the network keeps strangers out)',
    );
  }
  const http = await startBridgeHttpServer({
    host: bridge.host,
    port: bridge.port,
    leaseToken: bridge.leaseToken,
    logger: logger.child({ component: 'http' }),
    handlers: {
      ready: readiness,
      lease: (body) => {
        const request = parseLeaseRequest(body, originMap, bridge.onDemand.maxLeaseMs);
        if (!ingestServes()) {
          throw new FanoutError(
            'unavailable',
            'this bridge cannot reach the ingest to publish; ask another bridge',
            { details: { retryAfterMs: bridge.ingestCheckIntervalMs } },
          );
        }
        return runtime.lease(request);
      },
    },
  });
  health?.start();

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
    const onMembers = (listed: readonly Member[]): void => {
      clusterLogger.info({ members: listed.map((member) => member.id) }, 'bridge membership');
      members = listed;
      place();
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
    await health?.close();
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
    readiness,
    async stop() {
      if (draining) return;
      draining = true;
      clearInterval(sweep);
      logger.info('draining');
      await membership?.close();
      await health?.close();
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
