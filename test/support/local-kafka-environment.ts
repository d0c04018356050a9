/**
 * The broker from `deploy/kafka/local-kafka.mjs start`: Apache Kafka from its
 * Maven Central jars on 127.0.0.1, run as a child process. The script stays a
 * plain .mjs outside the TypeScript projects; this class only reads its one
 * JSON "ready" line.
 *
 * Its standard input is a pipe from this process: if this process dies, the
 * pipe closes and the script stops the broker. So the child does not keep
 * this process alive on its own; `stop()` waits for it.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import type { KafkaEnvironment } from './kafka-environment.js';
import { localKafkaScript } from './repo-paths.js';

export interface LocalKafkaOptions {
  /** Client port (default: a free one, or the one a reused data directory had). */
  readonly port?: number;
  readonly controllerPort?: number;
  /**
   * Data directory. One that holds a formatted log is reused, with its
   * ports, so a restart keeps the data; it is never removed.
   * Default: a new temporary directory, removed on stop.
   */
  readonly dataDir?: string;
  /** Keep the temporary data directory when stopping. */
  readonly keepData?: boolean;
  /**
   * Also a SASL_PLAINTEXT listener (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)
   * with this one user; its address is `saslBrokers`. User name and password
   * are 1-64 characters of `A-Za-z0-9._-`.
   */
  readonly sasl?: { readonly username: string; readonly password: string; readonly port?: number };
  /** How long to wait for the ready line, including a first jar fetch (default 180 s). */
  readonly timeoutMs?: number;
}

interface ReadyLine {
  readonly event: 'ready';
  readonly bootstrap: string;
  readonly saslBootstrap: string | undefined;
  readonly port: number;
  readonly dataDir: string;
  readonly pid: number;
  readonly startMs: number;
}

function parseReadyLine(line: string): ReadyLine | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const record = value as Record<string, unknown>;
  if (record['event'] !== 'ready' || typeof record['bootstrap'] !== 'string') return undefined;
  const number = (key: string): number => {
    const n = record[key];
    return typeof n === 'number' ? n : -1;
  };
  return {
    event: 'ready',
    bootstrap: record['bootstrap'],
    saslBootstrap:
      typeof record['saslBootstrap'] === 'string' ? record['saslBootstrap'] : undefined,
    port: number('port'),
    pid: number('pid'),
    startMs: number('startMs'),
    dataDir: typeof record['dataDir'] === 'string' ? record['dataDir'] : '',
  };
}

type BrokerProcess = ChildProcessByStdio<Writable, Readable, Readable>;

/** Lets this process exit while the child runs (the closing stdin pipe then stops it). */
function detachFromEventLoop(child: BrokerProcess, attach: boolean): void {
  for (const stream of [child.stdin, child.stdout, child.stderr]) {
    const handle = stream as unknown as { ref?: () => void; unref?: () => void };
    if (attach) handle.ref?.();
    else handle.unref?.();
  }
  if (attach) child.ref();
  else child.unref();
}

export class LocalKafkaEnvironment implements KafkaEnvironment {
  readonly kind = 'local' as const;
  private stopping: Promise<void> | undefined;

  private constructor(
    readonly brokers: string[],
    /** The client port. */
    readonly port: number,
    /** The broker JVM's process id (for fault injection: SIGKILL it, then `stop()`). */
    readonly pid: number,
    /** The broker's data directory (its log is `broker.log` there). */
    readonly dataDir: string,
    /** Milliseconds from the start command to ready, as the script measured them. */
    readonly startMs: number,
    /** Bootstrap servers of the SASL listener (empty without `sasl`). */
    readonly saslBrokers: string[],
    private readonly child: BrokerProcess,
    private readonly exited: Promise<void>,
    private readonly output: () => string,
  ) {}

  static async start(options: LocalKafkaOptions = {}): Promise<LocalKafkaEnvironment> {
    const timeoutMs = options.timeoutMs ?? 180_000;
    const args = [localKafkaScript, 'start'];
    if (options.port !== undefined) args.push('--port', String(options.port));
    if (options.controllerPort !== undefined) {
      args.push('--controller-port', String(options.controllerPort));
    }
    if (options.dataDir !== undefined) args.push('--data-dir', options.dataDir);
    if (options.keepData === true) args.push('--keep-data');
    if (options.sasl !== undefined) {
      args.push('--sasl-user', `${options.sasl.username}:${options.sasl.password}`);
      if (options.sasl.port !== undefined) args.push('--sasl-port', String(options.sasl.port));
    }
    const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-16_000);
    });
    let exitStatus: string | undefined;
    const exited = new Promise<void>((resolve) => {
      child.once('error', (error) => {
        exitStatus ??= `could not be started: ${error.message}`;
        resolve();
      });
      child.once('exit', (code, signal) => {
        exitStatus ??= `exited (${signal ?? `exit code ${code}`})`;
        resolve();
      });
    });

    child.stdout.setEncoding('utf8');
    const ready = await new Promise<ReadyLine>((resolve, reject) => {
      let buffered = '';
      const timer = setTimeout(() => {
        child.kill('SIGTERM');
        reject(new Error(`local Kafka was not ready within ${timeoutMs} ms:\n${stderr}`));
      }, timeoutMs);
      const onData = (chunk: string): void => {
        buffered += chunk;
        let newline: number;
        while ((newline = buffered.indexOf('\n')) >= 0) {
          const line = parseReadyLine(buffered.slice(0, newline));
          buffered = buffered.slice(newline + 1);
          if (line !== undefined) {
            clearTimeout(timer);
            resolve(line);
          }
        }
      };
      child.stdout.on('data', onData);
      void exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`local Kafka ${exitStatus ?? 'exited'} before it was ready:\n${stderr}`));
      });
    });
    // Keep draining stdout; nothing more is expected there.
    child.stdout.removeAllListeners('data');
    child.stdout.resume();
    detachFromEventLoop(child, false);
    return new LocalKafkaEnvironment(
      [ready.bootstrap],
      ready.port,
      ready.pid,
      ready.dataDir,
      ready.startMs,
      ready.saslBootstrap === undefined ? [] : [ready.saslBootstrap],
      child,
      exited,
      () => stderr,
    );
  }

  /** The script's own messages (stderr), for diagnostics. */
  log(): string {
    return this.output();
  }

  stop(): Promise<void> {
    this.stopping ??= this.stopChild();
    return this.stopping;
  }

  private async stopChild(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    detachFromEventLoop(this.child, true);
    // The script stops the JVM (SIGTERM, SIGKILL after 30 s) and removes the data.
    const force = setTimeout(() => this.child.kill('SIGKILL'), 60_000);
    this.child.kill('SIGTERM');
    await this.exited;
    clearTimeout(force);
  }
}
