/**
 * The bridges an edge asks for leases: the static `edge.resources.bridges`
 * list (e.g. the bridge Service), or the members of the bridges' headless
 * Service by DNS (`edge.resources.bridgeDnsName`, shared DNS membership).
 */
import { DnsMembership, type Logger, type Member, type MembershipSource } from '@fanout/shared';
import type { EdgeMetrics } from '../edge-metrics.js';
import { ResourceLeases, type ResourcesConfig } from './resource-leases.js';

export interface ResourceService {
  readonly leases: ResourceLeases;
  close(): Promise<void>;
}

/** `undefined` when `edge.resources.enabled` is off. */
export async function startResourceLeases(options: {
  readonly config: ResourcesConfig;
  /** How often DNS is resolved again (cluster.pollIntervalMs). */
  readonly pollIntervalMs: number;
  readonly metrics: EdgeMetrics;
  readonly logger: Logger;
}): Promise<ResourceService | undefined> {
  const { config, logger } = options;
  if (!config.enabled) return undefined;
  let bridges: readonly string[] = config.bridges;
  let source: MembershipSource | undefined;
  let retry: NodeJS.Timeout | undefined;
  let closed = false;
  if (config.bridgeDnsName !== '') {
    bridges = [];
    const listen = (members: readonly Member[]): void => {
      bridges = members.map((member) => member.url);
    };
    const follow = async (): Promise<void> => {
      const dns = new DnsMembership({
        name: config.bridgeDnsName,
        servers: [],
        pollIntervalMs: options.pollIntervalMs,
        port: config.bridgePort,
        scheme: 'http',
        onError: (error) => {
          logger.warn({ err: error }, 'bridge membership refresh failed; keeping the last list');
        },
      });
      try {
        listen(await dns.start(listen));
        if (closed) await dns.close();
        else source = dns;
      } catch (error) {
        await dns.close();
        // The edge serves without bridges (resources answer unavailable) until DNS answers.
        logger.warn({ err: error }, 'no bridge found yet; on-demand resources are unavailable');
        if (!closed) {
          retry = setTimeout(() => void follow(), options.pollIntervalMs);
          retry.unref();
        }
      }
    };
    await follow();
  } else if (bridges.length === 0) {
    logger.warn('edge.resources is enabled without bridges or bridgeDnsName');
  }
  const leases = new ResourceLeases({
    config,
    bridges: () => bridges,
    metrics: options.metrics,
    logger,
  });
  return {
    leases,
    async close() {
      closed = true;
      clearTimeout(retry);
      leases.close();
      await source?.close();
    },
  };
}
