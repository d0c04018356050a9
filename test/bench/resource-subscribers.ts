/**
 * SSE subscribers of live resources for the live resources benchmark, in a
 * worker thread: one `SseFollower` per target (edge port and path), opened
 * in waves of `wave` streams, spread over the source addresses
 * 127.0.0.1–127.0.0.4 (about 28,000 ephemeral ports each), each applying
 * every patch.
 *
 * workerData: { targets: { port, path }[], wave }. Posts 'subscribed' once
 * every stream has its snapshot (or an error string). Messages in: 'reset'
 * (counts afresh), 'count' (answered with the patches applied since the
 * reset), 'collect' (answered with a `SubscribersTally`), 'close'.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { emptyCounts, SseFollower, type FollowerCounts } from './sse-follower.js';

export interface SubscribersTally extends FollowerCounts {
  readonly subscribers: number;
  /** Streams that ended or failed. */
  readonly ended: number;
  /** Each subscriber's document version `v` now (-1 without one). */
  readonly versions: number[];
  /** Each subscriber's version at its snapshot (0: no state yet). */
  readonly snapshotVersions: number[];
  /** Patches each subscriber applied since it opened. */
  readonly appliedEach: number[];
}

const { targets, wave } = workerData as {
  targets: { port: number; path: string }[];
  wave: number;
};

let counts = emptyCounts();
const followers: SseFollower[] = [];

async function open(): Promise<void> {
  for (let i = 0; i < targets.length; i += wave) {
    const opened = targets
      .slice(i, i + wave)
      .map(
        ({ port, path }, index) =>
          new SseFollower(port, path, `127.0.0.${1 + ((i + index) % 4)}`, () => counts),
      );
    followers.push(...opened);
    const deadline = Date.now() + 60_000;
    while (opened.some((follower) => follower.position === undefined && !follower.ended)) {
      if (Date.now() > deadline) throw new Error('SSE snapshots not all there in 60 s');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  const ended = followers.filter((follower) => follower.ended).length;
  if (ended > 0) throw new Error(`${ended} of ${followers.length} SSE streams failed to open`);
}

try {
  await open();
  parentPort?.postMessage('subscribed');
} catch (error) {
  parentPort?.postMessage(error instanceof Error ? error.message : String(error));
}

parentPort?.on('message', (message: unknown) => {
  if (message === 'reset') {
    counts = emptyCounts();
  } else if (message === 'count') {
    parentPort?.postMessage(counts.applied);
  } else if (message === 'collect') {
    const tally: SubscribersTally = {
      ...counts,
      subscribers: followers.length,
      ended: followers.filter((follower) => follower.ended).length,
      versions: followers.map((follower) => follower.version() ?? -1),
      snapshotVersions: followers.map((follower) => follower.snapshotVersion ?? -1),
      appliedEach: followers.map((follower) => follower.appliedHere),
    };
    parentPort?.postMessage(tally);
    counts.latencies = [];
    counts.latencyVersions = [];
  } else if (message === 'close') {
    for (const follower of followers) follower.close();
    parentPort?.close();
  }
});
