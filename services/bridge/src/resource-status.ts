/**
 * The status event of a resource, published on its status channel whenever
 * its health changes: `{"resource","status","code","message","httpStatus",
 * "at","lastChangeAt"}` (docs/guides/live-resources.md).
 */
import type { ResourceStatus } from './resource-poller.js';

/** `ok`: the last poll answered; `stale`: it failed, the last good document stays; `error`: it failed and there never was a document. */
export type ResourceHealthWord = 'ok' | 'stale' | 'error';

export interface ResourceStatusEvent {
  /** The resource's URL without query or fragment (a query may hold a credential). */
  readonly resource: string;
  readonly status: ResourceHealthWord;
  /** The catalog code of the failure (`upstream_*`, or `internal`); null when ok. */
  readonly code: string | null;
  readonly message: string | null;
  /** The upstream's HTTP status of the failed answer, when there was one. */
  readonly httpStatus: number | null;
  /** When this status began (ISO 8601). */
  readonly at: string;
  /** When the document last changed as seen by this bridge (ISO 8601); null before the first. */
  readonly lastChangeAt: string | null;
}

/** `origin + path` of a URL: what a status shows of it. */
export function shownResource(url: string): string {
  const parsed = new URL(url);
  return `${parsed.origin}${parsed.pathname}`;
}

export function resourceStatusEvent(
  url: string,
  status: ResourceStatus,
  hasDocument: boolean,
  lastChangeAt: number | undefined,
): ResourceStatusEvent {
  const failing = status.state === 'failing';
  return {
    resource: shownResource(url),
    status: !failing ? 'ok' : hasDocument ? 'stale' : 'error',
    code: failing ? (status.code ?? 'internal') : null,
    message: failing ? (status.message ?? null) : null,
    httpStatus: failing ? (status.httpStatus ?? null) : null,
    at: new Date(status.since).toISOString(),
    lastChangeAt: lastChangeAt === undefined ? null : new Date(lastChangeAt).toISOString(),
  };
}
