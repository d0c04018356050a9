/**
 * What this bridge polls: the declared resources placed on it and the
 * leased ones edges asked it for. Each membership change re-places every
 * resource (resource-placement.ts); a resource that moved here starts (its
 * first poll at once, so a dead bridge's resources are polled again within
 * the membership's settle time), one that moved away stops.
 */
import { FanoutError, leasedResourceChannel, type Logger, type Member } from '@fanout/shared';
import type { BridgeMetrics } from './bridge-metrics.js';
import type { BridgeResource, ResourceSpec } from './bridge-resource.js';
import { LeaseTable } from './lease-table.js';
import type { LeaseRequest } from './lease-request.js';
import { resourceOwner } from './resource-placement.js';

export interface OnDemandSettings {
  readonly maxResources: number;
  readonly idleMs: number;
  readonly channelPrefix: string;
  readonly statusSuffix: string;
  readonly intervalMs: number;
}

export interface BridgeRuntimeOptions {
  readonly selfId: string;
  readonly declared: readonly ResourceSpec[];
  readonly onDemand: OnDemandSettings;
  readonly createResource: (spec: ResourceSpec) => BridgeResource;
  readonly metrics: BridgeMetrics;
  readonly logger: Logger;
  readonly now?: () => number;
}

export interface LeaseGrant {
  readonly channel: string;
  readonly statusChannel: string;
  readonly owner: Member;
  readonly leaseMs: number;
  readonly expiresAt: string;
}

export class BridgeRuntime {
  readonly #options: BridgeRuntimeOptions;
  readonly #now: () => number;
  readonly #running = new Map<string, BridgeResource>();
  readonly #leases: LeaseTable<ResourceSpec>;
  #members: readonly Member[];
  #stopped = false;

  constructor(options: BridgeRuntimeOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#leases = new LeaseTable(options.onDemand.maxResources);
    this.#members = [];
  }

  get members(): readonly Member[] {
    return this.#members;
  }

  /** Channels of the resources polled here now. */
  runningChannels(): string[] {
    return [...this.#running.keys()].sort();
  }

  resource(channel: string): BridgeResource | undefined {
    return this.#running.get(channel);
  }

  get leasedCount(): number {
    return this.#leases.size;
  }

  /** The owner of a channel among the current members. */
  ownerOf(channel: string): Member | undefined {
    const id = resourceOwner(
      this.#members.map((member) => member.id),
      channel,
    );
    return this.#members.find((member) => member.id === id);
  }

  /** Takes a new member list and re-places every resource. */
  setMembers(members: readonly Member[]): void {
    if (this.#stopped) return;
    this.#members = members;
    this.#options.metrics.members.set(members.length);
    const self = this.#options.selfId;
    for (const spec of this.#options.declared) {
      if (this.ownerOf(spec.channel)?.id === self) this.#start(spec);
      else this.#stop(spec.channel, 'moved');
    }
    for (const channel of this.#leases.channels()) {
      if (this.ownerOf(channel)?.id !== self) {
        this.#leases.delete(channel);
        this.#stop(channel, 'moved');
      }
    }
    this.#gauges();
  }

  /** Grants or renews a lease; throws resource_elsewhere, resource_limit. */
  lease(request: LeaseRequest): LeaseGrant {
    const { onDemand, selfId } = this.#options;
    if (this.#stopped) throw new FanoutError('draining', 'this bridge is shutting down');
    if (onDemand.maxResources === 0) {
      throw new FanoutError('resource_limit', 'on-demand resources are off on this bridge', {
        details: { limit: 0 },
      });
    }
    const channel = leasedResourceChannel(onDemand.channelPrefix, request.url, request.headers);
    const owner = this.ownerOf(channel);
    if (owner === undefined) {
      throw new FanoutError('unavailable', 'this bridge has no membership yet; retry');
    }
    if (owner.id !== selfId) {
      throw new FanoutError('resource_elsewhere', `bridge ${owner.id} owns ${channel}`, {
        details: { owner: owner.id, ownerUrl: owner.url, channel },
      });
    }
    const statusChannel = `${channel}${onDemand.statusSuffix}`;
    const renewal = this.#leases.renew(channel, request.leaseMs, this.#now(), () => ({
      kind: 'leased',
      channel,
      statusChannel,
      url: request.url,
      intervalMs: onDemand.intervalMs,
      subscriberHeaders: request.headers,
    }));
    if (renewal.created) {
      const spec = this.#leases.get(channel)?.value;
      if (spec !== undefined) this.#start(spec);
      this.#gauges();
    }
    return {
      channel,
      statusChannel,
      owner,
      leaseMs: request.leaseMs,
      expiresAt: new Date(renewal.expiresAt).toISOString(),
    };
  }

  /** Stops the leased resources idle for onDemand.idleMs after their last lease. */
  sweep(): void {
    for (const entry of this.#leases.takeIdle(this.#now(), this.#options.onDemand.idleMs)) {
      this.#stop(entry.channel, 'lease expired');
    }
    this.#gauges();
  }

  /** Stops every resource (their publishes in flight end). */
  async stop(): Promise<void> {
    this.#stopped = true;
    const stopping = [...this.#running.values()].map((resource) => resource.stop());
    this.#running.clear();
    await Promise.all(stopping);
    this.#gauges();
  }

  #start(spec: ResourceSpec): void {
    if (this.#running.has(spec.channel)) return;
    const resource = this.#options.createResource(spec);
    this.#running.set(spec.channel, resource);
    this.#options.logger.info(
      { channel: spec.channel, kind: spec.kind, url: new URL(spec.url).origin },
      'resource placed here; polling',
    );
    resource.start();
  }

  #stop(channel: string, why: string): void {
    const resource = this.#running.get(channel);
    if (resource === undefined) return;
    this.#running.delete(channel);
    this.#options.logger.info({ channel, why }, 'resource no longer polled here');
    void resource.stop();
  }

  #gauges(): void {
    let declared = 0;
    let leased = 0;
    for (const resource of this.#running.values()) {
      if (resource.spec.kind === 'declared') declared += 1;
      else leased += 1;
    }
    this.#options.metrics.ownedResources.set({ kind: 'declared' }, declared);
    this.#options.metrics.ownedResources.set({ kind: 'leased' }, leased);
  }
}

/** The specs of bridge.resources. */
export function declaredResources(
  resources: readonly {
    readonly channel: string;
    readonly url: string;
    readonly intervalMs?: number | undefined;
    readonly headers: Readonly<Record<string, string>>;
    readonly statusChannel?: string | undefined;
    readonly arrayKey?: string | undefined;
  }[],
  defaults: { readonly intervalMs: number; readonly statusSuffix: string },
): ResourceSpec[] {
  return resources.map((resource) => ({
    kind: 'declared',
    channel: resource.channel,
    statusChannel: resource.statusChannel ?? `${resource.channel}${defaults.statusSuffix}`,
    url: resource.url,
    intervalMs: resource.intervalMs ?? defaults.intervalMs,
    ...(Object.keys(resource.headers).length === 0 ? {} : { resourceHeaders: resource.headers }),
    ...(resource.arrayKey === undefined ? {} : { arrayKey: resource.arrayKey }),
  }));
}
