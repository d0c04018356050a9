/**
 * The membership source `cluster.membership` names, wrapped in settle-time
 * smoothing; `static` and `file` lists are also probed for liveness.
 */
import type { FanoutConfig } from '../config-schema.js';
import { DnsMembership } from './dns-membership.js';
import { FileMembership } from './file-membership.js';
import { inClusterOptions, KubernetesMembership } from './kubernetes-membership.js';
import {
  parseStaticMember,
  type MembershipErrorHandler,
  type MembershipSource,
} from './membership-source.js';
import { ProbedMembership, type LivenessObserver } from './probed-membership.js';
import { SettledMembership } from './settled-membership.js';
import { StaticMembership } from './static-membership.js';

export interface MembershipFromConfigOptions {
  readonly cluster: FanoutConfig['cluster'];
  /** The port of the service's own listener (edge.port, bridge.port), for members found by address. */
  readonly servicePort: number;
  readonly onError: MembershipErrorHandler;
  /** This member's id (an edge's, a bridge's): `static` and `file` never probe it. */
  readonly selfId: string;
  /** This member's own readiness, its liveness in `static` and `file` membership. */
  readonly selfReady: () => boolean;
  /** Told when a listed member is dropped or re-admitted (`static`, `file`). */
  readonly liveness?: LivenessObserver;
  /**
   * `kubernetes`: a failed first list starts an empty list and retries instead
   * of failing start() (for a caller that serves without members). `dns`
   * always does.
   */
  readonly retryFirstList?: boolean;
  /** `kubernetes`: instead of the service account's token file (tests). */
  readonly kubernetesToken?: () => string | undefined;
}

/** `undefined` for `cluster.membership: none`. */
export function membershipFromConfig(
  options: MembershipFromConfigOptions,
): MembershipSource | undefined {
  const { cluster, onError } = options;
  const port = cluster.memberPort === 0 ? options.servicePort : cluster.memberPort;
  let source: MembershipSource;
  switch (cluster.membership) {
    case 'none':
      return undefined;
    case 'static':
      source = new StaticMembership(cluster.staticMembers.map(parseStaticMember));
      break;
    case 'file':
      if (cluster.membersFile === '')
        throw new Error('cluster.membersFile is required for file membership');
      source = new FileMembership({
        path: cluster.membersFile,
        pollIntervalMs: cluster.pollIntervalMs,
        onError,
      });
      break;
    case 'dns':
      if (cluster.dnsName === '') throw new Error('cluster.dnsName is required for dns membership');
      source = new DnsMembership({
        name: cluster.dnsName,
        servers: cluster.dnsServers,
        pollIntervalMs: cluster.pollIntervalMs,
        port,
        scheme: cluster.memberScheme,
        onError,
      });
      break;
    case 'kubernetes': {
      const pod = inClusterOptions();
      source = new KubernetesMembership({
        apiUrl: cluster.kubernetesApiUrl === '' ? pod.apiUrl : cluster.kubernetesApiUrl,
        namespace: cluster.kubernetesNamespace === '' ? pod.namespace : cluster.kubernetesNamespace,
        service: cluster.kubernetesService,
        portName: cluster.kubernetesPortName,
        port,
        scheme: cluster.memberScheme,
        ...(options.kubernetesToken !== undefined
          ? { token: options.kubernetesToken }
          : pod.token === undefined
            ? {}
            : { token: pod.token }),
        ...(pod.ca === undefined ? {} : { ca: pod.ca }),
        ...(options.retryFirstList === true ? { retryFirstList: true } : {}),
        onError,
      });
      break;
    }
  }
  const settled =
    cluster.settleMs > 0 ? new SettledMembership(source, { settleMs: cluster.settleMs }) : source;
  if (cluster.membership !== 'static' && cluster.membership !== 'file') return settled;
  // These lists name edges whether they run or not: place only on those that answer.
  return new ProbedMembership(settled, {
    selfId: options.selfId,
    selfReady: options.selfReady,
    intervalMs: cluster.probeIntervalMs,
    timeoutMs: cluster.probeTimeoutMs,
    settleMs: cluster.settleMs,
    onError,
    ...(options.liveness === undefined ? {} : { observer: options.liveness }),
  });
}
