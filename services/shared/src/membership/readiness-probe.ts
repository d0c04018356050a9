/**
 * One readiness probe of a member: `GET <member url>/readyz` on its client
 * port, answered by the edge's own readiness (200 when ready, 503 while
 * starting, while Kafka is unreachable, or during drain). Bounded and cheap:
 * one connection without keep-alive (a reused socket the member closed would
 * read as a failure), a deadline over the whole exchange, and only the status
 * line read; the body is never consumed.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

/** The path probed on every member's client port. */
export const readinessPath = '/readyz';

/** What one probe found. */
export interface ProbeResult {
  readonly ok: boolean;
  /** Why not (an HTTP status or a network error), for the logs. */
  readonly detail: string;
}

/** Probes `url` (a member's base URL); never rejects. `signal` ends it early (a failure). */
export type ReadinessProbe = (
  url: string,
  timeoutMs: number,
  signal?: AbortSignal,
) => Promise<ProbeResult>;

export const probeReadiness: ReadinessProbe = (url, timeoutMs, signal) =>
  new Promise((resolve) => {
    let target: URL;
    try {
      target = new URL(readinessPath, url);
    } catch {
      resolve({ ok: false, detail: `invalid member URL ${url}` });
      return;
    }
    if (target.protocol !== 'http:' && target.protocol !== 'https:') {
      resolve({ ok: false, detail: `not an http(s) member URL: ${url}` });
      return;
    }
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    const request = send(target, {
      method: 'GET',
      agent: false,
      headers: { connection: 'close', 'user-agent': 'fanout-edge-membership-probe' },
    });
    let settled = false;
    const finish = (result: ProbeResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      request.destroy();
      resolve(result);
    };
    const onAbort = (): void => {
      finish({ ok: false, detail: 'probing stopped' });
    };
    const timer = setTimeout(() => {
      // After a stall of this process, the timer runs before the I/O that arrived
      // meanwhile: let that answer be read first (setImmediate runs after I/O).
      setImmediate(() => {
        finish({ ok: false, detail: `no answer within ${timeoutMs} ms` });
      });
    }, timeoutMs);
    request.on('response', (response) => {
      const status = response.statusCode ?? 0;
      finish({ ok: status === 200, detail: `HTTP ${status}` });
    });
    request.on('error', (error: NodeJS.ErrnoException) => {
      finish({ ok: false, detail: error.code ?? error.message });
    });
    signal?.addEventListener('abort', onAbort);
    if (signal?.aborted === true) onAbort();
    else request.end();
  });
