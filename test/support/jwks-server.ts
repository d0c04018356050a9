/**
 * A JWKS key server on 127.0.0.1 that counts the requests it gets and
 * answers as told: the keys, HTTP 500, or nothing until released.
 */
import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type JwksServerMode = 'serve' | 'fail' | 'hold';

export interface JwksServer {
  readonly url: string;
  /** Requests received so far. */
  readonly requests: number;
  /** What the next requests get: the keys, HTTP 500, or no answer until `release()`. */
  mode: JwksServerMode;
  /** The keys served (public JWKs). */
  keys: readonly Record<string, unknown>[];
  /** Answers the held requests as the mode now says (held again if it is still `hold`). */
  release(): void;
  close(): Promise<void>;
}

export async function startJwksServer(
  keys: readonly Record<string, unknown>[] = [],
): Promise<JwksServer> {
  let requests = 0;
  let held: ServerResponse[] = [];
  const state = { mode: 'serve' as JwksServerMode, keys };
  const answer = (response: ServerResponse): void => {
    if (state.mode === 'hold') {
      held.push(response);
      return;
    }
    if (state.mode === 'fail') {
      response.writeHead(500, { 'content-type': 'text/plain' }).end('key server failure');
      return;
    }
    response
      .writeHead(200, { 'content-type': 'application/jwk-set+json' })
      .end(JSON.stringify({ keys: state.keys }));
  };
  const server = createServer((request, response) => {
    requests += 1;
    request.resume();
    answer(response);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    get requests() {
      return requests;
    },
    get mode() {
      return state.mode;
    },
    set mode(mode: JwksServerMode) {
      state.mode = mode;
    },
    get keys() {
      return state.keys;
    },
    set keys(next: readonly Record<string, unknown>[]) {
      state.keys = next;
    },
    release() {
      const waiting = held;
      held = [];
      for (const response of waiting) answer(response);
    },
    async close() {
      for (const response of held) response.destroy();
      held = [];
      server.closeAllConnections();
      await new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      });
    },
  };
}
