/**
 * Starts a service as its own process for a test and waits for it to log its
 * ready line, reading its output all along so a full pipe never blocks it.
 * Used by the ingest and edge starters (`ingest-process.ts`, `edge-process.ts`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './repo-paths.js';

interface ServiceReadyOptions<T> {
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
async function serviceReady<T>(child: ChildProcess, options: ServiceReadyOptions<T>): Promise<T> {
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

export interface ServiceProcessOptions<T> {
  /** The service's name in error messages. */
  readonly service: string;
  /** The script, relative to the repository (`services/edge/dist/main.js`). */
  readonly script: string;
  /** The checkout the script and working directory are in (default: this repository). */
  readonly root?: string | undefined;
  /** The whole environment of the process. */
  readonly env: NodeJS.ProcessEnv;
  /** Node options before the script (`--cpu-prof`, ...). */
  readonly nodeArgs?: readonly string[] | undefined;
  readonly timeoutMs: number;
  /** What the ready line says, or undefined for any other line. */
  readonly parse: (line: string) => T | undefined;
}

export interface ServiceProcess<T> {
  readonly child: ChildProcess;
  /** What the ready line said. */
  readonly ready: T;
  /** Resolves when the process has exited, whichever way. */
  readonly exited: Promise<number | null>;
  /** True until the process exits. */
  running(): boolean;
  /** Sends `signal` unless the process has exited; resolves once it has. */
  kill(signal: NodeJS.Signals): Promise<void>;
}

/** Spawns `node <script>` from the repository root and waits for its ready line. */
export async function startServiceProcess<T>(
  options: ServiceProcessOptions<T>,
): Promise<ServiceProcess<T>> {
  const child = spawn(
    process.execPath,
    [...(options.nodeArgs ?? []), join(options.root ?? repoRoot, options.script)],
    {
      cwd: options.root ?? repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: options.env,
    },
  );
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      resolve(code);
    });
  });
  keepOutput(child, options.service);
  const ready = await serviceReady(child, {
    service: options.service,
    timeoutMs: options.timeoutMs,
    exited,
    parse: options.parse,
  });
  const running = (): boolean => child.exitCode === null && child.signalCode === null;
  return {
    child,
    ready,
    exited,
    running,
    async kill(signal) {
      if (running()) child.kill(signal);
      await exited;
    },
  };
}

/**
 * With FANOUT_TEST_LOG_DIR set, a copy of the process's whole output goes to
 * `<dir>/<service>-<pid>.log` (the ready check reads only its start).
 */
function keepOutput(child: ChildProcess, service: string): void {
  const dir = process.env['FANOUT_TEST_LOG_DIR'];
  if (dir === undefined || dir === '') return;
  const file = createWriteStream(join(dir, `${service}-${child.pid ?? 'unknown'}.log`));
  child.stdout?.on('data', (chunk: Buffer) => file.write(chunk));
  child.stderr?.on('data', (chunk: Buffer) => file.write(chunk));
  child.once('exit', () => {
    file.end();
  });
}
