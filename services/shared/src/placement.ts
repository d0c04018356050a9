/**
 * Placement: which edges own which Kafka partitions. Rendezvous
 * (highest-random-weight) hashing with bounded loads, pure and deterministic,
 * so that every edge and every client computes the same owners from the same
 * membership. Browser-safe.
 *
 * The algorithm, exactly (version {@link placementVersion}):
 *
 * 1. **Members.** The edge ids are de-duplicated and sorted (JavaScript
 *    string order, i.e. by UTF-16 code units; ids should be ASCII). `E` is
 *    their number. With no member, no partition has an owner.
 * 2. **Owners per partition.** `R = min(replicas, E)`.
 * 3. **Capacity.** Every edge may own at most
 *    `capacity = ceil(loadFactor × P × R / E)` partitions (`P` partitions,
 *    `loadFactor` ≥ 1): consistent hashing with bounded loads
 *    (Mirrokni, Thorup, Zadimoghaddam 2018), so no edge carries more than
 *    `loadFactor` times its fair share.
 * 4. **Score.** `score(edge, partition) = fmix32(murmur2(utf8(edge + "\n" +
 *    partition)))` as an unsigned 32-bit integer, where `partition` is written
 *    in decimal, `murmur2` is Kafka's (the one of {@link partitionForChannel})
 *    and `fmix32` is MurmurHash3's finalizer:
 *    `h ^= h >>> 16; h *= 0x85ebca6b; h ^= h >>> 13; h *= 0xc2b2ae35; h ^= h >>> 16`
 *    (32-bit multiplications).
 * 5. **Assignment.** Partitions are taken in order 0, 1, …, P-1. For each,
 *    the members are ranked by score, highest first (equal scores: the smaller
 *    id first). The owners are the first `R` members of that ranking whose
 *    load is below `capacity`; should fewer than `R` qualify, the list is
 *    completed with the highest-ranked remaining members regardless of load.
 *    Each owner's load grows by one. The owners keep their ranking order: the
 *    first is the partition's primary owner.
 *
 * Without the capacity (loadFactor = ∞) this is plain rendezvous hashing:
 * when one of E edges joins or leaves, only the placements that involve that
 * edge move, about 1/E of them. The capacity adds a few cascading moves; the
 * unit test bounds them over many random memberships.
 *
 * A client following several channels picks one edge with
 * {@link pickEdge}: the edges that own the most of its partitions are the
 * candidates; among them the one with the highest
 * `fmix32(murmur2(utf8(edge + "\n" + spreadKey)))` wins (equal scores: the
 * smaller id), so that the clients of one hot partition spread over its R
 * owners while each client stays on the same edge.
 *
 * `placement-vectors.json` beside this module holds test vectors that any
 * other implementation (the client library, another language) must reproduce.
 */
import { murmur2 } from './channel-partition.js';

/**
 * Version of the placement algorithm. Changes whenever any input gives a
 * different output; edges report it so that mixed versions are visible.
 */
export const placementVersion = 1;

export interface PlacementOptions {
  /** Number of partitions of the topic (P ≥ 1). */
  readonly partitions: number;
  /** Owners per partition (R ≥ 1); fewer when there are fewer members. */
  readonly replicas: number;
  /** Capacity factor (c ≥ 1): no edge owns more than ceil(c·P·R/E) partitions. */
  readonly loadFactor: number;
}

/** The owners of every partition for one membership. */
export interface Placement {
  /** {@link placementVersion} of the algorithm that computed it. */
  readonly version: number;
  /** The members, de-duplicated and sorted. */
  readonly members: readonly string[];
  readonly partitions: number;
  /** Owners per partition actually used: min(replicas, members). */
  readonly replicas: number;
  readonly loadFactor: number;
  /** Most partitions one member may own (0 without members). */
  readonly capacity: number;
  /** `owners[p]`: the owners of partition p, primary first. */
  readonly owners: readonly (readonly string[])[];
}

const encoder = new TextEncoder();

