/**
 * How the idle-connections scenario spreads its connections, and how it adds
 * up what it measured (pure functions, unit-tested).
 *
 * One process can hold only as many sockets as its open-file limit allows
 * (20,000 on the benchmark machine, and it cannot be raised), and one source
 * address has only the ephemeral port range (32768–60999: ~28,000 ports)
 * for its connections. So N connections go to ⌈N / per-process⌉ server
 * processes (each its own port on 127.0.0.1, all reading the same topic, the
 * way the edge scales out) from ⌈N / per-process⌉ client processes, each
 * with source addresses of its own in 127.0.B.x (Linux routes all of
 * 127.0.0.0/8 to loopback), none carrying more than `perSourceAddress`.
 */

export interface IdleLimits {
  /** Most connections one server process holds (its open-file limit less a reserve). */
  readonly perServerProcess: number;
  /** Most connections one client process opens (the same limit, less a reserve). */
  readonly perClientProcess: number;
  /** Most connections from one source address (well below its ephemeral ports). */
  readonly perSourceAddress: number;
  /** Most server processes, and most client processes, one measurement may start. */
  readonly maxProcesses: number;
}

/** Descriptors a process needs besides its connections (Kafka, logs, IPC, libraries). */
export const descriptorReserve = 3000;
/** Source addresses per block of 127.0.B.x: .1 to .254. */
const addressesPerBlock = 254;

/** The limits that follow from the open-file limit and the ephemeral port range. */
export function idleLimitsFor(
  openFileLimit: number,
  ephemeralPorts: number,
  perProcessCap = Number.POSITIVE_INFINITY,
): IdleLimits {
  const perProcess = Math.min(perProcessCap, openFileLimit - descriptorReserve);
  if (!(perProcess >= 1)) {
    throw new Error(
      `an open-file limit of ${openFileLimit} leaves no room for connections (${descriptorReserve} are kept for the process itself)`,
    );
  }
  return {
    perServerProcess: perProcess,
    perClientProcess: perProcess,
    // A third of the range: other connections (and TIME_WAIT from an earlier run) keep room.
    perSourceAddress: Math.max(1, Math.floor(ephemeralPorts / 3)),
    maxProcesses: 8,
  };
}

/** The hard open-file limit in `/proc/self/limits` text. */
export function openFileLimitFrom(limits: string): number {
  const line = /^Max open files\s+(\S+)\s+(\S+)/m.exec(limits);
  const hard = line?.[2];
  if (hard === undefined) return 1024;
  return hard === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(hard);
}

/** Ports in `/proc/sys/net/ipv4/ip_local_port_range` text ("32768\t60999"). */
export function ephemeralPortsFrom(range: string): number {
  const [low, high] = range.trim().split(/\s+/).map(Number);
  if (low === undefined || high === undefined || !(high >= low)) return 28_232;
  return high - low + 1;
}

/** One run of consecutive connections a client process opens to one server process. */
export interface ClientSegment {
  /** Index of the server process. */
  readonly server: number;
  /** Index of the first connection (over the whole measurement: it names the channel). */
  readonly first: number;
  readonly count: number;
}

export interface ClientProcessPlan {
  readonly segments: readonly ClientSegment[];
  /** Connection i of this process binds `sourceAddresses[i % length]`. */
  readonly sourceAddresses: readonly string[];
}

export interface IdlePlan {
  readonly connections: number;
  /** Connections per server process. */
  readonly servers: readonly number[];
  readonly clients: readonly ClientProcessPlan[];
}

/** Splits `total` into `parts` sizes that differ by at most one, larger first. */
export function evenSplit(total: number, parts: number): number[] {
  const base = Math.floor(total / parts);
  const extra = total % parts;
  return Array.from({ length: parts }, (_, i) => base + (i < extra ? 1 : 0));
}

/** Why `connections` cannot be spread within `limits`, or undefined when they can. */
export function planProblem(connections: number, limits: IdleLimits): string | undefined {
  if (!Number.isInteger(connections) || connections < 1) {
    return `${connections} is not a positive number of connections`;
  }
  const servers = Math.ceil(connections / limits.perServerProcess);
  const clients = Math.ceil(connections / limits.perClientProcess);
  if (Math.max(servers, clients) > limits.maxProcesses) {
    return `needs ${Math.max(servers, clients)} processes of at most ${Math.min(limits.perServerProcess, limits.perClientProcess).toLocaleString('en')} connections; the bound is ${limits.maxProcesses}`;
  }
  const addresses = evenSplit(connections, clients).reduce(
    (sum, share) => sum + Math.ceil(share / limits.perSourceAddress),
    0,
  );
  if (addresses > addressesPerBlock) {
    return `needs ${addresses} source addresses; one block 127.0.B.1–254 has ${addressesPerBlock}`;
  }
  return undefined;
}

