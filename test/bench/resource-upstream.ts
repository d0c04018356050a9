/**
 * The upstream of the live resources benchmark: a plain JSON REST API on
 * 127.0.0.1 that knows nothing of fanout. Each path is a `ResourceSource`
 * that names the current version of its document; answers carry a strong
 * `ETag` of that version and a matching `If-None-Match` gets 304 without a
 * body, as a REST API would. Every request is counted per path, with its
 * time (for requests per poll interval) and its status.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface ResourceSource {
  /** The current version, asked once per request (`now`: wall clock ms). */
  version(now: number): number;
  /** The JSON body of a version (called once per version served with 200). */
  body(version: number): string;
}

export interface PathCounts {
  /** Request times (wall clock ms), kept only for paths added with `keepTimes`. */
  readonly times: number[];
  requests: number;
  ok: number;
  notModified: number;
  /** 200 answers whose version differs from the last 200 of this path: changes served. */
  changes: number;
  bodyBytes: number;
}

export interface BenchUpstream {
  readonly origin: string;
  add(path: string, source: ResourceSource, keepTimes?: boolean): void;
  counts(path: string): PathCounts;
  /** Sums over every path. */
  totals(): { requests: number; ok: number; notModified: number; changes: number };
  close(): Promise<void>;
}

interface Entry {
  readonly source: ResourceSource;
  readonly keepTimes: boolean;
  readonly counts: PathCounts;
  lastVersion: number | undefined;
  cached: { version: number; body: string; etag: string } | undefined;
}

const now = (): number => performance.timeOrigin + performance.now();

export async function startBenchUpstream(): Promise<BenchUpstream> {
  const entries = new Map<string, Entry>();
  const sockets = new Set<Socket>();
  const server: Server = createServer((request, response) => {
    const entry = entries.get(request.url ?? '');
    if (entry === undefined) {
      response.writeHead(404, { 'content-type': 'application/json' });
      response.end('{"error":"not found"}');
      return;
    }
    const at = now();
    const { counts } = entry;
    counts.requests++;
    if (entry.keepTimes) counts.times.push(at);
    const version = entry.source.version(at);
    if (entry.cached?.version !== version) {
      entry.cached = { version, body: entry.source.body(version), etag: `"v${version}"` };
    }
    const { body, etag } = entry.cached;
    if (request.headers['if-none-match'] === etag) {
      counts.notModified++;
      response.writeHead(304, { etag, 'cache-control': 'max-age=0' });
      response.end();
      return;
    }
    counts.ok++;
    if (entry.lastVersion !== version) counts.changes++;
    entry.lastVersion = version;
    counts.bodyBytes += Buffer.byteLength(body);
    response.writeHead(200, {
      'content-type': 'application/json',
      etag,
      'cache-control': 'max-age=0',
    });
    response.end(body);
  });
  server.keepAliveTimeout = 60_000;
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    add(path, source, keepTimes = false) {
      entries.set(path, {
        source,
        keepTimes,
        counts: { times: [], requests: 0, ok: 0, notModified: 0, changes: 0, bodyBytes: 0 },
        lastVersion: undefined,
        cached: undefined,
      });
    },
    counts(path) {
      const entry = entries.get(path);
      if (entry === undefined) throw new Error(`no upstream path ${path}`);
      return entry.counts;
    },
    totals() {
      const sum = { requests: 0, ok: 0, notModified: 0, changes: 0 };
      for (const { counts } of entries.values()) {
        sum.requests += counts.requests;
        sum.ok += counts.ok;
        sum.notModified += counts.notModified;
        sum.changes += counts.changes;
      }
      return sum;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) =>
        server.close(() => {
          resolve();
        }),
      );
    },
  };
}
