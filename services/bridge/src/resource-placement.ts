/**
 * Which bridge polls a resource: rendezvous hashing of the resource's
 * channel over the live bridges, with the project's placement
 * (`@fanout/shared` placement, the function and test vectors the edges use
 * for clients): the member with the highest score for the channel wins, so
 * a membership change moves only the resources of the bridges that came or
 * went.
 */
import { pickEdge, placePartitions } from '@fanout/shared';

/** The member id that owns `channel`; undefined without members. */
export function resourceOwner(members: readonly string[], channel: string): string | undefined {
  if (members.length === 0) return undefined;
  const placement = placePartitions(members, { partitions: 1, replicas: 1, loadFactor: 1 });
  // No partitions named: every member is a candidate, ranked by its score for the channel.
  return pickEdge(placement, [], channel);
}
