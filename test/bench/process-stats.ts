/**
 * CPU time and resident memory of a process, and the busy share of the
 * whole machine, from /proc (Linux).
 */
import { readFileSync } from 'node:fs';
import { runQueueWaitAt } from '@fanout/shared';

const ticksPerSecond = 100;

/**
 * User and system CPU seconds from the text of /proc/<pid>/stat: fields 14
 * and 15 (utime, stime, in clock ticks), counted after the command name,
 * which sits in parentheses and may itself hold spaces and parentheses.
 */
export function cpuTimesFrom(stat: string): { user: number; system: number } | undefined {
  const close = stat.lastIndexOf(')');
  if (close < 0) return undefined;
  const fields = stat.slice(close + 2).split(' ');
  const user = Number(fields[11]);
  const system = Number(fields[12]);
  if (!Number.isFinite(user) || !Number.isFinite(system) || fields.length < 13) return undefined;
  return { user: user / ticksPerSecond, system: system / ticksPerSecond };
}

/** User and system (kernel) CPU seconds a process used, or undefined when unknown. */
export function cpuTimes(pid: number | undefined): { user: number; system: number } | undefined {
  if (pid === undefined) return undefined;
  try {
    return cpuTimesFrom(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** CPU seconds (user + system) a process has used, or undefined when unknown. */
export function cpuSeconds(pid: number | undefined): number | undefined {
  const times = cpuTimes(pid);
  return times === undefined ? undefined : times.user + times.system;
}

/**
 * Seconds the process's main thread (a Node event loop) has waited on a run
 * queue, or undefined when unknown (no schedstats, not Linux).
 */
export function runQueueWaitSeconds(pid: number | undefined): number | undefined {
  return pid === undefined ? undefined : runQueueWaitAt(`/proc/${pid}/schedstat`);
}

/** Resident set size of a process in bytes, or undefined when unknown. */
export function rssBytes(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
    return kib === undefined ? undefined : Number(kib) * 1024;
  } catch {
    return undefined;
  }
}

/** The machine, for result tables. */
export function machineSummary(): string {
  let model = 'unknown CPU';
  try {
    model = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? model;
  } catch {
    // not Linux
  }
  return model;
}

/** Busy and total jiffies of the whole machine, from the `cpu` line of /proc/stat. */
export interface MachineTicks {
  readonly busy: number;
  readonly total: number;
}

/** The first (`cpu`, all cores) line of a /proc/stat text; idle and iowait are not busy. */
export function machineTicksFrom(stat: string): MachineTicks | undefined {
  const line = stat.split('\n').find((l) => l.startsWith('cpu '));
  if (line === undefined) return undefined;
  // user nice system idle iowait irq softirq steal (guest time is already in user).
  const fields = line.trim().split(/\s+/).slice(1, 9).map(Number);
  if (fields.length < 4 || fields.some((f) => !Number.isFinite(f))) return undefined;
  const total = fields.reduce((sum, f) => sum + f, 0);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  return { busy: total - idle, total };
}

export function machineTicks(): MachineTicks | undefined {
  try {
    return machineTicksFrom(readFileSync('/proc/stat', 'utf8'));
  } catch {
    return undefined;
  }
}

/** Share of all cores busy between two readings (0–1), NaN when unknown. */
export function machineBusyShare(
  before: MachineTicks | undefined,
  after: MachineTicks | undefined,
): number {
  if (before === undefined || after === undefined) return Number.NaN;
  const total = after.total - before.total;
  return total > 0 ? (after.busy - before.busy) / total : Number.NaN;
}
