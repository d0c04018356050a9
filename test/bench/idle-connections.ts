/**
 * The idle-connections scenario: N WebSockets that each complete a real
 * subscribe and then stay idle, and the server memory they cost.
 *
 * The connections are spread as `idle-connection-plan.ts` plans them: over
 * as many server processes as one process's open-file limit requires (each
 * started by the target, its own port, all reading the same topic — how the
 * edge scales out), from as many forked client processes
 * (`idle-connection-client.ts`; worker threads would share one process's
 * limit), each with source addresses of its own in 127.0.B.x. Memory per
 * connection is the RSS growth of every server process added up, divided by
 * the connections still open when it was read; each process's own figure
 * is kept too. Bounded: an overall time limit for opening, a limit on the
 * client processes' memory, every process stopped at the end.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RawWsClient } from '../support/raw-ws-client.js';
import {
  fanoutJsonSession,
  openSession,
  timeoutAfter,
  type ClientMessage,
  type IdleJob,
  type IdleSession,
} from './idle-session.js';
import {
  addCounts,
  marginalBytesPerConnection,
  planIdleConnections,
  splitSegments,
  summarizeMemory,
  type IdleLimits,
  type ServerMemory,
  type ServerSample,
} from './idle-connection-plan.js';
import { rssBytes } from './process-stats.js';

/** A server process of the target, as the runner starts it. */
export interface IdleServer {
  readonly pid: number;
  readonly port: number;
  stop(): Promise<void>;
}

export interface IdleRunOptions {
  readonly connections: number;
  readonly limits: IdleLimits;
  /** Starts one more server process of the target (they all read the same topic). */
  startServer(): Promise<IdleServer>;
  /** Channel names: `${channelPrefix}${⌊i / connectionsPerChannel⌋}`. */
  readonly channelPrefix: string;
  readonly connectionsPerChannel?: number;
  readonly session?: IdleSession;
  /**
   * Channels that one uncounted connection per channel subscribes to on every
   * server process before its base RSS is read — one per partition, so an edge
   * (which reads a partition once a client wants it) is reading them all, as the
   * naive baseline's consumer does from its start.
   */
  readonly warmUpChannels?: readonly string[];
  /** Longest time for opening every connection; what is open then is measured. */
  readonly openTimeoutMs: number;
  /** Opening stops when the client processes' RSS adds up to more. */
  readonly maxClientRssBytes: number;
  log(line: string): void;
}

export interface IdleServerMemory extends ServerMemory {
  readonly port: number;
}

export interface IdleMeasurement {
  /** Connections asked for. */
  readonly connections: number;
  /** Connections subscribed and still open when server memory was read. */
  readonly open: number;
  /** Connections that completed their subscribe (some may have closed since). */
  readonly opened: number;
  readonly failed: number;
  /** Failures by reason. */
  readonly failures: Readonly<Record<string, number>>;
  /** Why opening stopped before every connection was tried, if it did. */
  readonly stoppedEarly?: string;
  readonly serverProcesses: number;
  readonly clientProcesses: number;
  readonly sourceAddresses: number;
  /** Total RSS growth over every server process ÷ `open`. */
  readonly bytesPerConnection: number;
  /**
   * RSS growth from the half-way reading (the first half of every client's
   * connections open) to the end ÷ the connections opened in between: what
   * each further connection costs, the first connections' fixed costs left
   * out. NaN when opening stopped in the first half.
   */
  readonly marginalBytesPerConnection: number;
  /** Connections open at the half-way reading. */
  readonly halfConnections: number;
  readonly growthBytes: number;
  readonly perProcess: readonly IdleServerMemory[];
  /** RSS of the client processes, added up, when server memory was read. */
  readonly clientRssBytes: number;
  readonly openSeconds: number;
}

const clientScript = fileURLToPath(new URL('./idle-connection-client.js', import.meta.url));
/** Blocks 127.0.10.x, 127.0.11.x, …: each measurement of a run its own source addresses. */
let nextBlock = 10;

class ClientProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  progress = { opened: 0, failed: 0 };
  readonly #waiting = new Map<ClientMessage['type'], (message: ClientMessage) => void>();

  constructor(heapMiB: number) {
    this.child = fork(clientScript, [], {
      execArgv: [`--max-old-space-size=${heapMiB}`],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.exited = new Promise((resolve) =>
      this.child.once('exit', () => {
        resolve();
      }),
    );
    this.child.on('message', (message: ClientMessage) => {
      if (message.type === 'progress') this.progress = message;
      const waiter = this.#waiting.get(message.type);
      this.#waiting.delete(message.type);
      waiter?.(message);
    });
  }

  /** The next message of `type`, or an error when the process exits first. */
  next<T extends ClientMessage['type']>(type: T): Promise<Extract<ClientMessage, { type: T }>> {
    return new Promise((resolve, reject) => {
      this.#waiting.set(type, (message) => {
        resolve(message as Extract<ClientMessage, { type: T }>);
      });
      void this.exited.then(() => {
        reject(new Error(`idle client process ${this.child.pid} exited before "${type}"`));
      });
    });
  }

  send(message: { type: 'start'; job: IdleJob } | { type: 'stop' | 'status' | 'close' }): void {
    if (this.child.connected) this.child.send(message);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.send({ type: 'close' });
    this.child.disconnect();
    const force = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(force);
  }
}

/**
 * RSS of a process once it has stopped moving: read every 250 ms until three
 * readings in a row lie within 256 KiB (start-up garbage collected, buffers
 * grown), or after `maxMs` the last one.
 */
async function settledRss(pid: number, maxMs = 5000): Promise<number> {
  const readings: number[] = [];
  const until = performance.now() + maxMs;
  for (;;) {
    readings.push(rssBytes(pid) ?? Number.NaN);
    const last = readings.slice(-3);
    if (last.length === 3 && Math.max(...last) - Math.min(...last) < 256 * 1024) break;
    if (performance.now() > until) break;
    await sleep(250);
  }
  return readings.at(-1) ?? Number.NaN;
}

const gib = (bytes: number): string => `${(bytes / 2 ** 30).toFixed(2)} GiB`;

