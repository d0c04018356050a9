/**
 * The benchmarks' side of latency sampling: a worker thread
 * (`latency-sampler.ts`) with a few connections of its own, and the
 * percentile the benchmarks report. Used by the edge benchmark and the
 * side-by-side suite.
 */
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import type { ProtocolName } from './bench-client.js';

/** Percentile `p` (0–100) of already sorted values; NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/** Latency sampling connections to `127.0.0.1:port` in a worker thread. */
export class LatencySampler {
  readonly #worker: Worker;

  constructor(port: number, protocol: ProtocolName = 'fanout') {
    this.#worker = new Worker(new URL('./latency-sampler.js', import.meta.url), {
      workerData: { port, protocol },
    });
  }

  /** Subscribes one sampling connection per channel. */
  async follow(channels: readonly string[]): Promise<void> {
    this.#worker.postMessage({ channels });
    await once(this.#worker, 'message');
  }

  /** Forgets what was sampled so far. */
  reset(): void {
    this.#worker.postMessage('reset');
  }

  /** The latencies (ms) since the last reset or collect. */
  async collect(): Promise<number[]> {
    this.#worker.postMessage('collect');
    const [latencies] = (await once(this.#worker, 'message')) as [number[]];
    return latencies;
  }

  async close(): Promise<void> {
    this.#worker.postMessage('close');
    await once(this.#worker, 'exit');
  }
}
