/**
 * The process metrics every service exports: prom-client's defaults
 * (`fanout_process_*`, `fanout_nodejs_*`: CPU, memory, handles, garbage
 * collection, event-loop delay) and the time the event loop waited for a
 * CPU, which none of them shows. A loop that is ready to run but finds no
 * free core — a container's CPU limit throttling it, or busy neighbours on
 * the node — delays every socket write and every Kafka fetch behind it,
 * while the process's own CPU use looks moderate. Linux counts that wait
 * per thread in `/proc/<pid>/schedstat` (its second field, nanoseconds on
 * a run queue); the event loop is the main thread, whose figures
 * `/proc/self/schedstat` gives.
 */
import { readFileSync } from 'node:fs';
import { collectDefaultMetrics, Counter, type Registry } from 'prom-client';

/** Where the main thread's scheduler statistics are (Linux). */
const schedstatPath = '/proc/self/schedstat';

/**
 * Seconds on a run queue from the text of a `schedstat` file
 * (`<ns on a CPU> <ns waiting on a run queue> <time slices>`); undefined
 * when the text is not that.
 */
export function runQueueWaitFrom(schedstat: string): number | undefined {
  const fields = schedstat.trim().split(/\s+/);
  if (fields.length < 3) return undefined;
  const waiting = Number(fields[1]);
  return Number.isFinite(waiting) && waiting >= 0 ? waiting / 1e9 : undefined;
}

/**
 * Seconds on a run queue of the thread whose `schedstat` file is `path`
 * (`/proc/self/schedstat`, `/proc/<pid>/schedstat`), or undefined where the
 * kernel does not say.
 */
export function runQueueWaitAt(path: string): number | undefined {
  try {
    return runQueueWaitFrom(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * Registers the process metrics on `registry`, every name prefixed with
 * `prefix`. The wait counter is left out where the kernel keeps no
 * scheduler statistics (not Linux, or `CONFIG_SCHEDSTATS` off).
 */
export function registerProcessMetrics(
  registry: Registry,
  prefix: string,
  path: string = schedstatPath,
): void {
  collectDefaultMetrics({ register: registry, prefix });
  if (runQueueWaitAt(path) === undefined) return;
  new Counter({
    name: `${prefix}eventloop_cpu_wait_seconds_total`,
    help: 'Seconds the event loop was ready to run but waited for a CPU (Linux schedstat of the main thread): a CPU limit throttling it or neighbours holding the cores. Its rate is the share of time the loop waited.',
    registers: [registry],
    collect() {
      const seconds = runQueueWaitAt(path);
      if (seconds === undefined) return;
      this.reset();
      this.inc(seconds);
    },
  });
}
