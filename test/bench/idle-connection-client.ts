/**
 * One client process of the idle-connections scenario, forked by the
 * benchmark runner (`idle-connections.ts`) with an IPC channel. It opens the
 * connections of its job — each a `RawWsClient` bound to one of its source
 * addresses, which completes the job's session (a real subscribe) before it
 * counts — and holds them, answering pings, until it is told to close. It
 * exits by itself when the runner goes away or its lifetime ends.
 * Loopback only; bench-only code.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { RawWsClient } from '../support/raw-ws-client.js';
import {
  openSession,
  timeoutAfter,
  type ClientMessage,
  type IdleJob,
  type RunnerMessage,
} from './idle-session.js';

const clients: { server: number; client: RawWsClient }[] = [];
let stopping = false;
/** Rejects when the runner says stop: connections still being opened give up then. */
let stop: () => void = () => undefined;
const stopped = new Promise<never>((_, reject) => {
  stop = () => {
    stopping = true;
    reject(new Error('stopped before it was open'));
  };
});
stopped.catch(() => undefined);
let opened = 0;
let failed = 0;
const failures: Record<string, number> = {};

function tell(message: ClientMessage): void {
  // The runner may have let go of the channel already (after `close`): nothing to tell then.
  if (process.connected) process.send?.(message, undefined, {}, () => undefined);
}

function closeAll(): void {
  for (const { client } of clients) client.close();
}

function reasonOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code;
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/^handshake refused: /, '').slice(0, 80);
}

async function openOne(
  job: IdleJob,
  port: number,
  index: number,
  local: number,
): Promise<RawWsClient> {
  const timeout = timeoutAfter(job.attemptTimeoutMs);
  try {
    return await openSession({
      port,
      sourceAddress: job.sourceAddresses[local % job.sourceAddresses.length],
      session: job.session,
      channel: `${job.channelPrefix}${Math.floor(index / job.connectionsPerChannel)}`,
      giveUp: Promise.race([stopped, timeout.promise]),
    });
  } finally {
    timeout.cancel();
  }
}

async function run(job: IdleJob): Promise<void> {
  const planned = job.segments.flatMap((segment) =>
    Array.from({ length: segment.count }, (_, i) => ({
      server: segment.server,
      port: segment.port,
      index: segment.first + i,
    })),
  );
  let next = 0;
  const worker = async (): Promise<void> => {
    while (!stopping && next < planned.length) {
      const local = next++;
      const spec = planned[local];
      if (spec === undefined) break;
      try {
        clients.push({
          server: spec.server,
          client: await openOne(job, spec.port, spec.index, local),
        });
        opened++;
      } catch (error) {
        failed++;
        const reason = reasonOf(error);
        failures[reason] = (failures[reason] ?? 0) + 1;
      }
    }
  };
  const progress = setInterval(() => {
    tell({ type: 'progress', opened, failed });
  }, 1000);
  await Promise.all(Array.from({ length: Math.max(1, job.inFlight) }, worker));
  clearInterval(progress);
  tell({ type: 'done', opened, failed, failures });
}

const exitAfterClose = async (): Promise<never> => {
  stop();
  closeAll();
  // Let the FINs go out before the process ends.
  await sleep(200);
  process.exit(0);
};

process.on('message', (message: RunnerMessage) => {
  switch (message.type) {
    case 'start':
      setTimeout(() => void exitAfterClose(), message.job.lifetimeMs).unref();
      void run(message.job);
      break;
    case 'stop':
      stop();
      break;
    case 'status': {
      const openByServer: Record<string, number> = {};
      for (const { server, client } of clients) {
        if (!client.closed) openByServer[server] = (openByServer[server] ?? 0) + 1;
      }
      tell({ type: 'status', openByServer });
      break;
    }
    case 'close':
      stop();
      closeAll();
      tell({ type: 'closed' });
      break;
  }
});
// The runner went away: nothing is left to hold the connections for.
process.on('disconnect', () => void exitAfterClose());
tell({ type: 'ready' });
