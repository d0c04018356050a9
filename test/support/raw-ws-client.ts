/**
 * A minimal WebSocket client for benchmarks: one TCP socket, the RFC 6455
 * handshake, masked text frames out, and incoming frames counted by their
 * headers without decoding them (so one process can follow ten thousand
 * connections at a million frames a second). A sampling connection hands
 * each frame's payload to a callback. `events` counts the events of batch
 * frames (`fanout.json.v2`, `fanout.proto.v2`) one by one, by a scan of
 * their bytes, and every other data frame as one.
 */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

/** `{"batch":` */
const jsonBatchStart = Buffer.from('{"batch":');
/** Every event of the edge's JSON ends with its position. */
const jsonPositionKey = Buffer.from(',"position":"');

/** Events in a data frame: those of a batch frame, else one. */
export function eventsInFrame(payload: Buffer, binary: boolean): number {
  if (binary) {
    // ServerFrame.batch (field 10, length-delimited): count EventBatch.events (field 4).
    if (payload[0] !== 0x52) return 1;
    let at = 1;
    while ((payload[at] ?? 0) & 0x80) at++;
    at++;
    let count = 0;
    while (at < payload.length) {
      at++; // the key of field 4
      let length = 0;
      let shift = 0;
      for (;;) {
        const byte = payload[at++] ?? 0;
        length += (byte & 0x7f) * 2 ** shift;
        shift += 7;
        if ((byte & 0x80) === 0) break;
      }
      at += length;
      count++;
    }
    return count;
  }
  // A frame shorter than the batch start (Centrifugo's `{}` ping) is not a batch;
  // the third byte tells most frames apart (`{"event"…`) without a compare.
  if (
    payload.length < jsonBatchStart.length ||
    payload[2] !== jsonBatchStart[2] ||
    payload.compare(jsonBatchStart, 0, jsonBatchStart.length, 0, jsonBatchStart.length) !== 0
  ) {
    return 1;
  }
  let count = 0;
  for (
    let at = payload.indexOf(jsonPositionKey);
    at >= 0;
    at = payload.indexOf(jsonPositionKey, at + 1)
  ) {
    count++;
  }
  return count;
}

export class RawWsClient {
  frames = 0;
  /** Data frames, the events of batch frames counted one by one. */
  events = 0;
  closed = false;
  /** The status code of the close frame the server sent, once it sent one. */
  closeCode: number | undefined;
  readonly #socket: Socket;
  #buffer: Buffer = Buffer.alloc(0);
  #onPayload: ((payload: Buffer) => void) | undefined;
  readonly ready: Promise<void>;

