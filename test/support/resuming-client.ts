/**
 * A WebSocket client (`fanout.json.v1`) that does what a real client must:
 * keeps the position of every channel it follows, and after any close
 * reconnects (to whatever URL `url()` names now) and resumes from those
 * positions. It records every event it received, duplicates included, so
 * a test can compare them with what Kafka acknowledged.
 */
import WebSocket from 'ws';

export interface ReceivedEvent {
  readonly channel: string;
  readonly id: string;
  readonly position: string;
}

export class ResumingClient {
  readonly received: ReceivedEvent[] = [];
  /** Closes seen, with their codes, in order. */
  readonly closes: number[] = [];
  /** Frames a resuming client should never see (reset, error), as text. */
  readonly unexpected: string[] = [];
  readonly #url: () => string;
  readonly #channels: readonly string[];
  readonly #positions = new Map<string, string>();
  #socket: WebSocket | undefined;
  #stopped = false;
  #connects = 0;
  #subscribed: Promise<void> = Promise.resolve();

  constructor(url: () => string, channels: readonly string[]) {
    this.#url = url;
    this.#channels = channels;
  }

  /** Connections made so far (1 + reconnects). */
  get connects(): number {
    return this.#connects;
  }

  position(channel: string): string | undefined {
    return this.#positions.get(channel);
  }

  /** Connects and subscribes; resolves when the edge answered `subscribed`. */
  start(): Promise<void> {
    this.#connect();
    return this.#subscribed;
  }

  /** Resolves once `accept` holds, checking after every event; rejects after `timeoutMs`. */
  async until(accept: () => boolean, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!accept()) {
      if (Date.now() > deadline) throw new Error(`client: condition not met in ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  stop(): void {
    this.#stopped = true;
    this.#socket?.close();
  }

  #connect(): void {
    this.#connects++;
    const socket = new WebSocket(this.#url(), 'fanout.json.v1');
    this.#socket = socket;
    let resolveSubscribed: () => void = () => undefined;
    this.#subscribed = new Promise((resolve) => {
      resolveSubscribed = resolve;
    });
    socket.on('open', () => {
      socket.send(
        JSON.stringify({
          subscribe: {
            requestId: this.#connects,
            subscriptions: this.#channels.map((channel) => {
              const since = this.#positions.get(channel);
              return since === undefined ? { channel } : { channel, since };
            }),
          },
        }),
      );
    });
    socket.on('message', (data: Buffer) => {
      const frame = JSON.parse(data.toString('utf8')) as Record<string, Record<string, unknown>>;
      if (frame['event']) {
        const event = frame['event'] as { channel: string; id: string; position: string };
        this.received.push({ channel: event.channel, id: event.id, position: event.position });
        this.#positions.set(event.channel, event.position);
      } else if (frame['subscribed']) {
        const states = frame['subscribed']['subscriptions'] as {
          channel: string;
          position?: string;
        }[];
        for (const state of states) {
          if (state.position !== undefined && !this.#positions.has(state.channel)) {
            this.#positions.set(state.channel, state.position);
          }
        }
        resolveSubscribed();
      } else if (frame['reset'] || frame['error']) {
        this.unexpected.push(JSON.stringify(frame));
      }
    });
    // A refused or failed connection closes too: retry from the close handler.
    socket.on('error', () => undefined);
    socket.on('close', (code) => {
      this.closes.push(code);
      if (this.#stopped) return;
      setTimeout(() => {
        if (!this.#stopped) this.#connect();
      }, 200);
    });
  }
}
