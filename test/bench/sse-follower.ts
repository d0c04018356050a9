/**
 * One SSE subscriber of a state channel for the live resources benchmark
 * (`/v1/resources?url=…&watch=true` or `/v1/state/{channel}?watch=true`):
 * its own connection (from `localAddress`, 127.0.0.x), the `snapshot` event
 * then every `patch` applied with the shared state model, each patch's
 * `base` checked against the position held (a gap otherwise), the bytes of
 * the patch events as they came on the wire, and the latency of each
 * applied patch: arrival minus the time `t` the upstream wrote into the
 * document when that version became visible (wall clock ms, same machine).
 */
import { request, type ClientRequest } from 'node:http';
import { applyJsonPatch, type JsonValue } from '@fanout/shared/portable-state';

export interface FollowerCounts {
  applied: number;
  gaps: number;
  failed: number;
  /** Events other than snapshot / patch, and streams that failed or ended. */
  errors: number;
  /** Bytes of the `event: patch` events, as received (UTF-8, with their blank line). */
  patchBytes: number;
  /** Bytes of the document (JSON) after each applied patch: what a full document per change costs. */
  fullBytes: number;
  latencies: number[];
  /** The document version `v` each latency is of (parallel to `latencies`). */
  latencyVersions: number[];
}

export function emptyCounts(): FollowerCounts {
  return {
    applied: 0,
    gaps: 0,
    failed: 0,
    errors: 0,
    patchBytes: 0,
    fullBytes: 0,
    latencies: [],
    latencyVersions: [],
  };
}

interface SnapshotData {
  readonly state: JsonValue;
  readonly exists: boolean;
  readonly position: string;
}

interface PatchData {
  readonly position: string;
  readonly base: string;
  readonly op: unknown;
}

export class SseFollower {
  document: JsonValue | undefined;
  position: string | undefined;
  /** The document's `v` at the snapshot (0 when the snapshot had no state). */
  snapshotVersion: number | undefined;
  /** Patches applied by this follower since it opened. */
  appliedHere = 0;
  ended = false;
  readonly #request: ClientRequest;
  #buffer = '';

  constructor(
    port: number,
    path: string,
    localAddress: string | undefined,
    private readonly counts: () => FollowerCounts,
    private readonly measureFull = false,
  ) {
    this.#request = request(
      {
        host: '127.0.0.1',
        port,
        path,
        agent: false,
        ...(localAddress === undefined ? {} : { localAddress }),
        headers: { accept: 'text/event-stream' },
      },
      (response) => {
        if (response.statusCode !== 200) {
          this.counts().errors++;
          this.ended = true;
          response.resume();
          return;
        }
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          this.#onData(chunk);
        });
        response.on('end', () => {
          this.ended = true;
        });
        response.on('error', () => {
          this.ended = true;
        });
      },
    );
    this.#request.on('error', () => {
      if (!this.ended) this.counts().errors++;
      this.ended = true;
    });
    this.#request.end();
  }

  close(): void {
    this.ended = true;
    this.#request.destroy();
  }

  /** The document's `v` member (the benchmark's documents carry their version), if any. */
  version(): number | undefined {
    const v = (this.document as { v?: unknown } | undefined)?.v;
    return typeof v === 'number' ? v : undefined;
  }

  #onData(chunk: string): void {
    this.#buffer += chunk;
    let end = this.#buffer.indexOf('\n\n');
    while (end >= 0) {
      const event = this.#buffer.slice(0, end);
      this.#buffer = this.#buffer.slice(end + 2);
      this.#onEvent(event);
      end = this.#buffer.indexOf('\n\n');
    }
  }

  #onEvent(event: string): void {
    if (event.startsWith(':') || event.startsWith('retry:')) return;
    let name = 'message';
    let data = '';
    for (const line of event.split('\n')) {
      if (line.startsWith('event: ')) name = line.slice(7);
      else if (line.startsWith('data: ')) data += line.slice(6);
    }
    const counts = this.counts();
    if (name === 'snapshot') {
      const snapshot = JSON.parse(data) as SnapshotData;
      this.document = snapshot.state;
      this.position = snapshot.position;
      this.snapshotVersion = snapshot.exists ? (this.version() ?? 0) : 0;
      return;
    }
    if (name !== 'patch') {
      counts.errors++;
      return;
    }
    const arrived = performance.timeOrigin + performance.now();
    counts.patchBytes += Buffer.byteLength(event) + 2;
    const patch = JSON.parse(data) as PatchData;
    if (patch.base !== this.position || this.document === undefined) counts.gaps++;
    const result = applyJsonPatch(this.document ?? null, patch.op);
    this.position = patch.position;
    if (!result.ok) {
      counts.failed++;
      return;
    }
    this.document = result.document;
    counts.applied++;
    this.appliedHere++;
    if (this.measureFull) counts.fullBytes += Buffer.byteLength(JSON.stringify(result.document));
    const t = (result.document as { t?: unknown } | null)?.t;
    if (typeof t === 'number') {
      counts.latencies.push(arrived - t);
      counts.latencyVersions.push(this.version() ?? -1);
    }
  }
}
