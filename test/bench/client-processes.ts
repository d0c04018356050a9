/**
 * The runner's side of the steady scenarios' client processes
 * (`bench-client-process.ts`): N forked processes, subscriber `i` in process
 * `i % N` (`client-shares.ts`), driven over IPC; counts and timed events
 * added up over all of them. FANOUT_BENCH_CLIENT_NODE_ARGS adds Node
 * options to every client process (`--cpu-prof --cpu-prof-dir=…` profiles
 * them: each writes its profile when it ends).
 */
import { fileURLToPath } from 'node:url';
import type { ProtocolName } from './bench-client.js';
import type { ClientAnswer, ClientRequest } from './client-process-messages.js';
import { mergeTimed, shareOf, splitByProcess } from './client-shares.js';
import { ForkedProcess, nodeArgsFrom } from './forked-process.js';

const clientScript = fileURLToPath(new URL('./bench-client-process.js', import.meta.url));
const clientNodeArgs = nodeArgsFrom('FANOUT_BENCH_CLIENT_NODE_ARGS');

type ClientProcess = ForkedProcess<ClientRequest, ClientAnswer>;

function forkClientProcess(): ClientProcess {
  return new ForkedProcess(clientScript, {
    name: 'the client process',
    execArgv: clientNodeArgs,
    serialization: 'advanced',
  });
}

/** N client processes holding the subscribers of one server. */
export class ClientProcesses {
  readonly #processes: ClientProcess[];
  #population = 0;

  private constructor(count: number) {
    this.#processes = Array.from({ length: count }, forkClientProcess);
  }

  /** Forks `count` processes and opens `population` connections to `port` over them. */
  static async open(options: {
    readonly count: number;
    readonly port: number;
    readonly protocol: ProtocolName;
    readonly population: number;
    readonly sourceAddresses: readonly string[];
  }): Promise<ClientProcesses> {
    const processes = new ClientProcesses(options.count);
    processes.#population = options.population;
    try {
      await processes.#all((p, n) =>
        p.ask({
          type: 'open',
          port: options.port,
          protocol: options.protocol,
          indices: shareOf(n, options.population, options.count),
          sourceAddresses: options.sourceAddresses,
        }),
      );
    } catch (error) {
      await processes.close();
      throw error;
    }
    return processes;
  }

  get population(): number {
    return this.#population;
  }

  /** Process ids, process 1 first. */
  get pids(): (number | undefined)[] {
    return this.#processes.map((p) => p.child.pid);
  }

  async #all<T>(run: (process: ClientProcess, n: number) => Promise<T>): Promise<T[]> {
    return Promise.all(this.#processes.map(run));
  }

  /** Subscribers `from` ≤ index < `below` to `channels[index % channels.length]`, every one confirmed. */
  async subscribe(from: number, below: number, channels: readonly string[]): Promise<void> {
    await this.#all((p) => p.ask({ type: 'subscribe', from, below, channels }));
  }

  async unsubscribe(from: number, below: number, channels: readonly string[]): Promise<void> {
    await this.#all((p) => p.ask({ type: 'unsubscribe', from, below, channels }));
  }

  /** Times the subscribers at `indices` (global) from now on. */
  async sample(indices: readonly number[]): Promise<void> {
    const split = splitByProcess(indices, this.#processes.length);
    await this.#all((p, n) => p.ask({ type: 'sample', indices: split[n] ?? [] }));
  }

  async resetTimed(): Promise<void> {
    await this.#all((p) => p.ask({ type: 'reset' }));
  }

  /** Stops timing; every process's timed events as one population. */
  async takeTimed(): Promise<{ latencies: number[]; sent: number[] }> {
    const parts = await this.#all(async (p) => {
      const answer = await p.ask({ type: 'take' });
      if (answer.type !== 'timed') throw new Error(`expected timed events, got ${answer.type}`);
      return answer;
    });
    return mergeTimed(
      parts.map((part) => ({ latencies: [...part.latencies], sent: [...part.sent] })),
    );
  }

  /** Messages received so far by the subscribers `from` ≤ index < `below`, of every process. */
  async received(from: number, below: number): Promise<number> {
    const counts = await this.#all(async (p) => {
      const answer = await p.ask({ type: 'count', from, below });
      return answer.type === 'count' ? answer.messages : 0;
    });
    return counts.reduce((sum, count) => sum + count, 0);
  }

  /** Closes every connection and ends the processes (their CPU profiles, if any, are written then). */
  async close(): Promise<void> {
    await Promise.all(this.#processes.map((p) => p.stop({ type: 'close' })));
  }
}
