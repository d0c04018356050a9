/**
 * A benchmark process of the runner's (the steady scenarios' producer and
 * client processes): forked with an IPC channel, it answers requests one
 * message each, the answer repeating the request's id. An answer of type
 * `failed` rejects its request, and every request still waiting when the
 * process exits fails.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';

/** Node options from an environment variable (space-separated), e.g. `--cpu-prof`. */
export function nodeArgsFrom(variable: string): string[] {
  return (process.env[variable] ?? '').split(/\s+/).filter((arg) => arg !== '');
}

interface Waiter<Answer> {
  resolve(answer: Answer): void;
  reject(error: Error): void;
}

export class ForkedProcess<
  Request extends object,
  Answer extends { readonly type: string; readonly error?: string },
> {
  readonly child: ChildProcess;
  readonly exited: Promise<unknown>;
  #nextId = 0;
  readonly #waiting = new Map<number, Waiter<Answer>>();

  /** `name` says which process failed; `serialization: 'advanced'` carries typed arrays. */
  constructor(
    script: string,
    options: {
      readonly name: string;
      readonly execArgv: readonly string[];
      readonly serialization?: 'json' | 'advanced';
    },
  ) {
    this.child = fork(script, [], {
      execArgv: [...options.execArgv],
      serialization: options.serialization ?? 'json',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.exited = once(this.child, 'exit');
    this.child.on('message', (message: Answer & { readonly id: number }) => {
      const waiter = this.#waiting.get(message.id);
      this.#waiting.delete(message.id);
      waiter?.resolve(message);
    });
    void this.exited.then(() => {
      for (const waiter of this.#waiting.values()) {
        waiter.reject(new Error(`${options.name} exited`));
      }
      this.#waiting.clear();
    });
  }

  /** Sends `request`; its answer, or the failure it answered. */
  async ask(request: Request): Promise<Answer> {
    const id = ++this.#nextId;
    const answer = new Promise<Answer>((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
    });
    this.child.send({ ...request, id });
    const answered = await answer;
    if (answered.type === 'failed') throw new Error(answered.error);
    return answered;
  }

  /**
   * Asks it to close (`closing`, whose failure is ignored), ends the IPC
   * channel and waits for the exit (a CPU profile, if any, is written then);
   * killed after 10 s.
   */
  async stop(closing: Request): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    await this.ask(closing).catch(() => undefined);
    if (this.child.connected) this.child.disconnect();
    const force = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(force);
  }
}
