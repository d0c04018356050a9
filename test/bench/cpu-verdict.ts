/**
 * Which process saturated during a benchmark phase: the CPU of every
 * process taking part (the server; the benchmark's producer and client
 * processes, or its one process where it is both; the Kafka broker; the
 * ingest where it runs) as a share of one core, the whole machine's busy
 * share of all cores (/proc/stat) and the load average at the start and
 * the end, and the verdict in words ("the client, not the server, was the
 * limit" when any client process saturated). A single-threaded process
 * (a Node event loop) saturates at about 90 % of one core; a
 * multi-threaded one (the JVM broker, Go) only when it holds about 90 % of
 * all cores; the machine is the limit at about 90 % of all cores busy.
 */
import { cpus, loadavg } from 'node:os';
import {
  cpuSeconds,
  machineBusyShare,
  machineTicks,
  runQueueWaitSeconds,
  type MachineTicks,
} from './process-stats.js';

export type ProcessRole = 'server' | 'client' | 'producer' | 'broker' | 'ingest';

export interface WatchedProcess {
  /** What the tables call it: `fanout edge`, `bench producer`, `bench clients 1`, `Kafka broker`. */
  readonly name: string;
  readonly role: ProcessRole;
  /** Undefined when not found (CPU then unknown). */
  readonly pid: number | undefined;
  /** `one`: saturates at one core (an event loop); `many`: can use every core. */
  readonly threads: 'one' | 'many';
}

export interface ProcessCpu {
  readonly name: string;
  readonly role: ProcessRole;
  readonly threads: 'one' | 'many';
  /** CPU as a share of one core (1 = one full core); NaN when unknown. */
  readonly cores: number;
  /**
   * An event loop's (`threads: 'one'`) time runnable but waiting for a core,
   * as a share of the phase (/proc/<pid>/schedstat of its main thread): what
   * sharing the cores with the other processes cost it. Undefined when
   * unknown or for a multi-threaded process.
   */
  readonly waiting?: number;
}

export interface PhaseCpu {
  readonly processes: readonly ProcessCpu[];
  /** The whole machine's busy share of all its cores (0–1); NaN when unknown. */
  readonly machine: number;
  readonly cpuCount: number;
  /** Load average (1, 5, 15 min) at the start and the end of the phase. */
  readonly loadStart: readonly number[];
  readonly loadEnd: readonly number[];
}

export interface CpuVerdict {
  /** Names of the processes at their limit. */
  readonly saturated: readonly string[];
  /** The whole machine was at ≈ 90 % of all cores or more. */
  readonly machineLimit: boolean;
  /** The verdict in words, for the tables. */
  readonly words: string;
}

/** ≈ 90 %: a phase at this share of what a process (or the machine) can use was limited by it. */
export const saturationThreshold = 0.9;

/**
 * ≈ 10 %: a server event loop that waited for a core this share of a phase
 * or more lost latency to the processes it shared the cores with.
 */
export const waitingThreshold = 0.1;

export function isSaturated(process: ProcessCpu, cpuCount: number): boolean {
  const limit = process.threads === 'one' ? 1 : cpuCount;
  return Number.isFinite(process.cores) && process.cores >= saturationThreshold * limit;
}

const percent = (share: number): string => `${Math.round(share * 100)} %`;

