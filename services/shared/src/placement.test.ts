import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  isOwner,
  movedPlacements,
  normalizeMembers,
  ownersOf,
  pickEdge,
  placementLoads,
  placementScore,
  placementVersion,
  placePartitions,
  type Placement,
  type PlacementOptions,
} from './placement.js';

interface PlacementVectors {
  readonly placementVersion: number;
  readonly scores: readonly { edge: string; partition: number; score: number }[];
  readonly placements: readonly (PlacementOptions & {
    name: string;
    members: string[];
    expected: { members: string[]; replicas: number; capacity: number; owners: string[][] };
  })[];
  readonly picks: readonly {
    case: number;
    partitions: number[];
    spreadKey: string;
    edge: string | null;
  }[];
}

/** The vectors live in src/ (JSON is not compiled); the test runs from dist/. */
const vectorsPath = fileURLToPath(new URL('../src/placement-vectors.json', import.meta.url));
const vectors = JSON.parse(readFileSync(vectorsPath, 'utf8')) as PlacementVectors;

/** A small deterministic generator (mulberry32), so every run checks the same memberships. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomMembers(random: () => number, count: number): string[] {
  const members = new Set<string>();
  while (members.size < count) {
    members.add(`edge-${Math.floor(random() * 2 ** 32).toString(36)}`);
  }
  return [...members];
}

function maxLoad(placement: Placement): number {
  return Math.max(0, ...placementLoads(placement).values());
}

describe('placement', () => {
  it('reproduces the shared test vectors', () => {
    assert.equal(vectors.placementVersion, placementVersion);
    for (const { edge, partition, score } of vectors.scores) {
      assert.equal(placementScore(edge, partition), score, `score(${edge}, ${partition})`);
    }
    for (const vector of vectors.placements) {
      const placement = placePartitions(vector.members, vector);
      assert.equal(placement.version, placementVersion);
      assert.deepEqual(
        {
          members: placement.members,
          replicas: placement.replicas,
          capacity: placement.capacity,
          owners: placement.owners,
        },
        vector.expected,
        vector.name,
      );
    }
    for (const pick of vectors.picks) {
      const vector = vectors.placements[pick.case];
      assert.ok(vector, `case ${pick.case} exists`);
      const placement = placePartitions(vector.members, vector);
      assert.equal(
        pick.edge,
        pickEdge(placement, pick.partitions, pick.spreadKey) ?? null,
        `${vector.name} / ${pick.spreadKey}`,
      );
    }
  });

  it('gives every partition min(R, E) distinct owners, primary first by score', () => {
    const random = seededRandom(1);
    for (let trial = 0; trial < 200; trial++) {
      const members = randomMembers(random, 1 + Math.floor(random() * 12));
      const options = {
        partitions: 1 + Math.floor(random() * 100),
        replicas: 1 + Math.floor(random() * 4),
        loadFactor: 1e9,
      };
      const placement = placePartitions(members, options);
      assert.equal(placement.replicas, Math.min(options.replicas, members.length));
      for (let partition = 0; partition < options.partitions; partition++) {
        const owners = ownersOf(placement, partition);
        assert.equal(new Set(owners).size, placement.replicas);
        const ranked = [...members].sort(
          (a, b) => placementScore(b, partition) - placementScore(a, partition),
        );
        // Without a binding capacity the owners are exactly the top-R scores.
        assert.deepEqual(owners, ranked.slice(0, placement.replicas));
        assert.ok(owners.every((edge) => isOwner(placement, edge, partition)));
      }
    }
  });

  it('does not depend on the order or repetition of members', () => {
    const options = { partitions: 48, replicas: 2, loadFactor: 1.25 };
    const members = ['edge-d', 'edge-a', 'edge-c', 'edge-b'];
    const reference = placePartitions(members, options);
    const shuffled = placePartitions(['edge-b', 'edge-c', 'edge-a', 'edge-d', 'edge-a'], options);
    assert.deepEqual(shuffled, reference);
    assert.deepEqual(normalizeMembers(members), ['edge-a', 'edge-b', 'edge-c', 'edge-d']);
  });

  it('never loads an edge beyond ceil(c·P·R/E) partitions', () => {
    const random = seededRandom(2);
    for (let trial = 0; trial < 1000; trial++) {
      const members = randomMembers(random, 1 + Math.floor(random() * 40));
      const partitions = 1 + Math.floor(random() * 300);
      const replicas = 1 + Math.floor(random() * 5);
      const loadFactor = 1.1 + random() * 0.9;
      const placement = placePartitions(members, { partitions, replicas, loadFactor });
      const expectedCapacity = Math.ceil(
        (loadFactor * partitions * placement.replicas) / members.length,
      );
      assert.equal(placement.capacity, expectedCapacity);
      assert.ok(
        maxLoad(placement) <= placement.capacity,
        `trial ${trial}: max load ${maxLoad(placement)} > capacity ${placement.capacity}`,
      );
    }
  });

  it('spreads partitions evenly: the busiest edge is within the load factor of the mean', () => {
    const random = seededRandom(3);
    for (let trial = 0; trial < 100; trial++) {
      const members = randomMembers(random, 2 + Math.floor(random() * 20));
      const placement = placePartitions(members, {
        partitions: 256,
        replicas: 2,
        loadFactor: 1.25,
      });
      const mean = (256 * 2) / members.length;
      assert.ok(maxLoad(placement) <= Math.ceil(1.25 * mean));
      // Plain rendezvous would be ragged; bounded loads also keep the least loaded edge busy.
      assert.ok(Math.min(...placementLoads(placement).values()) >= Math.floor(mean / 2));
    }
  });

  it('moves exactly the placements of the edge that joins or leaves when no capacity binds', () => {
    const random = seededRandom(4);
    const options = { partitions: 128, replicas: 2, loadFactor: 1e9 };
    for (let trial = 0; trial < 200; trial++) {
      // At least R + 1 members, so that R owners remain after one leaves.
      const members = randomMembers(random, 3 + Math.floor(random() * 20));
      const before = placePartitions(members, options);
      const joined = placePartitions([...members, 'edge-joining'], options);
      assert.equal(movedPlacements(before, joined), placementLoads(joined).get('edge-joining'));
      const leaving = members[0] ?? '';
      const left = placePartitions(members.slice(1), options);
      assert.equal(movedPlacements(before, left), placementLoads(before).get(leaving));
    }
  });

  it('moves about 1/E of the placements when one of E edges joins or leaves (bounded loads)', () => {
    const random = seededRandom(5);
    const trials = 300;
    let joinRatioSum = 0;
    let leaveRatioSum = 0;
    /** A trial's moves against the fair share of the edge that joins or leaves. */
    const checkBound = (moved: number, share: number, what: string): number => {
      const ratio = moved / share;
      // Small shares (a few partitions per edge) vary by chance, as plain
      // rendezvous hashing would; large shares stay close to the ideal.
      assert.ok(moved <= 2 * share + 8, `${what}: ${moved} moved, fair share ${share.toFixed(1)}`);
      if (share >= 32) assert.ok(ratio <= 1.5, `${what}: ${ratio.toFixed(2)} × the fair share`);
      return ratio;
    };
    for (let trial = 0; trial < trials; trial++) {
      // More members than owners per partition, so that R owners remain after a leave.
      const members = randomMembers(random, 4 + Math.floor(random() * 24));
      const options = {
        partitions: 64 + Math.floor(random() * 448),
        replicas: 1 + Math.floor(random() * 3),
        loadFactor: 1.25,
      };
      const placements = options.partitions * options.replicas;
      const before = placePartitions(members, options);

      // Join: E edges become E + 1; the newcomer's fair share is 1/(E + 1).
      const joined = placePartitions([...members, `joining-${trial}`], options);
      joinRatioSum += checkBound(
        movedPlacements(before, joined),
        placements / joined.members.length,
        `trial ${trial} join`,
      );

      // Leave: E edges become E - 1; the leaver's share was 1/E.
      const leaver = members[Math.floor(random() * members.length)] ?? '';
      const left = placePartitions(
        members.filter((member) => member !== leaver),
        options,
      );
      leaveRatioSum += checkBound(
        movedPlacements(before, left),
        placements / before.members.length,
        `trial ${trial} leave`,
      );
    }
    // On average over the memberships: within 20 % of the 1/E ideal.
    const joinMean = joinRatioSum / trials;
    const leaveMean = leaveRatioSum / trials;
    assert.ok(joinMean >= 0.8 && joinMean <= 1.2, `join mean ${joinMean.toFixed(3)}/E`);
    assert.ok(leaveMean >= 0.8 && leaveMean <= 1.2, `leave mean ${leaveMean.toFixed(3)}/E`);
  });

  it('picks the edge owning most of a client’s partitions, spreading clients over owners', () => {
    const members = ['edge-0', 'edge-1', 'edge-2', 'edge-3'];
    const placement = placePartitions(members, { partitions: 32, replicas: 2, loadFactor: 1.25 });
    const owners = ownersOf(placement, 7);
    const chosen = new Map<string, number>();
    for (let client = 0; client < 1000; client++) {
      const edge = pickEdge(placement, [7], `client-${client}`);
      assert.ok(edge !== undefined && owners.includes(edge));
      chosen.set(edge, (chosen.get(edge) ?? 0) + 1);
      assert.equal(pickEdge(placement, [7], `client-${client}`), edge, 'stable per client');
    }
    assert.equal(chosen.size, owners.length, 'the clients of one partition use all its owners');
    for (const count of chosen.values()) assert.ok(count > 300);

    // Several partitions: the edge that owns the most of them wins.
    const partitions = [0, 1, 2, 3, 4, 5];
    const edge = pickEdge(placement, partitions, 'client-x') ?? '';
    const owned = (candidate: string): number =>
      partitions.filter((partition) => isOwner(placement, candidate, partition)).length;
    for (const other of members) assert.ok(owned(edge) >= owned(other));

    assert.equal(pickEdge(placePartitions([], placement), [0], 'x'), undefined);
  });

  it('rejects invalid options and partitions', () => {
    assert.throws(() => placePartitions(['a'], { partitions: 0, replicas: 1, loadFactor: 1 }));
    assert.throws(() => placePartitions(['a'], { partitions: 1, replicas: 0, loadFactor: 1 }));
    assert.throws(() => placePartitions(['a'], { partitions: 1, replicas: 1, loadFactor: 0.9 }));
    assert.throws(() => placePartitions(['a'], { partitions: 1, replicas: 1, loadFactor: NaN }));
    assert.throws(() => placePartitions([''], { partitions: 1, replicas: 1, loadFactor: 1 }));
    const placement = placePartitions(['a'], { partitions: 2, replicas: 1, loadFactor: 1 });
    assert.throws(() => ownersOf(placement, 2), RangeError);
    assert.throws(() => ownersOf(placement, -1), RangeError);
    assert.throws(() =>
      movedPlacements(placement, placePartitions(['a'], { ...placement, partitions: 3 })),
    );
  });
});