export async function measureIdleConnections(options: IdleRunOptions): Promise<IdleMeasurement> {
  const block = nextBlock;
  nextBlock = nextBlock >= 250 ? 10 : nextBlock + 1;
  const plan = planIdleConnections(options.connections, options.limits, block);
  const session = options.session ?? fanoutJsonSession;
  const servers: IdleServer[] = [];
  const clients: ClientProcess[] = [];
  const warmUp: RawWsClient[] = [];
  try {
    while (servers.length < plan.servers.length) servers.push(await options.startServer());
    const timeout = timeoutAfter(60_000);
    try {
      for (const server of servers) {
        for (const channel of options.warmUpChannels ?? []) {
          warmUp.push(
            await openSession({ port: server.port, session, channel, giveUp: timeout.promise }),
          );
        }
      }
    } finally {
      timeout.cancel();
    }
    await sleep(1000);
    const baseRss = await Promise.all(servers.map((server) => settledRss(server.pid)));
    // A client process holds ~8 KiB of RSS per connection, a part of it JavaScript heap;
    // the heap bound is generous, the RSS bound over all of them is maxClientRssBytes.
    const heapMiB = Math.ceil((options.limits.perClientProcess * 32) / 1024) + 256;
    while (clients.length < plan.clients.length) clients.push(new ClientProcess(heapMiB));
    await Promise.all(clients.map((client) => client.next('ready')));
    let stoppedEarly: string | undefined;
    const stopAll = (reason: string): void => {
      if (stoppedEarly !== undefined) return;
      stoppedEarly = reason;
      options.log(`idle ${options.connections}: ${reason}; opening stops`);
      for (const client of clients) client.send({ type: 'stop' });
    };
    const rounds = plan.clients.map((share) => splitSegments(share.segments));
    let openMs = 0;
    /** Opens round `r` of every client's connections; the clients' `done` reports (their totals so far). */
    const openRound = async (r: 0 | 1) => {
      const started = performance.now();
      const finished = Promise.all(clients.map((client) => client.next('done')));
      plan.clients.forEach((share, c) => {
        clients[c]?.send({
          type: 'start',
          job: {
            segments: (rounds[c]?.[r] ?? []).map((segment) => ({
              ...segment,
              port: servers[segment.server]?.port ?? 0,
            })),
            sourceAddresses: share.sourceAddresses,
            session,
            channelPrefix: options.channelPrefix,
            connectionsPerChannel: options.connectionsPerChannel ?? 10,
            inFlight: 200,
            attemptTimeoutMs: 60_000,
            lifetimeMs: options.openTimeoutMs + 5 * 60_000,
          },
        });
      });
      let settled = false;
      void finished.finally(() => (settled = true)).catch(() => undefined);
      let lastLog = 0;
      while (!settled) {
        await sleep(250);
        const elapsed = openMs + performance.now() - started;
        const clientRss = clients.reduce(
          (sum, client) => sum + (rssBytes(client.child.pid ?? -1) ?? 0),
          0,
        );
        if (clientRss > options.maxClientRssBytes) {
          stopAll(
            `client processes at ${gib(clientRss)}, over the bound of ${gib(options.maxClientRssBytes)}`,
          );
        }
        if (elapsed > options.openTimeoutMs) {
          stopAll(`not all opened within ${Math.round(options.openTimeoutMs / 1000)} s`);
        }
        if (elapsed - lastLog >= 10_000) {
          lastLog = elapsed;
          const opened = clients.reduce((sum, client) => sum + client.progress.opened, 0);
          const failed = clients.reduce((sum, client) => sum + client.progress.failed, 0);
          options.log(
            `idle ${options.connections}: ${opened.toLocaleString('en')} open, ${failed.toLocaleString('en')} failed after ${(elapsed / 1000).toFixed(0)} s; clients ${gib(clientRss)}`,
          );
        }
      }
      const reports = await finished;
      openMs += performance.now() - started;
      return reports;
    };
    const openByServerNow = async (): Promise<Record<string, number>> => {
      const statuses = await Promise.all(
        clients.map((client) => {
          const status = client.next('status');
          client.send({ type: 'status' });
          return status;
        }),
      );
      return addCounts(statuses.map((status) => status.openByServer));
    };
    const samples = (rss: readonly number[], open: Record<string, number>): ServerSample[] =>
      servers.map((_, s) => ({
        connections: open[s] ?? 0,
        baseRssBytes: baseRss[s] ?? Number.NaN,
        rssBytes: rss[s] ?? Number.NaN,
      }));

    // The first half of every client's connections, then the servers' memory, then the rest.
    let reports = await openRound(0);
    let half: ServerSample[] | undefined;
    if (stoppedEarly === undefined) {
      await sleep(2000);
      const halfRss = await Promise.all(servers.map((server) => settledRss(server.pid)));
      half = samples(halfRss, await openByServerNow());
      reports = await openRound(1);
    }
    const openSeconds = openMs / 1000;
    await sleep(2000);
    const rss = await Promise.all(servers.map((server) => settledRss(server.pid)));
    const clientRssBytes = clients.reduce(
      (sum, client) => sum + (rssBytes(client.child.pid ?? -1) ?? 0),
      0,
    );
    const end = samples(rss, await openByServerNow());
    const memory = summarizeMemory(end);
    return {
      connections: options.connections,
      open: memory.connections,
      opened: reports.reduce((sum, report) => sum + report.opened, 0),
      failed: reports.reduce((sum, report) => sum + report.failed, 0),
      failures: addCounts(reports.map((report) => report.failures)),
      ...(stoppedEarly === undefined ? {} : { stoppedEarly }),
      serverProcesses: servers.length,
      clientProcesses: clients.length,
      sourceAddresses: plan.clients.reduce((sum, share) => sum + share.sourceAddresses.length, 0),
      bytesPerConnection: memory.bytesPerConnection,
      marginalBytesPerConnection:
        half === undefined ? Number.NaN : marginalBytesPerConnection(half, end),
      halfConnections: half?.reduce((sum, sample) => sum + sample.connections, 0) ?? 0,
      growthBytes: memory.growthBytes,
      perProcess: memory.perProcess.map((process, s) => ({
        ...process,
        port: servers[s]?.port ?? 0,
      })),
      clientRssBytes,
      openSeconds,
    };
  } finally {
    for (const client of warmUp) client.close();
    await Promise.all(clients.map((client) => client.stop()));
    await Promise.all(servers.map((server) => server.stop().catch(() => undefined)));
  }
}