/** The verdict of a phase: who saturated, whether the machine did, in words. */
export function cpuVerdict(phase: PhaseCpu): CpuVerdict {
  const saturated = phase.processes.filter((p) => isSaturated(p, phase.cpuCount));
  const machineLimit = Number.isFinite(phase.machine) && phase.machine >= saturationThreshold;
  const server = saturated.filter((p) => p.role === 'server');
  const others = saturated.filter((p) => p.role !== 'server');
  const named = (list: readonly ProcessCpu[]): string =>
    list.map((p) => `${p.name} at ${percent(p.cores)} of a core`).join(', ');
  const parts: string[] = [];
  if (server.length > 0 && others.length > 0) {
    parts.push(`the server and another process were at their limit (${named(saturated)})`);
  } else if (server.length > 0) {
    parts.push(`the server was the limit (${named(server)})`);
  } else if (others.length > 0) {
    const who = others.some((p) => p.role === 'client')
      ? 'the client'
      : (others[0]?.name ?? 'another process');
    parts.push(`${who}, not the server, was the limit (${named(others)})`);
  }
  if (machineLimit) {
    parts.push(
      `${parts.length === 0 ? 'the machine, not the server, was the limit' : 'the machine was at its limit too'} (${percent(phase.machine)} of all ${phase.cpuCount} cores busy)`,
    );
  }
  if (parts.length === 0) {
    parts.push(
      `nothing saturated (machine ${Number.isFinite(phase.machine) ? percent(phase.machine) : 'unknown'} of ${phase.cpuCount} cores)`,
    );
  }
  const waited = phase.processes.filter(
    (p) => p.role === 'server' && p.waiting !== undefined && p.waiting >= waitingThreshold,
  );
  if (waited.length > 0) {
    parts.push(
      `${waited.map((p) => `${p.name} waited for a core ${percent(p.waiting ?? 0)} of the phase`).join(', ')} (runnable, not running: the cores were shared)`,
    );
  }
  return {
    saturated: saturated.map((p) => p.name),
    machineLimit,
    words: parts.join('; '),
  };
}

const loadNow = (): number[] => loadavg().map((value) => Number(value.toFixed(2)));

/** Measures the CPU of `processes` and of the machine from `start()` to `stop()`. */
export class CpuMeter {
  readonly #processes: readonly WatchedProcess[];
  readonly #before: (number | undefined)[];
  readonly #waitBefore: (number | undefined)[];
  readonly #machineBefore: MachineTicks | undefined;
  readonly #loadStart: number[];
  readonly #started: number;

  private constructor(processes: readonly WatchedProcess[]) {
    this.#processes = processes;
    this.#loadStart = loadNow();
    this.#machineBefore = machineTicks();
    this.#before = processes.map((p) => cpuSeconds(p.pid));
    this.#waitBefore = processes.map((p) =>
      p.threads === 'one' ? runQueueWaitSeconds(p.pid) : undefined,
    );
    this.#started = performance.now();
  }

  static start(processes: readonly WatchedProcess[]): CpuMeter {
    return new CpuMeter(processes);
  }

  stop(): PhaseCpu {
    const elapsed = (performance.now() - this.#started) / 1000;
    const after = this.#processes.map((p) => cpuSeconds(p.pid));
    const machineAfter = machineTicks();
    return {
      processes: this.#processes.map((p, i) => {
        const before = this.#before[i];
        const now = after[i];
        const waitBefore = this.#waitBefore[i];
        const waitNow = waitBefore === undefined ? undefined : runQueueWaitSeconds(p.pid);
        return {
          name: p.name,
          role: p.role,
          threads: p.threads,
          cores:
            before === undefined || now === undefined || elapsed <= 0
              ? Number.NaN
              : (now - before) / elapsed,
          ...(waitBefore === undefined || waitNow === undefined || elapsed <= 0
            ? {}
            : { waiting: (waitNow - waitBefore) / elapsed }),
        };
      }),
      machine: machineBusyShare(this.#machineBefore, machineAfter),
      cpuCount: cpus().length,
      loadStart: this.#loadStart,
      loadEnd: loadNow(),
    };
  }
}

/** `fanout edge 97 %, bench (producer + clients) 64 %, Kafka broker 12 %; machine 81 % of 2 cores; load 1.2 → 1.9` */
export function cpuSummary(phase: PhaseCpu): string {
  const processes = phase.processes
    .map(
      (p) =>
        `${p.name} ${Number.isFinite(p.cores) ? percent(p.cores) : '?'}${p.waiting === undefined ? '' : ` (waited ${percent(p.waiting)})`}`,
    )
    .join(', ');
  const machine = Number.isFinite(phase.machine) ? percent(phase.machine) : '?';
  return `${processes}; machine ${machine} of ${phase.cpuCount} cores; load ${phase.loadStart.join('/')} → ${phase.loadEnd.join('/')}`;
}
