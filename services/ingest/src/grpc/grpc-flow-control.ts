/**
 * The HTTP/2 receive window of the gRPC server.
 *
 * Node's HTTP/2 grants a peer 64 KiB per stream and 64 KiB per connection
 * until the receiver reads and sends WINDOW_UPDATE. A publisher with several
 * `Publish` calls of 100 events (about 30 KiB each) in flight on one
 * connection can then send only two of them before it waits for the ingest's
 * event loop, which is busy with the calls it already has: the calls arrive
 * in a trickle and the produce requests to Kafka stay small. grpc-js raises
 * the window for its clients (`grpc-node.flow_control_window`) but not yet
 * for its server (grpc/grpc-node pull request 3058, open), so this module
 * raises it for every session the server accepts: the stream window with a
 * SETTINGS frame and the connection window with a WINDOW_UPDATE. gRPC Java's
 * servers grant 1 MiB; measurements are in docs/benchmarks.md.
 *
 * It reaches the HTTP/2 servers through grpc-js's `http2Servers` map, which
 * is not public API; `grpc-flow-control.test.ts` fails if that changes.
 */
import type { Http2Server, Http2Session } from 'node:http2';
import type * as grpc from '@grpc/grpc-js';

/** Node's and HTTP/2's default window, below which nothing is raised. */
const defaultWindowBytes = 65_535;

function raiseSessionWindow(session: Http2Session, windowBytes: number): void {
  try {
    session.setLocalWindowSize(windowBytes);
    session.settings({ initialWindowSize: windowBytes });
  } catch {
    // A session closing as it is accepted keeps the default window.
  }
}

/**
 * Raises the receive window of the sessions `server` accepts from now on.
 * Call right after `bindAsync` succeeded. Returns false when the server's
 * HTTP/2 servers cannot be reached (a grpc-js change), so the caller can say so.
 */
export function raiseReceiveWindow(server: grpc.Server, windowBytes: number): boolean {
  if (windowBytes <= defaultWindowBytes) return true;
  const http2Servers: unknown = Reflect.get(server, 'http2Servers');
  if (!(http2Servers instanceof Map) || http2Servers.size === 0) return false;
  for (const http2Server of http2Servers.keys() as IterableIterator<Http2Server>) {
    if (typeof http2Server.on !== 'function') return false;
    http2Server.on('session', (session: Http2Session) => {
      raiseSessionWindow(session, windowBytes);
    });
  }
  return true;
}
