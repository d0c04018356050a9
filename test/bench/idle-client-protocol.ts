/**
 * What the benchmark runner and an idle-connection client process
 * (`idle-connection-client.ts`) say to each other over the IPC channel, and
 * the session every connection completes before it counts as open.
 */

/** One frame sent, and the start of the reply that means it worked. */
export interface SessionStep {
  /** Frame text; `{channel}` is replaced by the connection's channel. */
  readonly send: string;
  /** The reply's text starts with this when the step succeeded. */
  readonly expect: string;
}

/** How a client opens and subscribes one connection of a target. */
export interface IdleSession {
  readonly path: string;
  /** `Sec-WebSocket-Protocol`. */
  readonly protocol: string;
  readonly steps: readonly SessionStep[];
}

/** fanout.json.v1 (the edge, and the naive baseline's subset of it): one `subscribe`, one `subscribed`. */
export const fanoutJsonSession: IdleSession = {
  path: '/v1/ws',
  protocol: 'fanout.json.v1',
  steps: [
    {
      send: '{"subscribe":{"requestId":1,"subscriptions":[{"channel":"{channel}"}]}}',
      expect: '{"subscribed"',
    },
  ],
};

export interface IdleJobSegment {
  readonly server: number;
  readonly port: number;
  /** Index of the first connection over the whole measurement. */
  readonly first: number;
  readonly count: number;
}

export interface IdleJob {
  readonly segments: readonly IdleJobSegment[];
  readonly sourceAddresses: readonly string[];
  readonly session: IdleSession;
  /** Connection i subscribes to `${channelPrefix}${⌊i / connectionsPerChannel⌋}`. */
  readonly channelPrefix: string;
  readonly connectionsPerChannel: number;
  /** Connections being opened at once. */
  readonly inFlight: number;
  /** Longest one connection may take from connect to its last reply. */
  readonly attemptTimeoutMs: number;
  /** The process closes everything and exits by itself after this long. */
  readonly lifetimeMs: number;
}

export type RunnerMessage =
  | { readonly type: 'start'; readonly job: IdleJob }
  /** Open no more connections; answer `done` once the ones under way have settled. */
  | { readonly type: 'stop' }
  | { readonly type: 'status' }
  | { readonly type: 'close' };

export type ClientMessage =
  | { readonly type: 'ready' }
  | { readonly type: 'progress'; readonly opened: number; readonly failed: number }
  | {
      readonly type: 'done';
      readonly opened: number;
      readonly failed: number;
      /** Failures by reason (`ECONNREFUSED`, `HTTP/1.1 503 …`, `error rate_limited`, `timeout`). */
      readonly failures: Readonly<Record<string, number>>;
    }
  | {
      readonly type: 'status';
      /** Connections still open, by server index. */
      readonly openByServer: Readonly<Record<string, number>>;
    }
  | { readonly type: 'closed' };