/**
 * Connections 0…N−1 in consecutive runs: server process s takes the s-th run
 * of `servers`, client process c the c-th run of its own split; a client's
 * segments are where its run meets the servers'. Its source addresses are
 * 127.0.`block`.x, numbered on from the previous client's, so no two client
 * processes share one.
 */
export function planIdleConnections(
  connections: number,
  limits: IdleLimits,
  block: number,
): IdlePlan {
  const problem = planProblem(connections, limits);
  if (problem !== undefined) throw new Error(problem);
  if (!Number.isInteger(block) || block < 0 || block > 255) {
    throw new Error(`address block ${block} is not 0–255`);
  }
  const servers = evenSplit(connections, Math.ceil(connections / limits.perServerProcess));
  const clientShares = evenSplit(connections, Math.ceil(connections / limits.perClientProcess));
  const serverStarts = servers.map((_, s) => servers.slice(0, s).reduce((a, b) => a + b, 0));
  let nextAddress = 1;
  let first = 0;
  const clients = clientShares.map((share) => {
    const end = first + share;
    const segments: ClientSegment[] = [];
    servers.forEach((size, server) => {
      const start = Math.max(first, serverStarts[server] ?? 0);
      const stop = Math.min(end, (serverStarts[server] ?? 0) + size);
      if (stop > start) segments.push({ server, first: start, count: stop - start });
    });
    const addressCount = Math.ceil(share / limits.perSourceAddress);
    const sourceAddresses = Array.from(
      { length: addressCount },
      (_, i) => `127.0.${block}.${nextAddress + i}`,
    );
    nextAddress += addressCount;
    first = end;
    return { segments, sourceAddresses };
  });
  return { connections, servers, clients };
}

/** One server process's memory before and after its connections. */
export interface ServerSample {
  /** Connections it held (still open) when `rssBytes` was read. */
  readonly connections: number;
  readonly baseRssBytes: number;
  readonly rssBytes: number;
}

export interface ServerMemory extends ServerSample {
  readonly growthBytes: number;
  /** RSS growth ÷ connections (NaN without connections). */
  readonly bytesPerConnection: number;
}

export interface MemorySummary {
  readonly connections: number;
  readonly growthBytes: number;
  /** Total RSS growth over every server process ÷ total connections. */
  readonly bytesPerConnection: number;
  readonly perProcess: readonly ServerMemory[];
}

/** Memory per connection over several server processes: total growth ÷ total connections. */
export function summarizeMemory(samples: readonly ServerSample[]): MemorySummary {
  const perProcess = samples.map((sample) => {
    const growthBytes = sample.rssBytes - sample.baseRssBytes;
    return {
      ...sample,
      growthBytes,
      bytesPerConnection: sample.connections > 0 ? growthBytes / sample.connections : Number.NaN,
    };
  });
  const connections = perProcess.reduce((sum, p) => sum + p.connections, 0);
  const growthBytes = perProcess.reduce((sum, p) => sum + p.growthBytes, 0);
  return {
    connections,
    growthBytes,
    bytesPerConnection: connections > 0 ? growthBytes / connections : Number.NaN,
    perProcess,
  };
}

/**
 * A client process's segments in two rounds: the first half of each
 * segment, then the rest (empty segments left out), so the runner can read
 * the servers' memory in between.
 */
export function splitSegments<T extends ClientSegment>(
  segments: readonly T[],
): [first: T[], second: T[]] {
  const first: T[] = [];
  const second: T[] = [];
  for (const segment of segments) {
    const half = Math.floor(segment.count / 2);
    if (half > 0) first.push({ ...segment, count: half });
    if (segment.count - half > 0) {
      second.push({ ...segment, first: segment.first + half, count: segment.count - half });
    }
  }
  return [first, second];
}

/**
 * What each further connection cost once the servers held half of them:
 * RSS growth from the half-way reading to the end ÷ the connections opened
 * in between, over every server process. Fixed costs that the first
 * connections pay (a young generation grown to its working size, code
 * compiled, buffers allocated) fall out. NaN without connections between.
 */
export function marginalBytesPerConnection(
  half: readonly ServerSample[],
  end: readonly ServerSample[],
): number {
  let bytes = 0;
  let connections = 0;
  end.forEach((sample, i) => {
    const before = half[i];
    if (before === undefined) return;
    bytes += sample.rssBytes - before.rssBytes;
    connections += sample.connections - before.connections;
  });
  return connections > 0 ? bytes / connections : Number.NaN;
}

/** Adds up counts by key (failure reasons, connections per server) over client processes. */
export function addCounts(
  counts: readonly Readonly<Record<string, number>>[],
): Record<string, number> {
  const total: Record<string, number> = {};
  for (const each of counts) {
    for (const [key, value] of Object.entries(each)) total[key] = (total[key] ?? 0) + value;
  }
  return total;
}
