/**
 * Cluster routing on one edge: the settled membership, the placement of the
 * topic's partitions on it (`@fanout/shared` placement, the same function
 * the client library runs), the answers of `GET /v1/route`, the owner hints
 * of subscribe answers, and the rebalancing of clients whose partitions
 * moved to other edges, paced at `cluster.rebalanceRatePerSecond`.
 *
 * Correctness never depends on any of it: every edge serves every channel.
 */
import {
  isOwner,
  ownersOf,
  pickEdge,
  placementLoads,
  placementVersion,
  placePartitions,
  type FanoutConfig,
  type Logger,
  type Member,
  type MembershipSource,
  type Placement,
} from '@fanout/shared';
import type { EdgeMetrics } from '../edge-metrics.js';

export interface ClusterRoutingOptions {
  readonly config: FanoutConfig['cluster'];
  /** This edge in the membership. */
  readonly self: Member;
  /** `undefined`: this edge alone (cluster.membership none). */
  readonly membership: MembershipSource | undefined;
  readonly logger: Logger;
  readonly metrics: EdgeMetrics;
  /**
   * This edge's own readiness. While it is not ready (Kafka unreachable,
   * draining) it moves no client: its view of which peers can serve is then
   * a probe round behind theirs, and in a shared outage (every edge loses
   * Kafka at once) it would send clients to peers that cannot serve either.
   * Its clients are handled by the outage and drain paths instead. Absent:
   * always ready.
   */
  readonly selfReady?: () => boolean;
}

/** How often a rebalance waiting for this edge to be ready again looks. */
const notReadyRecheckMs = 1000;

/** Where a connection goes instead: a URL, or `undefined` to leave it. */
export type HintFor = (partitions: ReadonlySet<number>, spreadKey: string) => string | undefined;

/** One sweep of the connections of a transport: closes up to `limit` of those `select` names a new edge for. */
export type RebalanceSweep = (select: HintFor, limit: number) => number;

/** The answer of `GET /v1/route`. */
export interface RouteAnswer {
  readonly placementVersion: number;
  readonly partitions: number;
  readonly replicas: number;
  readonly loadFactor: number;
  readonly self: Member;
  readonly members: readonly Member[];
  readonly channels: readonly {
    readonly channel: string;
    readonly partition: number;
    readonly owners: readonly string[];
  }[];
  /** The one edge a client following all these channels should use. */
  readonly edge: string;
}