/** MurmurHash3's 32-bit finalizer, as an unsigned integer. */
function fmix32(value: number): number {
  let h = value | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function keyedScore(edge: string, key: string): number {
  return fmix32(murmur2(encoder.encode(`${edge}\n${key}`)));
}

/** The rendezvous score of `edge` for `partition` (unsigned 32-bit). */
export function placementScore(edge: string, partition: number): number {
  return keyedScore(edge, String(partition));
}

function compareRanked(
  a: { readonly edge: string; readonly score: number },
  b: { readonly edge: string; readonly score: number },
): number {
  if (a.score !== b.score) return b.score - a.score;
  return a.edge < b.edge ? -1 : a.edge > b.edge ? 1 : 0;
}

function checkOptions(options: PlacementOptions): void {
  const { partitions, replicas, loadFactor } = options;
  if (!Number.isInteger(partitions) || partitions < 1) {
    throw new RangeError(`partitions must be a positive integer (got ${partitions})`);
  }
  if (!Number.isInteger(replicas) || replicas < 1) {
    throw new RangeError(`replicas must be a positive integer (got ${replicas})`);
  }
  if (!(loadFactor >= 1) || !Number.isFinite(loadFactor)) {
    throw new RangeError(`loadFactor must be a finite number >= 1 (got ${loadFactor})`);
  }
}

/** The sorted, de-duplicated member ids; rejects empty ids. */
export function normalizeMembers(members: Iterable<string>): string[] {
  const unique = new Set<string>();
  for (const member of members) {
    if (member.length === 0) throw new RangeError('a member id must not be empty');
    unique.add(member);
  }
  return [...unique].sort();
}

/** Places every partition on `replicas` of `members` (see the module comment). */
export function placePartitions(members: Iterable<string>, options: PlacementOptions): Placement {
  checkOptions(options);
  const sorted = normalizeMembers(members);
  const { partitions, loadFactor } = options;
  const replicas = Math.min(options.replicas, sorted.length);
  const capacity =
    sorted.length === 0 ? 0 : Math.ceil((loadFactor * partitions * replicas) / sorted.length);
  const load = new Map<string, number>(sorted.map((member) => [member, 0]));
  const owners: string[][] = [];
  for (let partition = 0; partition < partitions; partition++) {
    const ranked = sorted
      .map((edge) => ({ edge, score: placementScore(edge, partition) }))
      .sort(compareRanked);
    const chosen: string[] = [];
    for (const { edge } of ranked) {
      if (chosen.length === replicas) break;
      if ((load.get(edge) ?? 0) < capacity) chosen.push(edge);
    }
    for (const { edge } of ranked) {
      if (chosen.length === replicas) break;
      if (!chosen.includes(edge)) chosen.push(edge);
    }
    for (const edge of chosen) load.set(edge, (load.get(edge) ?? 0) + 1);
    owners.push(chosen);
  }
  return {
    version: placementVersion,
    members: sorted,
    partitions,
    replicas,
    loadFactor,
    capacity,
    owners,
  };
}

/** The owners of `partition`, primary first (empty without members). */
export function ownersOf(placement: Placement, partition: number): readonly string[] {
  if (!Number.isInteger(partition) || partition < 0 || partition >= placement.partitions) {
    throw new RangeError(
      `partition must be an integer in [0, ${placement.partitions - 1}] (got ${partition})`,
    );
  }
  return placement.owners[partition] ?? [];
}

/** Whether `edge` is one of the owners of `partition`. */
export function isOwner(placement: Placement, edge: string, partition: number): boolean {
  return ownersOf(placement, partition).includes(edge);
}

/** Number of partitions each member owns. */
export function placementLoads(placement: Placement): Map<string, number> {
  const loads = new Map<string, number>(placement.members.map((member) => [member, 0]));
  for (const owners of placement.owners) {
    for (const edge of owners) loads.set(edge, (loads.get(edge) ?? 0) + 1);
  }
  return loads;
}

/**
 * Number of (partition, owner) placements of `after` that `before` does not
 * have: how many partition readers move between the two memberships.
 */
export function movedPlacements(before: Placement, after: Placement): number {
  if (before.partitions !== after.partitions) {
    throw new RangeError('placements of different partition counts cannot be compared');
  }
  let moved = 0;
  for (let partition = 0; partition < after.partitions; partition++) {
    const previous = before.owners[partition] ?? [];
    for (const edge of after.owners[partition] ?? []) {
      if (!previous.includes(edge)) moved++;
    }
  }
  return moved;
}

/**
 * The one edge a client following `partitions` connects to: among the edges
 * owning the most of those partitions, the highest rendezvous score for
 * `spreadKey` (e.g. a client id). `undefined` without members.
 */
export function pickEdge(
  placement: Placement,
  partitions: Iterable<number>,
  spreadKey: string,
): string | undefined {
  const votes = new Map<string, number>();
  for (const partition of new Set(partitions)) {
    for (const edge of ownersOf(placement, partition)) votes.set(edge, (votes.get(edge) ?? 0) + 1);
  }
  let candidates: string[];
  if (votes.size === 0) {
    candidates = [...placement.members];
  } else {
    const most = Math.max(...votes.values());
    candidates = [...votes].filter(([, count]) => count === most).map(([edge]) => edge);
  }
  let best: { edge: string; score: number } | undefined;
  for (const edge of candidates) {
    const candidate = { edge, score: keyedScore(edge, spreadKey) };
    if (best === undefined || compareRanked(candidate, best) < 0) best = candidate;
  }
  return best?.edge;
}
