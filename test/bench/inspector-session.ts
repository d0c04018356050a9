/**
 * A client of Node's inspector (the Chrome DevTools protocol) for a process
 * the benchmark started with `--inspect=127.0.0.1:<port>`: commands and their
 * results, and events by name. Lets the benchmark collect garbage, read heap
 * figures and take heap snapshots of an edge without the edge exposing
 * anything for it. Loopback only; bench-only code.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';

interface Reply {
  readonly id?: number;
  readonly method?: string;
  readonly params?: unknown;
  readonly result?: unknown;
  readonly error?: { readonly code: number; readonly message: string };
}

export class InspectorSession {
  readonly #socket: WebSocket;
  readonly #pending = new Map<
    number,
    { resolve: (result: unknown) => void; reject: (error: Error) => void }
  >();
  readonly #listeners = new Map<string, Set<(params: unknown) => void>>();
  #nextId = 1;

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.on('message', (data: Buffer) => {
      const reply = JSON.parse(data.toString('utf8')) as Reply;
      if (reply.id !== undefined) {
        const pending = this.#pending.get(reply.id);
        this.#pending.delete(reply.id);
        if (reply.error !== undefined) {
          pending?.reject(new Error(`inspector: ${reply.error.message} (${reply.error.code})`));
        } else {
          pending?.resolve(reply.result);
        }
      } else if (reply.method !== undefined) {
        for (const listener of this.#listeners.get(reply.method) ?? []) listener(reply.params);
      }
    });
    socket.on('close', () => {
      for (const pending of this.#pending.values()) pending.reject(new Error('inspector closed'));
      this.#pending.clear();
    });
  }

  /**
   * Attaches to the inspector listening on `port` (its first target), trying
   * for up to `timeoutMs` while the process starts.
   */
  static async attach(port: number, timeoutMs = 10_000): Promise<InspectorSession> {
    const until = performance.now() + timeoutMs;
    for (;;) {
      try {
        const response = await fetch(`http://127.0.0.1:${port}/json/list`);
        const targets = (await response.json()) as { webSocketDebuggerUrl?: string }[];
        const url = targets[0]?.webSocketDebuggerUrl;
        if (url === undefined) throw new Error(`no inspector target on port ${port}`);
        const socket = new WebSocket(url, { maxPayload: 0 });
        await new Promise<void>((resolve, reject) => {
          socket.once('open', resolve);
          socket.once('error', reject);
        });
        return new InspectorSession(socket);
      } catch (error) {
        if (performance.now() > until) throw error;
        await sleep(100);
      }
    }
  }

  /** Sends a command; resolves with its result. */
  send<T>(method: string, params: Readonly<Record<string, unknown>> = {}): Promise<T> {
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, {
        resolve: (result) => {
          resolve(result as T);
        },
        reject,
      });
      this.#socket.send(JSON.stringify({ id, method, params }));
    });
  }

  /** Calls `listener` with the parameters of every `method` event until the returned function is called. */
  on(method: string, listener: (params: unknown) => void): () => void {
    const set = this.#listeners.get(method) ?? new Set();
    set.add(listener);
    this.#listeners.set(method, set);
    return () => {
      set.delete(listener);
    };
  }

  /** The value of a JavaScript expression evaluated in the process (JSON-serialisable). */
  async evaluate<T>(expression: string): Promise<T> {
    const reply = await this.send<{
      result: { value?: unknown };
      exceptionDetails?: { text: string };
    }>('Runtime.evaluate', { expression, returnByValue: true });
    if (reply.exceptionDetails !== undefined) {
      throw new Error(`inspector: ${expression} threw: ${reply.exceptionDetails.text}`);
    }
    return reply.result.value as T;
  }

  close(): void {
    this.#socket.close();
  }
}
