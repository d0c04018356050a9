/**
 * `GET /readyz` on the client port: the edge's readiness where the other
 * edges reach it, so `static` and `file` membership can probe each member at
 * its member URL (the internal server's `/readyz` answers the same for
 * Kubernetes). 200 `ready`, or 503 with the reason (starting, Kafka not
 * reachable, draining); no authentication, no body read, nothing else told.
 */
import type { Readiness } from '@fanout/shared';
import type { TemplatedApp } from 'uWebSockets.js';
import { httpStatusLine } from './http-status.js';

export function registerReadinessEndpoint(app: TemplatedApp, readiness: () => Readiness): void {
  app.get('/readyz', (response) => {
    const state = readiness();
    response.cork(() => {
      response
        .writeStatus(httpStatusLine(state.ready ? 200 : 503))
        .writeHeader('content-type', 'text/plain')
        .writeHeader('cache-control', 'no-store')
        .end(state.ready ? 'ready\n' : `not ready: ${state.reason ?? 'starting'}\n`);
    });
  });
}
