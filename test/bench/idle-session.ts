/**
 * The session every idle connection completes before it counts as open
 * (a real subscribe), how one connection runs it, and what the benchmark
 * runner and an idle-connection client process (`idle-connection-client.ts`)
 * say to each other over the IPC channel.
 */
import { RawWsClient } from '../support/raw-ws-client.js';
import type { ClientSegment } from './idle-connection-plan.js';

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
  /** An application-level ping the server sends while the connection is idle, and its answer. */
  readonly keepAlive?: { readonly ping: string; readonly pong: string };
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

/** Centrifugo's JSON protocol: `connect`, then `subscribe`; its `{}` pings are answered with `{}`. */
export const centrifugoJsonSession: IdleSession = {
  path: '/connection/websocket',
  protocol: 'centrifuge-json',
  steps: [
    { send: '{"id":1,"connect":{"name":"fanout-bench"}}', expect: '{"id":1,"connect"' },
    { send: '{"id":2,"subscribe":{"channel":"{channel}"}}', expect: '{"id":2,"subscribe"' },
  ],
  keepAlive: { ping: '{}', pong: '{}' },
};

/** The reply to a step: undefined when it is the one expected, otherwise a reason. */
function replyProblem(payload: Buffer, expect: string): string | undefined {
  const text = payload.subarray(0, 200).toString('utf8');
  if (text.startsWith(expect)) return undefined;
  const code = /"code":"([^"]+)"/.exec(text)?.[1];
  if (code !== undefined) return `error ${code}`;
  return `reply ${/^\{"(\w+)"/.exec(text)?.[1] ?? text.slice(0, 40)}`;
}

/**
 * Opens one connection and runs `session` on it for `channel`; rejects with
 * the reason (and closes the connection) when a step fails, the connection
 * closes, or `giveUp` rejects first.
 */
export async function openSession(options: {
  readonly port: number;
  readonly sourceAddress?: string | undefined;
  readonly session: IdleSession;
  readonly channel: string;
  readonly giveUp: Promise<never>;
}): Promise<RawWsClient> {
  const { session, giveUp } = options;
  const client = new RawWsClient(
    options.port,
    session.path,
    session.protocol,
    options.sourceAddress,
  );
  try {
    await Promise.race([client.ready, giveUp]);
    for (const step of session.steps) {
      const reply = new Promise<Buffer>((resolve, reject) => {
        client.sample(resolve);
        client.onClose(() => {
          reject(new Error(`closed ${client.closeCode ?? 'without a close frame'}`));
        });
      });
      client.sendText(step.send.replaceAll('{channel}', options.channel));
      const problem = replyProblem(await Promise.race([reply, giveUp]), step.expect);
      if (problem !== undefined) throw new Error(problem);
    }
    const keepAlive = session.keepAlive;
    client.sample(
      keepAlive === undefined
        ? () => undefined
        : (payload) => {
            if (payload.toString('latin1') === keepAlive.ping) client.sendText(keepAlive.pong);
          },
    );
    return client;
  } catch (error) {
    client.close();
    throw error;
  }
}

/** A promise that rejects with `timeout` after `ms`, and the function that cancels it. */
export function timeoutAfter(ms: number): { promise: Promise<never>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error('timeout'));
    }, ms);
  });
  promise.catch(() => undefined);
  return {
    promise,
    cancel() {
      clearTimeout(timer);
    },
  };
}

/** A client segment of the plan, with its server's port. */
export interface IdleJobSegment extends ClientSegment {
  readonly port: number;
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
