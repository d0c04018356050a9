/**
 * `GET /readyz` on the client port: the edge's readiness where the other
 * edges reach it, so `static` and `file` membership probe each member at its
 * member URL (the internal server's `/readyz` says the same to Kubernetes).
 * 200 `{"ready":true}`, or 503 with the catalog error saying why
 * (`kafka_unavailable`, `draining`). No token, no body read.
 */
import type { FanoutError } from '@fanout/shared';
import type { TemplatedApp } from 'uWebSockets.js';
import { sendError } from '../transport/http-answers.js';
import { httpStatusLine } from '../transport/http-status.js';

const readyBody = '{"ready":true}';

/** `notReady` answers why the edge cannot serve now, or undefined when it can. */
export function registerReadinessEndpoint(
  app: TemplatedApp,
  notReady: () => FanoutError | undefined,
): void {
  app.get('/readyz', (response) => {
    const error = notReady();
    if (error !== undefined) {
      sendError(response, error);
      return;
    }
    response.cork(() => {
      response
        .writeStatus(httpStatusLine(200))
        .writeHeader('content-type', 'application/json')
        .writeHeader('cache-control', 'no-store')
        .end(readyBody);
    });
  });
}
