/**
 * The runner's side of the steady scenarios' producer process
 * (`bench-producer-process.ts`): forks it, connects it to the broker, and
 * has it publish at a rate; the append times it answers go to the runner's
 * `AppendTimes` (the split at the broker's append). FANOUT_BENCH_PRODUCER_NODE_ARGS
 * adds Node options to it (`--cpu-prof --cpu-prof-dir=…`).
 */
import { fileURLToPath } from 'node:url';
import type { AppendNote, RecordFormat } from './bench-records.js';
import { ForkedProcess, nodeArgsFrom } from './forked-process.js';

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

type ProducerAnswer = ProducerAnswerMessage extends infer M
  ? M extends ProducerAnswerMessage
    ? Omit<M, 'id'>
    : never
  : never;

export class ProducerProcess {
  readonly #process = new ForkedProcess<ProducerRequest, ProducerAnswer>(producerScript, {
    name: 'the producer process',
    execArgv: nodeArgsFrom('FANOUT_BENCH_PRODUCER_NODE_ARGS'),
  });

  private constructor() {
    // Made by `start`, connected.
  }

  static async start(options: {
    readonly brokers: readonly string[];
    readonly partitions: number;
    readonly dataBytes: number;
  }): Promise<ProducerProcess> {
    const producer = new ProducerProcess();
    try {
      await producer.#process.ask({ type: 'connect', ...options });
    } catch (error) {
      await producer.stop();
      throw error;
    }
    return producer;
  }

  get pid(): number | undefined {
    return this.#process.child.pid;
  }

  /** Publishes `rate` events/s over `channels` for `seconds`; the events sent and their append times. */
  async publish(options: {
    readonly topic: string;
    readonly format: RecordFormat;
    readonly channels: readonly string[];
    readonly rate: number;
    readonly seconds: number;
  }): Promise<{ sent: number; notes: readonly AppendNote[] }> {
    const answer = await this.#process.ask({ type: 'publish', ...options });
    if (answer.type !== 'published') throw new Error(`expected published, got ${answer.type}`);
    return { sent: answer.sent, notes: answer.notes };
  }

  /** Disconnects the producer and ends the process (its CPU profile, if any, is written then). */
  async stop(): Promise<void> {
    await this.#process.stop({ type: 'close' });
  }
}
