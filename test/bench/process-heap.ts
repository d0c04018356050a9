/**
 * The memory a Node process holds in JavaScript, read through its inspector
 * (`inspector-session.ts`) after full garbage collections: the used V8 heap,
 * and the memory outside it that JavaScript objects own (external, of which
 * ArrayBuffers). A heap snapshot of the same process gives what that heap
 * consists of (`heap-snapshot-summary.ts`). Bench-only code.
 */
import { createWriteStream } from 'node:fs';
import type { InspectorSession } from './inspector-session.js';
import {
  summarizeHeapSnapshot,
  type HeapSnapshotJson,
  type HeapSummary,
} from './heap-snapshot-summary.js';

export interface HeapFigures {
  /** Used V8 heap after full garbage collections. */
  readonly heapBytes: number;
  /** Memory of C++ objects bound to JavaScript objects (`process.memoryUsage().external`), ArrayBuffers included. */
  readonly externalBytes: number;
  /** Of `externalBytes`: ArrayBuffers and Buffers. */
  readonly arrayBufferBytes: number;
  /** Resident set size then, for comparison with the RSS-based figures. */
  readonly rssBytes: number;
}

/**
 * Collects garbage (twice: what finalizers of the first pass freed goes in the
 * second) and reads the heap figures.
 */
export async function heapAfterGc(inspector: InspectorSession): Promise<HeapFigures> {
  await inspector.send('HeapProfiler.collectGarbage');
  await inspector.send('HeapProfiler.collectGarbage');
  const usage = await inspector.send<{ usedSize: number; totalSize: number }>(
    'Runtime.getHeapUsage',
  );
  const memory = await inspector.evaluate<{ external: number; arrayBuffers: number; rss: number }>(
    '(() => { const m = process.memoryUsage(); return { external: m.external, arrayBuffers: m.arrayBuffers, rss: m.rss }; })()',
  );
  return {
    heapBytes: usage.usedSize,
    externalBytes: memory.external,
    arrayBufferBytes: memory.arrayBuffers,
    rssBytes: memory.rss,
  };
}

/**
 * Takes a heap snapshot (V8 collects garbage first) and summarises it; with
 * `file`, the snapshot is written there too, for a closer look in DevTools.
 */
export async function heapSnapshot(
  inspector: InspectorSession,
  file?: string,
): Promise<HeapSummary> {
  const chunks: string[] = [];
  const out = file === undefined ? undefined : createWriteStream(file);
  const stop = inspector.on('HeapProfiler.addHeapSnapshotChunk', (params) => {
    const chunk = (params as { chunk: string }).chunk;
    chunks.push(chunk);
    out?.write(chunk);
  });
  try {
    await inspector.send('HeapProfiler.enable');
    await inspector.send('HeapProfiler.takeHeapSnapshot', { reportProgress: false });
  } finally {
    stop();
    if (out !== undefined) await new Promise<void>((resolve) => out.end(resolve));
  }
  return summarizeHeapSnapshot(JSON.parse(chunks.join('')) as HeapSnapshotJson);
}
