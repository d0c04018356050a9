/**
 * Edges in this process that share a watched membership file
 * (`cluster.membership` = `file`), for the routing tests: start members,
 * rewrite the file atomically, stop everything.
 */
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEdge, type EdgeHarness } from './edge-harness.js';

export class FileMembershipCluster {
  /** The running members by id. */
  readonly edges = new Map<string, EdgeHarness>();

  private constructor(
    private readonly brokers: readonly string[],
    private readonly topic: string,
    private readonly dir: string,
    private readonly membersFile: string,
  ) {}

  /** A cluster with an empty membership file and no members yet. */
  static async create(brokers: readonly string[], topic: string): Promise<FileMembershipCluster> {
    const dir = await mkdtemp(join(tmpdir(), 'fanout-cluster-'));
    const membersFile = join(dir, 'members.json');
    await writeFile(membersFile, JSON.stringify({ members: [] }));
    return new FileMembershipCluster(brokers, topic, dir, membersFile);
  }

  /**
   * Rewrites the membership file (atomically) with `ids`; an id that is not
   * a running member gets `absentUrl`.
   */
  async writeMembers(ids: readonly string[], absentUrl = ''): Promise<void> {
    const members = ids.map((id) => ({ id, url: this.edges.get(id)?.httpBase ?? absentUrl }));
    const temporary = `${this.membersFile}.${Date.now()}.tmp`;
    await writeFile(temporary, JSON.stringify({ members }));
    await rename(temporary, this.membersFile);
  }

  /** Starts an edge `id` watching the membership file (it is not a member until written). */
  async startMember(id: string): Promise<EdgeHarness> {
    const edge = await startEdge({
      brokers: this.brokers,
      topic: this.topic,
      env: {
        FANOUT_EDGE_EDGE_ID: id,
        FANOUT_CLUSTER_MEMBERSHIP: 'file',
        FANOUT_CLUSTER_MEMBERS_FILE: this.membersFile,
        FANOUT_CLUSTER_POLL_INTERVAL_MS: '200',
        FANOUT_CLUSTER_SETTLE_MS: '0',
        // Members are probed for readiness; without settling, only a refused probe may drop one.
        FANOUT_CLUSTER_PROBE_INTERVAL_MS: '200',
        FANOUT_CLUSTER_PROBE_TIMEOUT_MS: '10000',
        FANOUT_CLUSTER_REPLICAS: '1',
        FANOUT_CLUSTER_REBALANCE_JITTER_MS: '0',
      },
    });
    this.edges.set(id, edge);
    return edge;
  }

  /** Stops every member and removes the membership file. */
  async stop(): Promise<void> {
    for (const edge of this.edges.values()) await edge.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}
