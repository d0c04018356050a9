/**
 * A stand-in for the uWS socket of a `WsConnection` in unit tests: it keeps
 * every frame the connection sent and the close code it ended with, and
 * answers each send with the status a test sets (uWS's SendStatus: 0 the
 * frame was buffered, 1 sent, 2 dropped at its hard limit).
 */
import type { WebSocket } from 'uWebSockets.js';
import type { UserData, WsConnection } from '../ws-connection.js';

export class StandInSocket {
  readonly sent: (string | Uint8Array)[] = [];
  /** What the next sends answer: 0 buffered, 1 sent, 2 dropped. */
  status = 1;
  ended: number | undefined;

  /** Makes this the socket of `connection`. */
  attachTo(connection: WsConnection): this {
    connection.ws = this as unknown as WebSocket<UserData>;
    return this;
  }

  send(frame: string | Uint8Array): number {
    this.sent.push(frame);
    return this.status;
  }
  cork(callback: () => void): void {
    callback();
  }
  getBufferedAmount(): number {
    return 0;
  }
  end(code: number): void {
    this.ended = code;
  }
  subscribe(): boolean {
    return true;
  }
  unsubscribe(): boolean {
    return true;
  }
  ping(): number {
    return 0;
  }
}
