/**
 * The runner's side of the steady scenarios' producer process
 * (`bench-producer-process.ts`): forks it, connects it to the broker, and
 * has it publish at a rate; the append times it answers go to the runner's
 * `AppendTimes` (the split at the broker's append). FANOUT_BENCH_PRODUCER_NODE_ARGS
 * adds Node options to it (`--cpu-prof --cpu-prof-dir=…`).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { AppendNote, RecordFormat } from './bench-records.js';

export type ProducerRequestMessage = { readonly id: number } & (
  | {
      readonly type: 'connect';
      readonly brokers: readonly string[];
      readonly partitions: number;
      readonly dataBytes: number;
    }
  | {
      readonly type: 'publish';
      readonly topic: string;
      readonly format: RecordFormat;
      readonly channels: readonly string[];
      readonly rate: number;
      readonly seconds: number;
    }
  | { readonly type: 'close' }
);

export type ProducerAnswerMessage = { readonly id: number } & (
  | { readonly type: 'done' }
  | { readonly type: 'published'; readonly sent: number; readonly notes: readonly AppendNote[] }
  | { readonly type: 'failed'; readonly error: string }
);

type ProducerRequest = ProducerRequestMessage extends infer M
  ? M extends ProducerRequestMessage
    ? Omit<M, 'id'>
    : never
  : never;

const producerScript = fileURLToPath(new URL('./bench-producer-process.js', import.meta.url));
const producerNodeArgs = (process.env['FANOUT_BENCH_PRODUCER_NODE_ARGS'] ?? '')
  .split(/\s+/)
  .filter((arg) => arg !== '');

export class ProducerProcess {
  readonly #child: ChildProcess;
  readonly #exited: Promise<unknown>;
  #nextId = 0;
  readonly #waiting = new Map<number, (answer: ProducerAnswerMessage) => void>();

  private constructor() {
    this.#child = fork(producerScript, [], {
      execArgv: producerNodeArgs,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.#exited = once(this.#child, 'exit');
    this.#child.on('message', (message: ProducerAnswerMessage) => {
      const waiter = this.#waiting.get(message.id);
      this.#waiting.delete(message.id);
      waiter?.(message);
    });
    void this.#exited.then(() => {
      for (const [id, waiter] of this.#waiting) {
        waiter({ type: 'failed', id, error: 'the producer process exited' });
      }
      this.#waiting.clear();
    });
  }

  static async start(options: {
    readonly brokers: readonly string[];
    readonly partitions: number;
    readonly dataBytes: number;
  }): Promise<ProducerProcess> {
    const producer = new ProducerProcess();
    try {
      await producer.#ask({ type: 'connect', ...options });
    } catch (error) {
      await producer.stop();
      throw error;
    }
    return producer;
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  async #ask(request: ProducerRequest): Promise<ProducerAnswerMessage> {
    const id = ++this.#nextId;
    const answer = new Promise<ProducerAnswerMessage>((resolve) => this.#waiting.set(id, resolve));
    this.#child.send({ ...request, id });
    const answered = await answer;
    if (answered.type === 'failed') throw new Error(answered.error);
    return answered;
  }

  /** Publishes `rate` events/s over `channels` for `seconds`; the events sent and their append times. */
  async publish(options: {
    readonly topic: string;
    readonly format: RecordFormat;
    readonly channels: readonly string[];
    readonly rate: number;
    readonly seconds: number;
  }): Promise<{ sent: number; notes: readonly AppendNote[] }> {
    const answer = await this.#ask({ type: 'publish', ...options });
    if (answer.type !== 'published') throw new Error(`expected published, got ${answer.type}`);
    return { sent: answer.sent, notes: answer.notes };
  }

  /** Disconnects the producer and ends the process (its CPU profile, if any, is written then). */
  async stop(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    await this.#ask({ type: 'close' }).catch(() => undefined);
    if (this.#child.connected) this.#child.disconnect();
    const force = setTimeout(() => this.#child.kill('SIGKILL'), 10_000);
    await this.#exited;
    clearTimeout(force);
  }
}