  /**
   * `localAddress` (127.0.0.x) spreads many connections over more source
   * ports; `host` is the server's address (127.0.0.1 unless given).
   */
  constructor(
    port: number,
    path: string,
    protocol: string,
    localAddress?: string,
    host = '127.0.0.1',
  ) {
    this.#socket = connect({
      host,
      port,
      ...(localAddress === undefined ? {} : { localAddress }),
    });
    this.#socket.setNoDelay(true);
    this.ready = new Promise((resolve, reject) => {
      let head = '';
      const onHandshake = (chunk: Buffer): void => {
        head += chunk.toString('latin1');
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        this.#socket.off('data', onHandshake);
        if (!head.startsWith('HTTP/1.1 101')) {
          reject(new Error(`handshake refused: ${head.slice(0, head.indexOf('\r\n'))}`));
          this.#socket.destroy();
          return;
        }
        this.#socket.on('data', (data: Buffer) => {
          this.#read(data);
        });
        const rest = Buffer.from(head.slice(end + 4), 'latin1');
        if (rest.length > 0) this.#read(rest);
        resolve();
      };
      this.#socket.on('data', onHandshake);
      this.#socket.once('error', reject);
      this.#socket.once('close', () => {
        this.closed = true;
        reject(new Error('closed during the handshake'));
      });
      this.#socket.write(
        `GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
          `Sec-WebSocket-Protocol: ${protocol}\r\n\r\n`,
      );
    });
  }

  /** Every later frame's payload goes to `callback` too (decoding costs; use on a sample). */
  sample(callback: (payload: Buffer) => void): void {
    this.#onPayload = callback;
  }

  sendText(text: string): void {
    const payload = Buffer.from(text, 'utf8');
    const length = payload.length;
    const header =
      length < 126
        ? Buffer.from([0x81, 0x80 | length])
        : length < 65536
          ? Buffer.from([0x81, 0x80 | 126, length >> 8, length & 0xff])
          : (() => {
              const big = Buffer.alloc(10);
              big[0] = 0x81;
              big[1] = 0x80 | 127;
              big.writeBigUInt64BE(BigInt(length), 2);
              return big;
            })();
    const mask = randomBytes(4);
    for (let i = 0; i < length; i++) payload[i] = (payload[i] ?? 0) ^ (mask[i & 3] ?? 0);
    this.#socket.write(Buffer.concat([header, mask, payload]));
  }

  close(): void {
    this.#socket.destroy();
    this.closed = true;
  }

  /** Calls `callback` once the TCP connection has closed, whichever way. */
  onClose(callback: () => void): void {
    if (this.#socket.destroyed) queueMicrotask(callback);
    else this.#socket.once('close', callback);
  }

  /** Stops reading: the edge's writes pile up in the kernel, then in its own buffer. */
  pause(): void {
    this.#socket.pause();
  }

  resume(): void {
    this.#socket.resume();
  }

  #read(data: Buffer): void {
    let buffer = this.#buffer.length === 0 ? data : Buffer.concat([this.#buffer, data]);
    let at = 0;
    for (;;) {
      if (buffer.length - at < 2) break;
      const second = buffer[at + 1] ?? 0;
      let length = second & 0x7f;
      let headerLength = 2;
      if (length === 126) {
        if (buffer.length - at < 4) break;
        length = buffer.readUInt16BE(at + 2);
        headerLength = 4;
      } else if (length === 127) {
        if (buffer.length - at < 10) break;
        length = Number(buffer.readBigUInt64BE(at + 2));
        headerLength = 10;
      }
      if (buffer.length - at < headerLength + length) break;
      const opcode = (buffer[at] ?? 0) & 0x0f;
      if (opcode === 1 || opcode === 2) {
        this.frames++;
        const payload = buffer.subarray(at + headerLength, at + headerLength + length);
        this.events += eventsInFrame(payload, opcode === 2);
        this.#onPayload?.(payload);
      } else if (opcode === 8) {
        this.closeCode = length >= 2 ? buffer.readUInt16BE(at + headerLength) : 1005;
        // Complete the closing handshake as a browser does (RFC 6455 5.5.1): a
        // server that waits for it (Centrifugo) need not time out on each socket.
        this.#control(
          0x88,
          buffer.subarray(at + headerLength, at + headerLength + Math.min(length, 2)),
        );
        this.#socket.end();
      } else if (opcode === 9) {
        // Answer pings so the edge's idle timeout never fires.
        this.#control(0x8a, buffer.subarray(at + headerLength, at + headerLength + length));
      }
      at += headerLength + length;
    }
    buffer = buffer.subarray(at);
    this.#buffer = buffer.length === 0 ? Buffer.alloc(0) : Buffer.from(buffer);
  }

  /** A masked control frame (`first`: FIN + opcode), unless the socket is done writing. */
  #control(first: number, payload: Buffer): void {
    if (!this.#socket.writable) return;
    const mask = randomBytes(4);
    const masked = Buffer.from(payload);
    for (let i = 0; i < masked.length; i++) masked[i] = (masked[i] ?? 0) ^ (mask[i & 3] ?? 0);
    this.#socket.write(Buffer.concat([Buffer.from([first, 0x80 | masked.length]), mask, masked]));
  }
}