export class ClusterRouting {
  readonly #options: ClusterRoutingOptions;
  #self: Member;
  #members: readonly Member[];
  #urls = new Map<string, string>();
  #partitions = 0;
  #placement: Placement | undefined;
  #previous: Placement | undefined;
  #sweeps: { transport: string; sweep: RebalanceSweep }[] = [];
  #rebalanceTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: ClusterRoutingOptions) {
    this.#options = options;
    this.#self = options.self;
    this.#members = [options.self];
    this.#urls.set(options.self.id, options.self.url);
    options.metrics.placementVersion.set(placementVersion);
    options.metrics.clusterMembers.set(1);
  }

  get self(): Member {
    return this.#self;
  }

  /** Sets this edge's URL once its listening port is known. */
  setSelfUrl(url: string): void {
    this.#self = { id: this.#self.id, url };
    if (!this.clustered) this.#members = [this.#self];
    if (!this.#members.some((member) => member.id === this.#self.id) || !this.clustered) {
      this.#urls.set(this.#self.id, url);
    }
  }

  get members(): readonly Member[] {
    return this.#members;
  }

  /** Whether a membership source is configured (hints and rebalancing are on). */
  get clustered(): boolean {
    return this.#options.membership !== undefined;
  }

  /** Reads the first membership; later changes re-place and rebalance. */
  async start(): Promise<void> {
    const source = this.#options.membership;
    if (!source) return;
    const first = await source.start((members) => {
      this.#onMembers(members);
    });
    this.#setMembers(first);
  }

  /** Transports register how to sweep their connections. */
  addSweep(transport: string, sweep: RebalanceSweep): void {
    this.#sweeps.push({ transport, sweep });
  }

  /** Placement for a topic of `partitions` partitions (computed once per membership). */
  placement(partitions: number): Placement {
    if (this.#placement?.partitions !== partitions || this.#partitions !== partitions) {
      this.#partitions = partitions;
      this.#placement = this.#place(this.#members, partitions);
      this.#updateOwnedGauge();
    }
    return this.#placement;
  }

  #place(members: readonly Member[], partitions: number): Placement {
    return placePartitions(
      members.map((member) => member.id),
      {
        partitions,
        replicas: this.#options.config.replicas,
        loadFactor: this.#options.config.loadFactor,
      },
    );
  }

  #updateOwnedGauge(): void {
    if (!this.#placement) return;
    this.#options.metrics.partitionsOwned.set(
      placementLoads(this.#placement).get(this.self.id) ?? 0,
    );
  }

  urlOf(id: string): string {
    return this.#urls.get(id) ?? id;
  }

  /** Owner URLs of a partition, primary first. */
  ownerUrls(partitions: number, partition: number): string[] {
    return ownersOf(this.placement(partitions), partition).map((id) => this.urlOf(id));
  }

  /**
   * The URL of an owner of `partition` when this edge is not one (and
   * membership is on); `undefined` otherwise.
   */
  hintFor(partitions: number, partition: number, spreadKey: string): string | undefined {
    if (!this.clustered) return undefined;
    const placement = this.placement(partitions);
    if (placement.members.length === 0 || isOwner(placement, this.self.id, partition)) {
      return undefined;
    }
    const edge = pickEdge(placement, [partition], spreadKey);
    return edge === undefined ? undefined : this.urlOf(edge);
  }

  /** Like {@link hintFor} for a client following several partitions: only when this edge owns none. */
  hintForSet(
    partitions: number,
    partitionSet: ReadonlySet<number>,
    spreadKey: string,
  ): string | undefined {
    if (!this.clustered || partitionSet.size === 0) return undefined;
    const placement = this.placement(partitions);
    if (placement.members.length === 0) return undefined;
    for (const partition of partitionSet) {
      if (isOwner(placement, this.self.id, partition)) return undefined;
    }
    const edge = pickEdge(placement, partitionSet, spreadKey);
    return edge === undefined ? undefined : this.urlOf(edge);
  }

  /** Where a client following `partitionList` goes when this edge leaves (drain). */
  elsewhere(
    partitions: number,
    partitionList: Iterable<number>,
    spreadKey: string,
  ): string | undefined {
    const others = this.#members.filter((member) => member.id !== this.self.id);
    if (others.length === 0 || partitions === 0) return undefined;
    const edge = pickEdge(this.#place(others, partitions), partitionList, spreadKey);
    return edge === undefined ? undefined : this.urlOf(edge);
  }

  route(
    partitions: number,
    channels: readonly { channel: string; partition: number }[],
  ): RouteAnswer {
    const placement = this.placement(partitions);
    const edge = pickEdge(
      placement,
      channels.map((entry) => entry.partition),
      channels.map((entry) => entry.channel).join(','),
    );
    const config = this.#options.config;
    return {
      placementVersion,
      partitions,
      replicas: config.replicas,
      loadFactor: config.loadFactor,
      self: this.self,
      members: this.#members,
      channels: channels.map(({ channel, partition }) => ({
        channel,
        partition,
        owners: this.ownerUrls(partitions, partition),
      })),
      edge: edge === undefined ? this.self.url : this.urlOf(edge),
    };
  }

  #setMembers(members: readonly Member[]): void {
    this.#members = members;
    this.#urls = new Map(members.map((member) => [member.id, member.url]));
    if (!this.#urls.has(this.self.id)) this.#urls.set(this.self.id, this.self.url);
    this.#options.metrics.clusterMembers.set(members.length);
    if (this.#partitions > 0) {
      this.#previous = this.#placement;
      this.#placement = this.#place(members, this.#partitions);
      this.#updateOwnedGauge();
    }
  }

  #onMembers(members: readonly Member[]): void {
    if (this.#closed) return;
    const before = this.#placement;
    this.#setMembers(members);
    this.#options.logger.info(
      { members: members.map((member) => member.id) },
      'membership changed',
    );
    const after = this.#placement;
    if (!before || !after) return;
    const changed = after.owners.some(
      (owners, partition) => owners.join('\n') !== (before.owners[partition] ?? []).join('\n'),
    );
    if (!changed) return;
    this.#options.metrics.placementChanges.inc();
    if (this.#options.config.rebalance) this.#scheduleRebalance();
  }

  /**
   * A connection moves when this edge owned one of its partitions in the
   * previous placement and owns none in the current one.
   */
  #moveTarget(partitionSet: ReadonlySet<number>, spreadKey: string): string | undefined {
    const before = this.#previous;
    const after = this.#placement;
    if (!before || !after || partitionSet.size === 0 || after.members.length === 0)
      return undefined;
    const self = this.self.id;
    let ownedBefore = false;
    for (const partition of partitionSet) {
      if (isOwner(after, self, partition)) return undefined;
      if (isOwner(before, self, partition)) ownedBefore = true;
    }
    if (!ownedBefore) return undefined;
    const edge = pickEdge(after, partitionSet, spreadKey);
    return edge === undefined || edge === self ? undefined : this.urlOf(edge);
  }

  #scheduleRebalance(): void {
    if (this.#rebalanceTimer) clearTimeout(this.#rebalanceTimer);
    const config = this.#options.config;
    const tickMs = 100;
    const perTick = Math.max(1, Math.round((config.rebalanceRatePerSecond * tickMs) / 1000));
    let moved = 0;
    const tick = (): void => {
      this.#rebalanceTimer = undefined;
      if (this.#closed) return;
      if (this.#options.selfReady?.() === false) {
        // Waits, moving nobody; a later membership change reschedules it with
        // the placement of that moment (a re-admitted edge then has nothing to move).
        this.#rebalanceTimer = setTimeout(tick, notReadyRecheckMs);
        return;
      }
      let budget = perTick;
      for (const { transport, sweep } of this.#sweeps) {
        if (budget <= 0) break;
        const closed = sweep((partitions, key) => this.#moveTarget(partitions, key), budget);
        if (closed > 0) this.#options.metrics.clientsMoved.inc({ transport }, closed);
        budget -= closed;
        moved += closed;
      }
      if (budget <= 0) {
        this.#rebalanceTimer = setTimeout(tick, tickMs);
      } else if (moved > 0) {
        this.#options.logger.info({ moved }, 'rebalanced clients to their new edges');
      }
    };
    this.#rebalanceTimer = setTimeout(tick, Math.random() * config.rebalanceJitterMs);
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#rebalanceTimer) clearTimeout(this.#rebalanceTimer);
    await this.#options.membership?.close();
  }
}
