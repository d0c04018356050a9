/**
 * An HTTP/1.1 request written byte for byte over a plain TCP socket, with
 * header lines exactly as given (a header repeated on several lines, as a
 * client behind a proxy may send it), answered with its status line. The
 * socket stays open after the response head, so a WebSocket upgrade (101)
 * or an SSE stream (200) keeps holding its place until `close()`.
 */
import { connect, type Socket } from 'node:net';

export type HeaderLine = readonly [name: string, value: string];

export class RawHttpRequest {
  readonly #socket: Socket;
  /** The status code of the response, once its head arrived. */
  readonly status: Promise<number>;
  /** Resolves when the socket closed, whichever side closed it. */
  readonly closed: Promise<void>;

  constructor(port: number, path: string, headers: readonly HeaderLine[]) {
    this.#socket = connect({ host: '127.0.0.1', port });
    const lines = headers.map(([name, value]) => `${name}: ${value}\r\n`).join('');
    this.#socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${lines}\r\n`);
    this.closed = new Promise((resolve) => {
      this.#socket.once('close', () => {
        resolve();
      });
    });
    this.status = new Promise((resolve, reject) => {
      let head = '';
      const onData = (data: Buffer): void => {
        head += data.toString('latin1');
        const end = head.indexOf('\r\n');
        if (end < 0) return;
        this.#socket.off('data', onData);
        // Later bytes (frames, events) are read and dropped.
        this.#socket.resume();
        const status = /^HTTP\/1\.1 (\d{3})/.exec(head.slice(0, end))?.[1];
        if (status === undefined) reject(new Error(`not an HTTP response: ${head.slice(0, end)}`));
        else resolve(Number(status));
      };
      this.#socket.on('data', onData);
      this.#socket.once('error', reject);
      this.#socket.once('close', () => {
        reject(new Error('closed before the response'));
      });
    });
    // Errors after the status are of no interest; an unhandled one would end the test process.
    this.#socket.on('error', () => undefined);
  }

  /** Closes the socket and waits until it is closed. */
  async close(): Promise<void> {
    this.#socket.destroy();
    await this.closed;
  }
}

/** The header lines of a WebSocket upgrade to the JSON subprotocol (a fixed key is fine here). */
export const wsUpgradeLines: readonly HeaderLine[] = [
  ['upgrade', 'websocket'],
  ['connection', 'Upgrade'],
  ['sec-websocket-key', 'dGhlIHNhbXBsZSBub25jZQ=='],
  ['sec-websocket-version', '13'],
  ['sec-websocket-protocol', 'fanout.json.v1'],
];
