/**
 * The bridges an edge asks for leases, found the way edges find each other
 * (the shared membership sources): the ready endpoints of the EndpointSlices
 * of the bridges' headless Service (`edge.resources.bridgeKubernetesService`),
 * the A/AAAA records of its DNS name (`edge.resources.bridgeDnsName`), or the
 * static `edge.resources.bridges` list (e.g. the bridge Service). A discovery
 * that fails at start-up starts with no bridge (leases answer `unavailable`)
 * and keeps trying; the edge serves meanwhile.
 */
import {
  membershipFromConfig,
  type FanoutConfig,
  type Logger,
  type Member,
  type MembershipSource,
} from '@fanout/shared';
import type { EdgeMetrics } from '../edge-metrics.js';
import { ResourceLeases, type ResourcesConfig } from './resource-leases.js';

/** Name of the bridges' port in their EndpointSlices (the chart's headless Service). */
export const bridgePortName = 'http';

export interface ResourceService {
  readonly leases: ResourceLeases;
  close(): Promise<void>;
}

/**
 * The membership source of the bridges, `undefined` for the static list:
 * `cluster`'s Kubernetes API and DNS settings with the bridges' Service, no
 * settle time (a lease to a bridge that just left fails over to the next).
 */
export function bridgeMembership(options: {
  readonly config: ResourcesConfig;
  readonly cluster: FanoutConfig['cluster'];
  readonly onError: (error: unknown) => void;
  /** Instead of the service account's token file (tests). */
  readonly kubernetesToken?: () => string | undefined;
}): MembershipSource | undefined {
  const { config, cluster } = options;
  const common = {
    ...cluster,
    memberPort: config.bridgePort,
    memberScheme: 'http' as const,
    settleMs: 0,
  };
  let bridges: FanoutConfig['cluster'];
  if (config.bridgeKubernetesService !== '') {
    bridges = {
      ...common,
      membership: 'kubernetes',
      kubernetesService: config.bridgeKubernetesService,
      kubernetesPortName: bridgePortName,
    };
  } else if (config.bridgeDnsName !== '') {
    bridges = { ...common, membership: 'dns', dnsName: config.bridgeDnsName };
  } else {
    return undefined;
  }
  return membershipFromConfig({
    cluster: bridges,
    servicePort: config.bridgePort,
    onError: options.onError,
    // An edge is never one of the bridges; these two serve only static and file lists.
    selfId: '',
    selfReady: () => false,
    retryFirstList: true,
    ...(options.kubernetesToken === undefined ? {} : { kubernetesToken: options.kubernetesToken }),
  });
}

/** `undefined` when `edge.resources.enabled` is off. */
export async function startResourceLeases(options: {
  readonly config: ResourcesConfig;
  /** The Kubernetes API, DNS servers and poll interval of the discovery of bridges. */
  readonly cluster: FanoutConfig['cluster'];
  readonly metrics: EdgeMetrics;
  readonly logger: Logger;
}): Promise<ResourceService | undefined> {
  const { config, logger } = options;
  if (!config.enabled) return undefined;
  if (config.bridgeToken === '') {
    logger.warn(
      'edge.resources.bridgeToken is empty: lease requests carry no credential (bridges must not require one)',
    );
  }
  let bridges: readonly string[] = config.bridges;
  const source = bridgeMembership({
    config,
    cluster: options.cluster,
    onError: (error) => {
      logger.warn({ err: error }, 'bridge discovery failed; keeping the last list and retrying');
    },
  });
  if (source !== undefined) {
    const listen = (members: readonly Member[]): void => {
      bridges = members.map((member) => member.url);
      logger.info({ bridges: members.map((member) => member.id) }, 'bridges');
    };
    listen(await source.start(listen));
  } else if (bridges.length === 0) {
    logger.warn(
      'edge.resources is enabled without bridges, bridgeDnsName or bridgeKubernetesService',
    );
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
      leases.close();
      await source?.close();
    },
  };
}
