/**
 * Waits for a service process started by a test to log its ready line, and
 * keeps reading its output so a full pipe never blocks it. Used by the
 * ingest and edge starters (`ingest-process.ts`, `edge-process.ts`).
 */
import type { ChildProcess } from 'node:child_process';

export interface ServiceReadyOptions<T> {
  /** The service's name in error messages. */
  readonly service: string;
  readonly timeoutMs: number;
  /** Resolves when the process exits. */
  readonly exited: Promise<number | null>;
  /** What the ready line says, or undefined for any other line. */
  readonly parse: (line: string) => T | undefined;
}

/**
 * Resolves with what `parse` read from the first ready line; rejects (with
 * the end of the output) when the process exits first or the time is up,
 * killing it then.
 */
export async function serviceReady<T>(
  child: ChildProcess,
  options: ServiceReadyOptions<T>,
): Promise<T> {
  let output = '';
  try {
    return await new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(
          new Error(`${options.service} was not ready within ${options.timeoutMs} ms:\n${output}`),
        );
      }, options.timeoutMs);
      let buffered = '';
      const onData = (chunk: Buffer): void => {
        const text = chunk.toString('utf8');
        output = (output + text).slice(-20_000);
        buffered += text;
        let newline: number;
        while ((newline = buffered.indexOf('\n')) >= 0) {
          const ready = options.parse(buffered.slice(0, newline));
          buffered = buffered.slice(newline + 1);
          if (ready === undefined) continue;
          clearTimeout(timer);
          child.stdout?.off('data', onData);
          resolve(ready);
          return;
        }
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', (chunk: Buffer) => {
        output = (output + chunk.toString('utf8')).slice(-20_000);
      });
      void options.exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`${options.service} exited with ${code} before it was ready:\n${output}`));
      });
    });
  } finally {
    child.stdout?.resume();
    child.stderr?.resume();
  }
}
