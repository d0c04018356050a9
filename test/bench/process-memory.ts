/**
 * Where a process's resident memory is, from outside: `/proc/<pid>/status`
 * (anonymous memory — the V8 heap, malloc, buffers — against file-backed
 * pages, mostly the node binary's code) and the Node figures of its
 * Prometheus metrics (`<prefix>nodejs_*`: V8 heap spaces, external memory).
 * Bench-only code.
 */
import { readFileSync } from 'node:fs';

export interface ProcessRss {
  readonly rssBytes: number;
  /** Anonymous pages: the JavaScript heap, malloc arenas, buffers, stacks. */
  readonly anonBytes: number;
  /** File-backed pages: code of the binary and shared libraries. */
  readonly fileBytes: number;
  readonly shmemBytes: number;
}

/** The RSS of a process and its parts; undefined when the process is gone. */
export function processRss(pid: number): ProcessRss | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const kib = (name: string): number => {
    const value = new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1];
    return value === undefined ? 0 : Number(value) * 1024;
  };
  return {
    rssBytes: kib('VmRSS'),
    anonBytes: kib('RssAnon'),
    fileBytes: kib('RssFile'),
    shmemBytes: kib('RssShmem'),
  };
}

export interface NodeMemoryMetrics {
  readonly heapUsedBytes?: number;
  readonly heapTotalBytes?: number;
  readonly externalBytes?: number;
  /** Size (committed) of each V8 heap space: new, old, code, large_object, ... */
  readonly spaceSizeBytes: Readonly<Record<string, number>>;
  readonly spaceUsedBytes: Readonly<Record<string, number>>;
  /** Seconds spent in garbage collection so far, by kind (minor, major, incremental, weakcb). */
  readonly gcSeconds: Readonly<Record<string, number>>;
  /** Bytes of the whole metrics exposition (what a scrape costs to render). */
  readonly exposition: { readonly bytes: number; readonly samples: number };
}

/** Whether a sample line is of the metric `name` (with or without labels). */
function named(line: string, name: string): boolean {
  return line.startsWith(`${name} `) || line.startsWith(`${name}{`);
}

/** Reads the Node memory figures from a Prometheus exposition text. */
export function nodeMemoryMetrics(text: string, prefix = 'fanout_'): NodeMemoryMetrics {
  const spaceSizeBytes: Record<string, number> = {};
  const spaceUsedBytes: Record<string, number> = {};
  let heapUsedBytes: number | undefined;
  let heapTotalBytes: number | undefined;
  let externalBytes: number | undefined;
  const gcSeconds: Record<string, number> = {};
  let samples = 0;
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    samples += 1;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    const space = /space="([a-z_]+)"/.exec(line)?.[1];
    const gcKind = /kind="([a-z]+)"/.exec(line)?.[1];
    if (line.startsWith(`${prefix}nodejs_gc_duration_seconds_sum{`) && gcKind !== undefined) {
      gcSeconds[gcKind] = value;
      continue;
    }
    if (line.startsWith(`${prefix}nodejs_heap_space_size_total_bytes{`) && space !== undefined) {
      spaceSizeBytes[space] = value;
    } else if (
      line.startsWith(`${prefix}nodejs_heap_space_size_used_bytes{`) &&
      space !== undefined
    ) {
      spaceUsedBytes[space] = value;
    } else if (named(line, `${prefix}nodejs_heap_size_used_bytes`)) {
      heapUsedBytes = value;
    } else if (named(line, `${prefix}nodejs_heap_size_total_bytes`)) {
      heapTotalBytes = value;
    } else if (named(line, `${prefix}nodejs_external_memory_bytes`)) {
      externalBytes = value;
    }
  }
  return {
    ...(heapUsedBytes === undefined ? {} : { heapUsedBytes }),
    ...(heapTotalBytes === undefined ? {} : { heapTotalBytes }),
    ...(externalBytes === undefined ? {} : { externalBytes }),
    spaceSizeBytes,
    spaceUsedBytes,
    gcSeconds,
    exposition: { bytes: Buffer.byteLength(text), samples },
  };
}
