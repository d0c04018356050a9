/**
 * State subscribers for the state channel benchmark, in a worker thread:
 * WebSocket connections (`RawWsClient`, JSON subprotocol) that each follow
 * one state channel (`snapshot: true`, JSON Patch deltas), apply every
 * patch to the document they hold with the shared state model, check that
 * each patch's `base` is the position held (a gap otherwise), and keep the
 * latency of each applied patch: arrival minus the send time the producer
 * wrote into the document (`t`, wall clock ms, same machine), and each
 * applied patch's position and arrival time (the bench matches them with
 * the broker's append time of the record).
 *
 * workerData: { port, subprotocol, channels: string[] } (one connection per
 * entry). Posts 'subscribed' once every connection has its snapshot.
 * Messages in: 'reset' (start counting afresh), 'count' (answered with the
 * number of patches applied since the reset), 'collect' (answered with a
 * `SubscriberTally`), 'close'.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { applyJsonPatch, type JsonValue } from '@fanout/shared/portable-state';
import { RawWsClient } from '../support/raw-ws-client.js';

export interface SubscriberTally {
  /** Patch latencies (ms) since the last reset. */
  readonly latencies: number[];
  /** The position of every patch applied since the last reset… */
  readonly positions: string[];
  /** …and when it was applied (wall clock ms), index for index. */
  readonly appliedAt: number[];
  readonly applied: number;
  /** Patches whose `base` was not the position held. */
  readonly gaps: number;
  /** Patches that did not apply to the document held. */
  readonly failed: number;
  /** `error` frames and other unexpected frames. */
  readonly errors: number;
  /** The share of the time since the reset this thread's event loop was busy (0–1). */
  readonly busy: number;
}

const { port, subprotocol, channels } = workerData as {
  port: number;
  subprotocol: string;
  channels: string[];
};

interface Follower {
  readonly socket: RawWsClient;
  document: JsonValue | undefined;
  position: string | undefined;
}

let latencies: number[] = [];
let loopSince = performance.eventLoopUtilization();
let positions: string[] = [];
let appliedAt: number[] = [];
let applied = 0;
let gaps = 0;
let failed = 0;
let errors = 0;

interface Frame {
  readonly subscribed?: {
    readonly subscriptions: readonly {
      readonly position?: string;
      readonly snapshot?: { readonly state: JsonValue; readonly position: string };
    }[];
  };
  readonly patch?: {
    readonly position: string;
    readonly base: string;
    readonly patch: unknown;
  };
}

function onFrame(follower: Follower, payload: Buffer): void {
  const now = performance.timeOrigin + performance.now();
  const frame = JSON.parse(payload.toString('utf8')) as Frame & { connected?: unknown };
  if (frame.connected !== undefined) return;
  if (frame.subscribed !== undefined) {
    const snapshot = frame.subscribed.subscriptions[0]?.snapshot;
    follower.document = snapshot?.state;
    follower.position = snapshot?.position;
    return;
  }
  const patch = frame.patch;
  if (patch === undefined) {
    errors++;
    return;
  }
  if (patch.base !== follower.position || follower.document === undefined) gaps++;
  const result = applyJsonPatch(follower.document ?? {}, patch.patch);
  follower.position = patch.position;
  if (!result.ok) {
    failed++;
    return;
  }
  follower.document = result.document;
  applied++;
  positions.push(patch.position);
  appliedAt.push(now);
  const t = (result.document as { t?: unknown }).t;
  if (typeof t === 'number') latencies.push(now - t);
}

const followers: Follower[] = [];
for (let i = 0; i < channels.length; i += 200) {
  const wave = channels.slice(i, i + 200).map((channel) => {
    const follower: Follower = {
      socket: new RawWsClient(port, '/v1/ws', subprotocol),
      document: undefined,
      position: undefined,
    };
    return { follower, channel };
  });
  await Promise.all(wave.map(({ follower }) => follower.socket.ready));
  for (const { follower, channel } of wave) {
    follower.socket.sample((payload) => {
      onFrame(follower, payload);
    });
    follower.socket.sendText(
      JSON.stringify({
        subscribe: { requestId: 1, subscriptions: [{ channel, snapshot: true }] },
      }),
    );
    followers.push(follower);
  }
}
const deadline = Date.now() + 60_000;
while (followers.some((follower) => follower.position === undefined)) {
  if (Date.now() > deadline) throw new Error('state subscriptions not all confirmed in 60 s');
  await new Promise((resolve) => setTimeout(resolve, 20));
}
parentPort?.postMessage('subscribed');

parentPort?.on('message', (message: unknown) => {
  if (message === 'reset') {
    latencies = [];
    positions = [];
    appliedAt = [];
    loopSince = performance.eventLoopUtilization();
    applied = gaps = failed = errors = 0;
  } else if (message === 'count') {
    parentPort?.postMessage(applied);
  } else if (message === 'collect') {
    const busy = performance.eventLoopUtilization(loopSince).utilization;
    const tally: SubscriberTally = {
      busy,
      latencies,
      positions,
      appliedAt,
      applied,
      gaps,
      failed,
      errors,
    };
    parentPort?.postMessage(tally);
    latencies = [];
    positions = [];
    appliedAt = [];
  } else if (message === 'close') {
    for (const follower of followers) follower.socket.close();
    parentPort?.close();
  }
});
