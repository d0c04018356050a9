/**
 * The answer of an edge's `GET /v1/route`, read and checked: the membership
 * (each edge's placement id and URL), the placement parameters of the
 * cluster, and the edge the answering edge picked for the asked channels.
 */
import { FanoutError } from '@fanout/shared/portable-core';
import { hintUrl } from './edge-router.js';

/** One live edge: the id the placement hashes and the URL clients reach it at. */
export interface RouteMember {
  readonly id: string;
  readonly url: string;
}

export interface RouteAnswer {
  /** Version of the placement algorithm the edge runs. */
  readonly placementVersion: number;
  /** Partitions of the topic. */
  readonly partitions: number;
  /** Owners per partition the cluster is configured for. */
  readonly replicas: number;
  readonly loadFactor: number;
  /** The members, sorted by id, URLs normalized. */
  readonly members: readonly RouteMember[];
  /** The edge the answering edge picked for the asked channels (normalized URL). */
  readonly edge: string;
}

function invalid(base: string, message: string): FanoutError {
  return new FanoutError('unavailable', `GET ${base}/v1/route: ${message}`);
}

function positiveNumber(body: Record<string, unknown>, key: string, base: string): number {
  const value = body[key];
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw invalid(base, `${key} is not a positive number`);
  }
  return value;
}

/** Checks a parsed answer of `base`; throws FanoutError `unavailable` when it is not one. */
export function parseRouteAnswer(body: unknown, base: string): RouteAnswer {
  if (typeof body !== 'object' || body === null) throw invalid(base, 'not a JSON object');
  const fields = body as Record<string, unknown>;
  const version = fields['placementVersion'];
  if (typeof version !== 'number' || !Number.isInteger(version)) {
    throw invalid(base, 'placementVersion is missing');
  }
  const partitions = positiveNumber(fields, 'partitions', base);
  if (!Number.isInteger(partitions)) throw invalid(base, 'partitions is not an integer');
  const replicas = positiveNumber(fields, 'replicas', base);
  if (!Number.isInteger(replicas)) throw invalid(base, 'replicas is not an integer');
  const loadFactor = positiveNumber(fields, 'loadFactor', base);
  if (loadFactor < 1) throw invalid(base, 'loadFactor is below 1');
  const list = fields['members'];
  if (!Array.isArray(list)) throw invalid(base, 'members is not a list');
  const byId = new Map<string, string>();
  for (const entry of list as unknown[]) {
    const member = (typeof entry === 'object' && entry !== null ? entry : {}) as Record<
      string,
      unknown
    >;
    const id = member['id'];
    const url = typeof member['url'] === 'string' ? hintUrl(member['url'], base) : undefined;
    if (typeof id !== 'string' || id === '' || url === undefined) {
      throw invalid(base, 'a member has no id or no http(s) URL');
    }
    if (!byId.has(id)) byId.set(id, url);
  }
  const members = [...byId]
    .map(([id, url]) => ({ id, url }))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const edge = typeof fields['edge'] === 'string' ? hintUrl(fields['edge'], base) : undefined;
  return {
    placementVersion: version,
    partitions,
    replicas,
    loadFactor,
    members,
    edge: edge ?? base,
  };
}
